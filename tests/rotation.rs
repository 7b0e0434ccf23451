//! Refresh-token rotation with reuse detection (`tokens.rotate_refresh_tokens`, issue #11),
//! against gateways on port 0 and, for two replicas, the real binary on PostgreSQL (needs
//! `SESSIONGATE_TEST_POSTGRES_URL`; skipped without it, failing with `CI=true`).
//!
//! The rule under test (`src/auth/rotation.rs`): the current token rotates to its successor;
//! a rotated-out token whose successor is still unused gets the same successor within
//! `tokens.rotation_grace`; any other rotated-out token is theft — the session dies on every
//! replica and the answer is 401 `InvalidSession`.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;
use sqlx::Connection;

const PASSWORD: &str = "Pa55w0rd!";

fn rotating(grace: &str) -> Options {
    Options::default().toml(&format!(
        "[tokens]\nrotate_refresh_tokens = true\nrotation_grace = \"{grace}\"\n"
    ))
}

/// A refresh answer: status and JSON body.
async fn refresh_json(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    (status, response.json().await.expect("refresh json"))
}

/// Refreshes and expects 201 with both tokens; returns (access, refresh).
async fn rotate(gw: &TestGateway, refresh_token: &str) -> (String, String) {
    let (status, body) = refresh_json(gw.refresh(refresh_token).await).await;
    assert_eq!(status, 201, "{body}");
    (
        body["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned(),
        body["refresh_token"]
            .as_str()
            .expect("refresh_token")
            .to_owned(),
    )
}

async fn proxied_status(gw: &TestGateway, access_token: &str) -> u16 {
    gw.get_upstream("/data", access_token)
        .await
        .status()
        .as_u16()
}

/// Waits (polling the clock) until more than `grace` has passed since `since`.
async fn wait_past(since: Instant, grace: Duration) {
    let until = grace + Duration::from_millis(200);
    while since.elapsed() <= until {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn without_rotation_a_refresh_answers_only_an_access_token_and_the_token_stays() {
    let gw = TestGateway::start().await;
    let login = gw.login_anon().await;
    for _ in 0..2 {
        let (status, body) = refresh_json(gw.refresh(&login.refresh_token).await).await;
        assert_eq!(status, 201);
        let keys: BTreeSet<&str> = body
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys, BTreeSet::from(["access_token"]), "{body}");
    }
}

#[tokio::test]
async fn a_rotated_token_carries_the_session_on_and_is_stored_only_as_a_digest() {
    let gw = TestGateway::start_with(rotating("5s")).await;
    gw.register("rot@example.com", PASSWORD).await;
    let login = gw.login_userpass("rot@example.com", PASSWORD).await;
    let (access, next) = rotate(&gw, &login.refresh_token).await;
    assert_ne!(next, login.refresh_token);
    assert_eq!(proxied_status(&gw, &access).await, 200);
    let (access2, next2) = rotate(&gw, &next).await;
    assert_ne!(next2, next);
    assert_eq!(proxied_status(&gw, &access2).await, 200);
    assert_eq!(
        jwt_payload(&access2)["sid"],
        jwt_payload(&login.access_token)["sid"],
        "one session throughout"
    );

    // The store holds digests only: no token appears anywhere in the file.
    let mut db = sqlx::SqliteConnection::connect(&format!("sqlite://{}", gw.db_path().display()))
        .await
        .expect("open the store");
    let rotated: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM refresh_rotations")
        .fetch_one(&mut db)
        .await
        .expect("count");
    assert_eq!(rotated, 2, "both rotated-out tokens are recorded");
    db.close().await.expect("close");
    let bytes = std::fs::read(gw.db_path()).expect("read db");
    let wal = std::fs::read(gw.dir.path().join("sessiongate.db-wal")).unwrap_or_default();
    for token in [&login.refresh_token, &next, &next2] {
        for file in [&bytes, &wal] {
            assert!(
                !file
                    .windows(token.len())
                    .any(|window| window == token.as_bytes()),
                "a refresh token is stored in clear"
            );
        }
    }
}

#[tokio::test]
async fn refreshes_racing_with_one_token_all_get_the_same_successor() {
    let gw = Arc::new(TestGateway::start_with(rotating("30s")).await);
    let login = gw.login_anon().await;
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (gw, token) = (gw.clone(), login.refresh_token.clone());
        tasks.push(tokio::spawn(async move { rotate(&gw, &token).await }));
    }
    let mut successors = BTreeSet::new();
    for task in tasks {
        let (access, next) = task.await.expect("task");
        assert_eq!(proxied_status(&gw, &access).await, 200);
        successors.insert(next);
    }
    assert_eq!(successors.len(), 1, "one lineage: {successors:?}");
    let next = successors.pop_first().expect("a successor");

    // Once the successor is used, the old token is no longer a racing refresh: theft, even
    // within the grace.
    let (access, _) = rotate(&gw, &next).await;
    assert_eq!(proxied_status(&gw, &access).await, 200, "warm the cache");
    let reused = gw.refresh(&login.refresh_token).await;
    assert_error(reused, 401, "InvalidSession").await;
    assert_eq!(proxied_status(&gw, &access).await, 401, "the session died");
}

#[tokio::test]
async fn an_old_token_after_the_grace_is_theft_and_kills_the_whole_session() {
    let grace = Duration::from_secs(2);
    let gw = TestGateway::start_with(rotating("2s")).await;
    gw.register("victim@example.com", PASSWORD).await;
    let login = gw.login_userpass("victim@example.com", PASSWORD).await;
    let other = gw.login_userpass("victim@example.com", PASSWORD).await;
    assert_eq!(proxied_status(&gw, &login.access_token).await, 200);
    assert_eq!(proxied_status(&gw, &other.access_token).await, 200);

    let (access, next) = rotate(&gw, &login.refresh_token).await;
    let rotated = Instant::now();
    assert_eq!(proxied_status(&gw, &access).await, 200, "warm the cache");
    // Within the grace, and the successor unused: the same successor again.
    let (_, again) = rotate(&gw, &login.refresh_token).await;
    assert_eq!(again, next);

    wait_past(rotated, grace).await;
    let reused = gw.refresh(&login.refresh_token).await;
    let body = assert_error(reused, 401, "InvalidSession").await;
    assert!(
        !body.to_string().contains(&login.refresh_token),
        "the answer never echoes a token"
    );
    // Every token of the session is dead: access tokens (cached ones too), the successor.
    assert_eq!(proxied_status(&gw, &access).await, 401);
    assert_eq!(proxied_status(&gw, &login.access_token).await, 401);
    assert_error(gw.refresh(&next).await, 401, "InvalidSession").await;
    // Another session of the same user is untouched.
    assert_eq!(proxied_status(&gw, &other.access_token).await, 200);
    rotate(&gw, &other.refresh_token).await;
    // A second reuse is still refused (and changes nothing).
    assert_error(
        gw.refresh(&login.refresh_token).await,
        401,
        "InvalidSession",
    )
    .await;
}

#[tokio::test]
async fn a_malformed_or_unknown_refresh_token_is_invalid_session_with_rotation_on() {
    let gw = TestGateway::start_with(rotating("5s")).await;
    for token in ["nope", "", &"x".repeat(5000)] {
        let response = gw
            .http
            .post(gw.client_api("/auth/session"))
            .header("authorization", format!("Bearer {token}"))
            .send()
            .await
            .expect("refresh");
        assert_json_error(response, 401).await;
    }
}

#[tokio::test]
async fn rotation_grace_above_a_minute_stops_start_up_naming_the_key() {
    let dir = tempfile::tempdir().expect("temp dir");
    let text = config_text(
        &dir.path().join("db.sqlite"),
        "http://127.0.0.1:9",
        "[tokens]\nrotate_refresh_tokens = true\nrotation_grace = \"2m\"\n",
    );
    let err =
        sessiongate::config::from_toml_str(&text, &test_env(&[]), dir.path()).expect_err("refused");
    assert!(
        err.to_string().starts_with("tokens.rotation_grace:"),
        "{err}"
    );
}

// --- two replicas on PostgreSQL -------------------------------------------------------------

async fn replica_refresh(
    http: &reqwest::Client,
    gateway: &GatewayProcess,
    token: &str,
) -> (u16, Value) {
    let response = http
        .post(gateway.client_api("/auth/session"))
        .bearer_auth(token)
        .send()
        .await
        .expect("refresh");
    let status = response.status().as_u16();
    (status, response.json().await.expect("json"))
}

async fn replica_proxied(http: &reqwest::Client, gateway: &GatewayProcess, token: &str) -> u16 {
    http.get(format!("{}/data", gateway.client_url))
        .bearer_auth(token)
        .send()
        .await
        .expect("proxied")
        .status()
        .as_u16()
}

/// Repeats a proxied request on `gateway` until it is refused (revocation propagation).
async fn until_refused(http: &reqwest::Client, gateway: &GatewayProcess, token: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match replica_proxied(http, gateway, token).await {
            401 => return,
            200 => assert!(Instant::now() < deadline, "still accepted after 5s"),
            other => panic!("unexpected status {other}"),
        }
        tokio::task::yield_now().await;
    }
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
async fn replicas_share_one_lineage_and_refuse_a_reused_token_everywhere() {
    let Some(base) = postgres_url_or_skip() else {
        return;
    };
    let (store_url, schema) = fresh_pg_schema(&base).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let upstream = EchoUpstream::start().await;
    let env = [
        ("SESSIONGATE_TOKENS__ROTATE_REFRESH_TOKENS", "true"),
        ("SESSIONGATE_TOKENS__ROTATION_GRACE", "3s"),
    ];
    let a =
        Arc::new(spawn_replica_with(dir.path(), "rot_a", &store_url, &upstream.url(), &env).await);
    let b =
        Arc::new(spawn_replica_with(dir.path(), "rot_b", &store_url, &upstream.url(), &env).await);
    let http = reqwest::Client::new();
    let login: Login = http
        .post(a.app_api("/auth/providers/anon-user/login"))
        .send()
        .await
        .expect("login")
        .json()
        .await
        .expect("login json");

    // Refreshes racing with one token, split over both replicas: one successor.
    let mut tasks = Vec::new();
    for i in 0..8 {
        let gateway = if i % 2 == 0 { a.clone() } else { b.clone() };
        let (http, token) = (http.clone(), login.refresh_token.clone());
        tasks.push(tokio::spawn(async move {
            replica_refresh(&http, &gateway, &token).await
        }));
    }
    let mut successors = BTreeSet::new();
    let mut access_tokens = Vec::new();
    for task in tasks {
        let (status, body) = task.await.expect("task");
        assert_eq!(status, 201, "{body}");
        successors.insert(body["refresh_token"].as_str().expect("rt").to_owned());
        access_tokens.push(body["access_token"].as_str().expect("at").to_owned());
    }
    let rotated = Instant::now();
    assert_eq!(successors.len(), 1, "one lineage across replicas");
    let next = successors.pop_first().expect("successor");
    for token in &access_tokens {
        assert_eq!(replica_proxied(&http, &a, token).await, 200);
        assert_eq!(replica_proxied(&http, &b, token).await, 200);
    }

    // After the grace, the original token on B is theft; A refuses the session's tokens too.
    wait_past(rotated, Duration::from_secs(3)).await;
    let (status, body) = replica_refresh(&http, &b, &login.refresh_token).await;
    assert_eq!(
        (status, body["error_code"].as_str()),
        (401, Some("InvalidSession"))
    );
    for token in &access_tokens {
        assert_eq!(replica_proxied(&http, &b, token).await, 401);
        until_refused(&http, &a, token).await;
    }
    let (status, _) = replica_refresh(&http, &a, &next).await;
    assert_eq!(status, 401, "the successor died with the session");

    let outcome = |o: &str| format!("sessiongate_refresh_rotations_total{{outcome=\"{o}\"}}");
    let (mut rotated, mut grace) = (0.0, 0.0);
    for gateway in [&a, &b] {
        rotated += metric(gateway, &outcome("rotated")).await;
        grace += metric(gateway, &outcome("grace")).await;
    }
    assert_eq!(
        (rotated, grace),
        (1.0, 7.0),
        "one rotation, seven racing refreshes"
    );
    assert_eq!(metric(&b, &outcome("reused")).await, 1.0);

    let mut admin = sqlx::PgConnection::connect(&store_url).await.expect("pg");
    let live: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM sessions WHERE revoked_at IS NULL")
        .fetch_one(&mut admin)
        .await
        .expect("count");
    assert_eq!(live, 0);
    admin.close().await.ok();
    drop_pg_schema(&base, &schema).await;
}
