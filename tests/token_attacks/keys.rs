//! Retiring a signing key: cached tokens refused at once, CLI, and across replicas.

use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::GUARD;
use super::common::*;

/// Runs the CLI against `gw`'s admin listener with exactly these arguments (no inherited env).
async fn cli(gw: &TestGateway, args: &[&str]) -> (i32, String, String) {
    let config = gw.dir.path().join("no-config.toml");
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_sessiongate"));
    command
        .args(args)
        .args([
            "--url",
            &gw.admin_url,
            "--admin-key",
            ADMIN_KEY,
            "--app",
            APP_ID,
        ])
        .arg("--config")
        .arg(&config)
        .env_clear()
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let output = tokio::time::timeout(GUARD, command.output())
        .await
        .expect("the CLI finished")
        .expect("CLI output");
    (
        output.status.code().expect("exit code"),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test]
async fn retiring_a_key_refuses_its_cached_tokens_at_once() {
    // No configured signing key: generated and kept in the store, so it can be retired.
    let gw = TestGateway::start_with(Options::default().env("SESSIONGATE_TOKENS__SIGNING_KEY", ""))
        .await;
    let login = gw.login_anon().await;
    let old_kid = jwt_kid(&login.access_token);
    gw.echo("/data/cached", &login.access_token).await;
    gw.echo("/data/cached", &login.access_token).await;
    let checks = gw.signature_checks();

    // The only key signs: retiring it would leave nothing to sign with.
    let (code, _, stderr) = cli(&gw, &["keys", "retire", &old_kid]).await;
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("409") && stderr.contains("rotate first"),
        "{stderr}"
    );
    gw.echo("/data/still", &login.access_token).await;

    let (code, stdout, stderr) = cli(&gw, &["keys", "rotate", "--json"]).await;
    assert_eq!(code, 0, "{stderr}");
    let new_kid = serde_json::from_str::<Value>(&stdout).expect("json")["kid"]
        .as_str()
        .expect("kid")
        .to_owned();
    let (code, stdout, stderr) = cli(&gw, &["keys", "retire", &old_kid, "--json"]).await;
    assert_eq!(code, 0, "{stderr}");
    let retired: Value = serde_json::from_str(&stdout).expect("json");
    assert_eq!(retired, json!({"kid": old_kid, "signing": new_kid}));
    assert_eq!(
        gw.signature_checks(),
        checks,
        "the token was served from the cache"
    );

    let before = gw.upstream.request_count();
    let refused = gw.get_upstream("/data/retired", &login.access_token).await;
    assert_error(refused, 401, "InvalidSession").await;
    assert_eq!(gw.upstream.request_count(), before);

    // The session itself is fine: a refresh mints a token with the new key.
    let refreshed: Value = gw
        .refresh(&login.refresh_token)
        .await
        .json()
        .await
        .expect("json");
    let access = refreshed["access_token"].as_str().expect("access token");
    assert_eq!(jwt_kid(access), new_kid);
    gw.echo("/data/new-key", access).await;

    let (code, _, stderr) = cli(&gw, &["keys", "retire", "no-such-kid"]).await;
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("404"), "{stderr}");
    let listed = gw
        .admin(reqwest::Method::GET, "/security/signing_keys")
        .send()
        .await
        .expect("list keys");
    let listed = assert_json_status(listed, 200).await;
    assert_eq!(listed, json!([{"kid": new_kid, "signing": true}]));
}

#[tokio::test]
async fn a_configured_key_cannot_be_retired_through_the_api() {
    let gw = TestGateway::start().await;
    let login = gw.login_anon().await;
    let kid = jwt_kid(&login.access_token);
    let response = gw
        .admin(
            reqwest::Method::DELETE,
            &format!("/security/signing_keys/{kid}"),
        )
        .send()
        .await
        .expect("retire");
    assert_error(response, 409, "InvalidParameter").await;
    let response = gw
        .admin(
            reqwest::Method::PUT,
            &format!("/security/signing_keys/{kid}"),
        )
        .send()
        .await
        .expect("wrong method");
    assert_json_error(response, 405).await;
    gw.echo("/data/x", &login.access_token).await;
}

async fn proxied_status(http: &reqwest::Client, gateway: &GatewayProcess, token: &str) -> u16 {
    http.get(format!("{}/data", gateway.client_url))
        .bearer_auth(token)
        .send()
        .await
        .expect("proxied")
        .status()
        .as_u16()
}

#[tokio::test]
async fn a_retired_key_is_refused_promptly_on_every_replica() {
    let Some(base) = postgres_url_or_skip() else {
        return;
    };
    let store_url = crate::common::fresh_pg_schema(&base).await.0;
    let dir = tempfile::tempdir().expect("temp dir");
    let upstream = EchoUpstream::start().await;
    let a = crate::common::spawn_replica(dir.path(), "retire_a", &store_url, &upstream.url()).await;
    let b = crate::common::spawn_replica(dir.path(), "retire_b", &store_url, &upstream.url()).await;
    let http = reqwest::Client::new();
    let admin = |gateway: &GatewayProcess, method: reqwest::Method, path: &str| {
        http.request(method, gateway.admin_api(path))
            .bearer_auth(ADMIN_KEY)
    };

    let login: Login = http
        .post(a.app_api("/auth/providers/anon-user/login"))
        .send()
        .await
        .expect("login")
        .json()
        .await
        .expect("login json");
    let old_kid = jwt_kid(&login.access_token);
    for gateway in [&a, &b] {
        assert_eq!(
            proxied_status(&http, gateway, &login.access_token).await,
            200
        );
        assert_eq!(
            proxied_status(&http, gateway, &login.access_token).await,
            200,
            "cached"
        );
    }

    let rotated = admin(&b, reqwest::Method::POST, "/security/signing_keys")
        .send()
        .await
        .expect("rotate");
    let rotated = assert_json_status(rotated, 201).await;
    let new_kid = rotated["kid"].as_str().expect("kid").to_owned();
    let retired = admin(
        &a,
        reqwest::Method::DELETE,
        &format!("/security/signing_keys/{old_kid}"),
    )
    .send()
    .await
    .expect("retire");
    let retired = assert_json_status(retired, 200).await;
    assert_eq!(
        retired["signing"],
        new_kid.as_str(),
        "A loaded B's rotation to answer"
    );
    assert_eq!(
        proxied_status(&http, &a, &login.access_token).await,
        401,
        "at once on A"
    );

    // B learns through the store's notification, well before its periodic key reload (5 s).
    let started = Instant::now();
    loop {
        match proxied_status(&http, &b, &login.access_token).await {
            401 => break,
            200 => assert!(
                started.elapsed() < Duration::from_secs(3),
                "B still accepts the retired key's token after {:?}",
                started.elapsed()
            ),
            other => panic!("unexpected status {other}"),
        }
        tokio::task::yield_now().await;
    }
    println!("retirement reached B after {:?}", started.elapsed());

    // The new key signs and verifies everywhere; the last key cannot be retired.
    let refreshed: Value = http
        .post(b.client_api("/auth/session"))
        .bearer_auth(&login.refresh_token)
        .send()
        .await
        .expect("refresh")
        .json()
        .await
        .expect("json");
    let access = refreshed["access_token"].as_str().expect("access token");
    assert_eq!(jwt_kid(access), new_kid);
    assert_eq!(proxied_status(&http, &a, access).await, 200);
    let last = admin(
        &b,
        reqwest::Method::DELETE,
        &format!("/security/signing_keys/{new_kid}"),
    )
    .send()
    .await
    .expect("retire the last key");
    assert_json_error(last, 409).await;
}
