//! `[login_limits]` and the hash pool's storm shedding against a real gateway over TCP: 429
//! with `Retry-After` before any hash, no lockout of a known client, client addresses only
//! through trusted proxies, blocks that expire, counts shared by two replicas on PostgreSQL,
//! and a login storm shed at once. The counter SQL itself: `tests/throttle_store.rs`.

mod common;

use std::time::{Duration, Instant};

use common::{Options, TestGateway, assert_error, assert_json_error};
use serde_json::json;

const EMAIL: &str = "victim@example.com";
const PASSWORD: &str = "correct-horse-1";
const WRONG: &str = "wrong-password-1";

/// A userpass login as the client at `forwarded_for` (an `X-Forwarded-For` header).
async fn login_from(
    gw: &TestGateway,
    password: &str,
    forwarded_for: Option<&str>,
) -> reqwest::Response {
    let mut request = gw
        .http
        .post(gw.app_api("/auth/providers/local-userpass/login"))
        .json(&json!({ "username": EMAIL, "password": password }));
    if let Some(address) = forwarded_for {
        request = request.header("x-forwarded-for", address);
    }
    request.send().await.expect("login request")
}

fn hashes(gw: &TestGateway) -> u64 {
    gw.state.auth.passwords().runs()
}

/// Asserts a 429 `TooManyRequests` with a `Retry-After` of at least a second, run without any
/// password hash; returns the `Retry-After` seconds.
async fn assert_throttled(
    gw: &TestGateway,
    response: reqwest::Response,
    hashes_before: u64,
) -> u64 {
    let retry_after: u64 = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After in whole seconds");
    assert!(retry_after >= 1);
    assert_error(response, 429, "TooManyRequests").await;
    assert_eq!(
        hashes(gw),
        hashes_before,
        "a refused attempt hashed nothing"
    );
    retry_after
}

#[tokio::test]
async fn failures_past_the_limit_answer_429_with_retry_after_and_hash_nothing() {
    let gw = TestGateway::start_with(
        Options::default().toml("[login_limits]\nper_account_and_client = 3\nblock = \"10m\""),
    )
    .await;
    gw.register(EMAIL, PASSWORD).await;
    for _ in 0..3 {
        assert_error(login_from(&gw, WRONG, None).await, 401, "InvalidPassword").await;
    }
    let before = hashes(&gw);
    let retry_after = assert_throttled(&gw, login_from(&gw, WRONG, None).await, before).await;
    assert!(retry_after <= 600, "{retry_after}");
    // The right password from the blocked client is refused as well, still without a hash.
    assert_throttled(&gw, login_from(&gw, PASSWORD, None).await, before).await;
}

#[tokio::test]
async fn an_attacker_elsewhere_cannot_lock_the_user_out_of_a_known_client() {
    let gw = TestGateway::start_with(
        Options::default()
            .toml("[login_limits]\nper_account_and_client = 2\nper_account = 4\nblock = \"1h\"")
            .env("SESSIONGATE_SERVER__TRUSTED_PROXIES", "127.0.0.1/32"),
    )
    .await;
    gw.register(EMAIL, PASSWORD).await;
    let home = "198.51.100.9";
    // The user logged in from their own client before: it is known to the account.
    assert_eq!(login_from(&gw, PASSWORD, Some(home)).await.status(), 200);

    // The attacker, through the trusted proxy, from two addresses: each address's own pair
    // limit trips, and together they exhaust the account's loose limit.
    for attacker in ["203.0.113.1", "203.0.113.2"] {
        for _ in 0..2 {
            assert_error(
                login_from(&gw, WRONG, Some(attacker)).await,
                401,
                "InvalidPassword",
            )
            .await;
        }
    }
    let before = hashes(&gw);
    // A third address the account has never seen is refused at once, even with the password.
    assert_throttled(
        &gw,
        login_from(&gw, WRONG, Some("203.0.113.3")).await,
        before,
    )
    .await;
    assert_throttled(
        &gw,
        login_from(&gw, PASSWORD, Some("192.0.2.50")).await,
        before,
    )
    .await;

    // The user's known client still logs in, and still has its own tries.
    let response = login_from(&gw, PASSWORD, Some(home)).await;
    assert_eq!(response.status(), 200, "the known client logs in");
    assert_error(
        login_from(&gw, WRONG, Some(home)).await,
        401,
        "InvalidPassword",
    )
    .await;
    assert_eq!(login_from(&gw, PASSWORD, Some(home)).await.status(), 200);
}

#[tokio::test]
async fn an_untrusted_peer_cannot_pick_its_bucket_with_x_forwarded_for() {
    // No trusted proxies: the TCP peer (127.0.0.1) is the client, whatever it claims.
    let gw = TestGateway::start_with(
        Options::default().toml("[login_limits]\nper_account_and_client = 2\nblock = \"1h\""),
    )
    .await;
    gw.register(EMAIL, PASSWORD).await;
    assert_error(
        login_from(&gw, WRONG, Some("203.0.113.1")).await,
        401,
        "InvalidPassword",
    )
    .await;
    assert_error(
        login_from(&gw, WRONG, Some("203.0.113.2")).await,
        401,
        "InvalidPassword",
    )
    .await;
    let before = hashes(&gw);
    assert_throttled(
        &gw,
        login_from(&gw, WRONG, Some("203.0.113.3")).await,
        before,
    )
    .await;
    assert_throttled(
        &gw,
        login_from(&gw, PASSWORD, Some("10.9.8.7, 203.0.113.4")).await,
        before,
    )
    .await;
}

#[tokio::test]
async fn a_block_expires_and_the_right_password_then_logs_in() {
    let gw = TestGateway::start_with(
        Options::default()
            .toml("[login_limits]\nper_account_and_client = 2\nblock = \"1s\"\nmax_block = \"2s\""),
    )
    .await;
    gw.register(EMAIL, PASSWORD).await;
    for _ in 0..2 {
        assert_error(login_from(&gw, WRONG, None).await, 401, "InvalidPassword").await;
    }
    let before = hashes(&gw);
    assert_throttled(&gw, login_from(&gw, PASSWORD, None).await, before).await;
    // Refusals count nothing, so polling with the right password waits out the block.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let response = login_from(&gw, PASSWORD, None).await;
        match response.status().as_u16() {
            200 => break,
            429 => assert!(Instant::now() < deadline, "the block never expired"),
            other => panic!("unexpected status {other}"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A success cleared the pair: the user has their tries again.
    assert_error(login_from(&gw, WRONG, None).await, 401, "InvalidPassword").await;
    assert_eq!(login_from(&gw, PASSWORD, None).await.status(), 200);
}

#[tokio::test]
async fn refused_refresh_tokens_are_limited_per_client() {
    let gw = TestGateway::start_with(
        Options::default().toml("[login_limits]\nper_client = 3\nblock = \"1h\""),
    )
    .await;
    for n in 0..3 {
        assert_error(
            gw.refresh(&format!("not-a-token-{n}")).await,
            401,
            "InvalidSession",
        )
        .await;
    }
    let response = gw.refresh("not-a-token-3").await;
    assert!(response.headers().contains_key("retry-after"));
    assert_error(response, 429, "TooManyRequests").await;
}

#[tokio::test]
async fn disabled_limits_refuse_nothing() {
    let gw = TestGateway::start_with(
        Options::default().toml("[login_limits]\nenabled = false\nper_account_and_client = 1"),
    )
    .await;
    gw.register(EMAIL, PASSWORD).await;
    for _ in 0..3 {
        assert_error(login_from(&gw, WRONG, None).await, 401, "InvalidPassword").await;
    }
    assert_eq!(login_from(&gw, PASSWORD, None).await.status(), 200);
}

#[tokio::test]
async fn a_storm_beyond_the_hash_pool_is_shed_at_once_with_retry_after() {
    let gw = TestGateway::start_with(
        Options::default()
            .toml("[login_limits]\nenabled = false")
            .env("SESSIONGATE_AUTH__PASSWORD_HASH_CONCURRENCY", "1")
            .env("SESSIONGATE_AUTH__PASSWORD_HASH_QUEUE", "1"),
    )
    .await;
    gw.register(EMAIL, PASSWORD).await;
    let storm = (0..24).map(|_| {
        let request = gw
            .http
            .post(gw.app_api("/auth/providers/local-userpass/login"))
            .json(&json!({ "username": EMAIL, "password": WRONG }));
        tokio::spawn(async move { request.send().await.expect("login request") })
    });
    let mut shed = 0;
    let mut refused = 0;
    for task in storm.collect::<Vec<_>>() {
        let response = task.await.expect("task");
        match response.status().as_u16() {
            401 => refused += 1,
            503 => {
                assert_eq!(
                    response.headers().get("retry-after").map(|v| v.as_bytes()),
                    Some(&b"1"[..])
                );
                let body = assert_json_error(response, 503).await;
                assert_eq!(body["error_code"], "ServiceUnavailable");
                shed += 1;
            }
            other => panic!("unexpected status {other} in a storm"),
        }
    }
    assert!(shed > 0, "nothing was shed ({refused} checked)");
    assert!(refused >= 1, "the pool kept working");
    // Once the storm passed, logins work again.
    assert_eq!(login_from(&gw, PASSWORD, None).await.status(), 200);
}

/// One replica on `store_url` (a `fresh_pg_schema` URL) with `[login_limits]` set.
async fn spawn_limited_replica(
    dir: &std::path::Path,
    name: &str,
    store_url: &str,
    upstream: &str,
) -> common::GatewayProcess {
    let config = dir.join(format!("{name}.toml"));
    let text = format!(
        r#"
[server]
listen = "127.0.0.1:0"
admin_listen = "127.0.0.1:0"
[app]
id = "{app}"
[store]
url = "{store_url}&application_name={name}"
[upstream]
url = "{upstream}"
[auth]
password_hash_concurrency = 1
[login_limits]
per_account_and_client = 3
block = "1h"
"#,
        app = common::APP_ID
    );
    std::fs::write(&config, text).expect("write config");
    common::GatewayProcess::spawn(
        &config,
        &[
            ("SESSIONGATE_ADMIN__API_KEY", common::ADMIN_KEY),
            ("SESSIONGATE_LOG", "warn"),
        ],
    )
    .await
}

async fn replica_login(
    http: &reqwest::Client,
    replica: &common::GatewayProcess,
    password: &str,
) -> reqwest::Response {
    http.post(replica.app_api("/auth/providers/local-userpass/login"))
        .json(&json!({ "username": EMAIL, "password": password }))
        .send()
        .await
        .expect("login request")
}

#[tokio::test]
async fn an_attacker_alternating_replicas_gets_no_extra_tries() {
    let Some(base) = common::postgres_url_or_skip() else {
        return;
    };
    let (store_url, schema) = common::fresh_pg_schema(&base).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let upstream = common::EchoUpstream::start().await;
    let a = spawn_limited_replica(dir.path(), "throttle_a", &store_url, &upstream.url()).await;
    let b = spawn_limited_replica(dir.path(), "throttle_b", &store_url, &upstream.url()).await;
    let http = reqwest::Client::new();
    let registered = http
        .post(a.app_api("/auth/providers/local-userpass/register"))
        .json(&json!({ "email": EMAIL, "password": PASSWORD }))
        .send()
        .await
        .expect("register");
    assert_eq!(registered.status(), 201);

    // Three failures in all, split over both replicas: the shared limit is reached.
    for replica in [&a, &b, &a] {
        assert_error(
            replica_login(&http, replica, WRONG).await,
            401,
            "InvalidPassword",
        )
        .await;
    }
    for replica in [&b, &a] {
        let response = replica_login(&http, replica, PASSWORD).await;
        assert!(response.headers().contains_key("retry-after"));
        assert_error(response, 429, "TooManyRequests").await;
    }
    drop((a, b));
    common::drop_pg_schema(&base, &schema).await;
}
