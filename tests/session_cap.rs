//! The cap on sessions per user (`[sessions] max_per_user`, `on_limit`, issue #11), against
//! gateways on port 0 and, for concurrent logins on two replicas, the real binary on
//! PostgreSQL (needs `SESSIONGATE_TEST_POSTGRES_URL`; skipped without it, failing with
//! `CI=true`).
//!
//! Which session is least recently used is set through the gateway's own SQLite file
//! (`last_used_at` moved forward, which batched activity writes never undo) instead of
//! sleeping between logins.

mod common;

use std::sync::Arc;

use common::*;
use sqlx::Connection;

const PASSWORD: &str = "Pa55w0rd!";

fn capped(max: u32, on_limit: &str) -> Options {
    Options::default().toml(&format!(
        "[sessions]\nmax_per_user = {max}\non_limit = \"{on_limit}\"\n"
    ))
}

fn sid(access_token: &str) -> String {
    jwt_payload(access_token)["sid"]
        .as_str()
        .expect("sid claim")
        .to_owned()
}

async fn proxied_status(gw: &TestGateway, access_token: &str) -> u16 {
    gw.get_upstream("/data", access_token)
        .await
        .status()
        .as_u16()
}

async fn open_db(gw: &TestGateway) -> sqlx::SqliteConnection {
    sqlx::SqliteConnection::connect(&format!("sqlite://{}", gw.db_path().display()))
        .await
        .expect("open the gateway's SQLite file")
}

async fn live_sessions(db: &mut sqlx::SqliteConnection, user_id: &str) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM sessions WHERE user_id = $1 AND revoked_at IS NULL")
        .bind(user_id)
        .fetch_one(db)
        .await
        .expect("count")
}

#[tokio::test]
async fn evict_oldest_revokes_the_least_recently_used_session_only() {
    let gw = TestGateway::start_with(capped(3, "evict_oldest")).await;
    gw.register("cap@example.com", PASSWORD).await;
    let mut logins = Vec::new();
    for _ in 0..3 {
        logins.push(gw.login_userpass("cap@example.com", PASSWORD).await);
    }
    for login in &logins {
        assert_eq!(proxied_status(&gw, &login.access_token).await, 200, "warm");
    }
    // Activity noted by those requests is written now, so nothing pending can land later.
    gw.state
        .activity
        .flush(gw.state.auth.store().as_ref())
        .await
        .expect("flush");
    // The second session is the least recently used; the first is the oldest.
    let mut db = open_db(&gw).await;
    let base: i64 = 4_000_000_000;
    for (login, offset) in logins.iter().zip([300, 100, 200]) {
        sqlx::query("UPDATE sessions SET last_used_at = $1 WHERE id = $2")
            .bind(base + offset)
            .bind(sid(&login.access_token))
            .execute(&mut db)
            .await
            .expect("set last_used_at");
    }

    let newest = gw.login_userpass("cap@example.com", PASSWORD).await;
    assert_eq!(proxied_status(&gw, &logins[1].access_token).await, 401);
    assert_error(
        gw.refresh(&logins[1].refresh_token).await,
        401,
        "InvalidSession",
    )
    .await;
    for login in [&logins[0], &logins[2], &newest] {
        assert_eq!(proxied_status(&gw, &login.access_token).await, 200);
        assert_eq!(gw.refresh(&login.refresh_token).await.status(), 201);
    }
    assert_eq!(live_sessions(&mut db, &newest.user_id).await, 3);
    let recorded: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM revocations WHERE session_id = $1")
            .bind(sid(&logins[1].access_token))
            .fetch_one(&mut db)
            .await
            .expect("count");
    assert_eq!(recorded, 1, "the eviction is recorded for other replicas");
}

#[tokio::test]
async fn reject_refuses_the_login_with_a_clear_error_until_a_session_ends() {
    let gw = TestGateway::start_with(capped(2, "reject")).await;
    gw.register("full@example.com", PASSWORD).await;
    let first = gw.login_userpass("full@example.com", PASSWORD).await;
    let second = gw.login_userpass("full@example.com", PASSWORD).await;

    let refused = gw.login_userpass_raw("full@example.com", PASSWORD).await;
    let body = assert_error(refused, 409, "SessionLimitReached").await;
    assert!(
        body["error"]
            .as_str()
            .unwrap_or_default()
            .contains("sign out"),
        "{body}"
    );
    for login in [&first, &second] {
        assert_eq!(proxied_status(&gw, &login.access_token).await, 200);
    }
    let mut db = open_db(&gw).await;
    assert_eq!(live_sessions(&mut db, &first.user_id).await, 2);

    assert_eq!(gw.logout(&first.refresh_token).await.status(), 204);
    let third = gw.login_userpass("full@example.com", PASSWORD).await;
    assert_eq!(proxied_status(&gw, &third.access_token).await, 200);
    assert_eq!(live_sessions(&mut db, &first.user_id).await, 2);
}

#[tokio::test]
async fn unlimited_by_default() {
    let gw = TestGateway::start().await;
    gw.register("many@example.com", PASSWORD).await;
    let mut logins = Vec::new();
    for _ in 0..6 {
        logins.push(gw.login_userpass("many@example.com", PASSWORD).await);
    }
    for login in &logins {
        assert_eq!(proxied_status(&gw, &login.access_token).await, 200);
    }
}

#[tokio::test]
async fn an_unknown_on_limit_stops_start_up_naming_the_key() {
    let dir = tempfile::tempdir().expect("temp dir");
    for (extra, key) in [
        (
            "[sessions]\nmax_per_user = 2\non_limit = \"evict_newest\"\n",
            "sessions.on_limit:",
        ),
        ("[sessions]\nmax_per_user = -1\n", "sessions.max_per_user"),
        ("[sessions]\nmax_users = 2\n", "max_users"),
    ] {
        let text = config_text(&dir.path().join("db.sqlite"), "http://127.0.0.1:9", extra);
        let err = sessiongate::config::from_toml_str(&text, &test_env(&[]), dir.path())
            .expect_err("refused");
        assert!(err.to_string().contains(key), "{extra}: {err}");
    }
}

// --- two replicas on PostgreSQL -------------------------------------------------------------

/// `logins` parallel email/password logins of one user, alternating between `a` and `b`;
/// returns their statuses.
async fn parallel_logins(
    a: &Arc<GatewayProcess>,
    b: &Arc<GatewayProcess>,
    email: &str,
    logins: usize,
) -> Vec<u16> {
    let http = reqwest::Client::new();
    let mut tasks = Vec::new();
    for i in 0..logins {
        let gateway = if i % 2 == 0 { a.clone() } else { b.clone() };
        let (http, email) = (http.clone(), email.to_owned());
        tasks.push(tokio::spawn(async move {
            http.post(gateway.app_api("/auth/providers/local-userpass/login"))
                .json(&serde_json::json!({ "username": email, "password": PASSWORD }))
                .send()
                .await
                .expect("login")
                .status()
                .as_u16()
        }));
    }
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.expect("task"));
    }
    statuses
}

async fn pg_live_sessions(store_url: &str) -> i64 {
    let mut conn = sqlx::PgConnection::connect(store_url).await.expect("pg");
    let live = sqlx::query_scalar("SELECT COUNT(*) FROM sessions WHERE revoked_at IS NULL")
        .fetch_one(&mut conn)
        .await
        .expect("count");
    conn.close().await.ok();
    live
}

async fn two_capped_replicas(
    dir: &std::path::Path,
    store_url: &str,
    upstream: &str,
    on_limit: &str,
) -> (Arc<GatewayProcess>, Arc<GatewayProcess>) {
    let env = [
        ("SESSIONGATE_SESSIONS__MAX_PER_USER", "3"),
        ("SESSIONGATE_SESSIONS__ON_LIMIT", on_limit),
        ("SESSIONGATE_AUTH__PASSWORD_HASH_CONCURRENCY", "2"),
    ];
    let a = spawn_replica_with(dir, "cap_a", store_url, upstream, &env).await;
    let b = spawn_replica_with(dir, "cap_b", store_url, upstream, &env).await;
    (Arc::new(a), Arc::new(b))
}

async fn register_on(gateway: &GatewayProcess, email: &str) {
    let response = reqwest::Client::new()
        .post(gateway.app_api("/auth/providers/local-userpass/register"))
        .json(&serde_json::json!({ "email": email, "password": PASSWORD }))
        .send()
        .await
        .expect("register");
    assert_eq!(response.status(), 201);
}

/// The value of one series (`name{labels}` exactly as rendered) on a replica's `/metrics`;
/// 0 when it is not rendered yet.
async fn metric(gateway: &GatewayProcess, series: &str) -> f64 {
    let text = reqwest::get(format!("{}/metrics", gateway.admin_url))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text");
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test]
async fn parallel_logins_on_two_replicas_never_exceed_the_cap() {
    let Some(base) = postgres_url_or_skip() else {
        return;
    };
    let (store_url, schema) = fresh_pg_schema(&base).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let upstream = EchoUpstream::start().await;
    let (a, b) = two_capped_replicas(dir.path(), &store_url, &upstream.url(), "evict_oldest").await;
    register_on(&a, "evict@example.com").await;

    let statuses = parallel_logins(&a, &b, "evict@example.com", 12).await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    assert_eq!(pg_live_sessions(&store_url).await, 3);
    let series = "sessiongate_session_cap_total{action=\"evicted\"}";
    let evicted = metric(&a, series).await + metric(&b, series).await;
    assert_eq!(evicted, 9.0);
    drop_pg_schema(&base, &schema).await;
}

#[tokio::test]
async fn parallel_logins_on_two_replicas_with_reject_admit_exactly_the_cap() {
    let Some(base) = postgres_url_or_skip() else {
        return;
    };
    let (store_url, schema) = fresh_pg_schema(&base).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let upstream = EchoUpstream::start().await;
    let (a, b) = two_capped_replicas(dir.path(), &store_url, &upstream.url(), "reject").await;
    register_on(&a, "reject@example.com").await;

    let statuses = parallel_logins(&a, &b, "reject@example.com", 10).await;
    let admitted = statuses.iter().filter(|s| **s == 200).count();
    let refused = statuses.iter().filter(|s| **s == 409).count();
    assert_eq!((admitted, refused), (3, 7), "{statuses:?}");
    assert_eq!(pg_live_sessions(&store_url).await, 3);
    let series = "sessiongate_session_cap_total{action=\"rejected\"}";
    assert_eq!(metric(&a, series).await + metric(&b, series).await, 7.0);
    drop_pg_schema(&base, &schema).await;
}
