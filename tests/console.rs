//! The admin console (issue 14): its sign-in, cookie and cross-site rules over plain HTTP, and
//! the whole console driven in headless Chromium (Debian's `/usr/bin/chromium`, with the pinned
//! playwright-core installed by `npm ci`), against a real gateway. Without Node or Chromium the
//! browser test says it was skipped (and fails under CI=true).

mod common;
/// The console over plain HTTP (no browser needed).
#[path = "console/http.rs"]
mod http;
#[path = "support/node.rs"]
mod node;

use std::path::{Path, PathBuf};
use std::process::Stdio;

use common::*;
use node::{have, npm_ci};
use reqwest::Method;
use reqwest::header::USER_AGENT;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

const FIREFOX_WINDOWS: &str =
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0";
const SAFARI_IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) \
    AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1";

// ---------------------------------------------------------------- the browser

fn harness_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/console")
}

/// Logs `email` in with a given user agent.
async fn login_as(gw: &TestGateway, email: &str, agent: &str) -> Login {
    let response = gw
        .http
        .post(gw.app_api("/auth/providers/local-userpass/login"))
        .header(USER_AGENT, agent)
        .json(&json!({ "username": email, "password": "Pa55w0rd!" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

/// `GET` an Admin API path with the admin key; the JSON answer.
async fn admin_get(gw: &TestGateway, path: &str) -> Value {
    let response = gw.admin(Method::GET, path).send().await.expect("admin GET");
    assert_eq!(response.status(), 200, "GET {path}");
    response.json().await.expect("admin JSON")
}

async fn key_count(gw: &TestGateway) -> usize {
    admin_get(gw, "/security/signing_keys")
        .await
        .as_array()
        .map_or(0, Vec::len)
}

#[tokio::test]
async fn the_console_in_chromium_manages_users_sessions_and_security() {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_owned());
    if !have("node") || !have("npm") || !Path::new(&chromium).exists() {
        common::skip_without(
            "node/npm/chromium",
            "the_console_in_chromium_manages_users_sessions_and_security",
        );
        return;
    }
    npm_ci(&harness_dir(), "node_modules/playwright-core/package.json");
    let gw = TestGateway::start().await;
    let email = "grace@example.com";
    let created = gw
        .admin(Method::POST, "/users")
        .json(&json!({ "email": email, "password": "Pa55w0rd!" }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let user_id = created.json::<Value>().await.unwrap()["_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let desktop = login_as(&gw, email, FIREFOX_WINDOWS).await;
    let phone = login_as(&gw, email, SAFARI_IPHONE).await;
    gw.echo("/items", &desktop.access_token).await;
    gw.echo("/items", &phone.access_token).await;
    let keys_before = key_count(&gw).await;

    let shots = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/console-screenshots");
    // Only this run's screenshots (the directory is an artifact, never committed).
    let _ = std::fs::remove_dir_all(&shots);
    let mut child = tokio::process::Command::new("node")
        .arg("scenario.mjs")
        .current_dir(harness_dir())
        .env("ADMIN_URL", &gw.admin_url)
        .env("ADMIN_KEY", ADMIN_KEY)
        .env("APP_ID", APP_ID)
        .env("USER_ID", &user_id)
        .env("USER_EMAIL", email)
        .env("SCREENSHOTS", &shots)
        .env("CHROMIUM", &chromium)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("node runs");
    let mut stdin = child.stdin.take().expect("stdin");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let stderr = child.stderr.take().expect("stderr");
    let stderr = tokio::spawn(async move {
        let mut text = String::new();
        let mut lines = BufReader::new(stderr).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            text.push_str(&line);
            text.push('\n');
        }
        text
    });
    let mut seen = String::new();
    let mut checked_revocation = false;
    while let Some(line) = stdout.next_line().await.expect("read scenario output") {
        println!("{line}");
        seen.push_str(&line);
        seen.push('\n');
        if let Some(session_id) = line.strip_prefix("CHECK revoked ") {
            // The browser revoked the iPhone session: its token dies on the very next request,
            // the other session's does not.
            assert_eq!(jwt_payload(&phone.access_token)["sid"], session_id);
            let refused = gw.get_upstream("/items", &phone.access_token).await;
            assert_error(refused, 401, "InvalidSession").await;
            gw.echo("/items", &desktop.access_token).await;
            stdin
                .write_all(b"checked\n")
                .await
                .expect("answer the scenario");
            checked_revocation = true;
        }
    }
    let status = child.wait().await.expect("scenario ends");
    let stderr = stderr.await.unwrap_or_default();
    assert!(
        status.success(),
        "console scenario failed:\n{seen}\n{stderr}"
    );
    assert!(
        seen.contains("ok done"),
        "scenario did not finish:\n{seen}\n{stderr}"
    );
    assert!(checked_revocation, "the scenario never revoked a session");

    // What the browser did is what the Admin API now says.
    let user = admin_get(&gw, &format!("/users/{user_id}")).await;
    assert_eq!(user["disabled"], true);
    let refused = gw.get_upstream("/items", &desktop.access_token).await;
    assert_error(refused, 401, "InvalidSession").await;
    let ttl = admin_get(&gw, "/security/refresh_token_expiration").await;
    assert_eq!(ttl["expiration_time_seconds"], 7 * 86400);
    // The cross-site attempts changed nothing.
    for mallory in ["mallory@evil.example", "mallory2@evil.example"] {
        let found = admin_get(&gw, &format!("/users?email={mallory}")).await;
        assert_eq!(found, json!([]), "{mallory} was created cross-site");
    }
    assert_eq!(
        key_count(&gw).await,
        keys_before,
        "a key was rotated cross-site"
    );
    for page in [
        "sign-in",
        "users",
        "user",
        "security",
        "health",
        "users-375",
        "user-1440",
    ] {
        assert!(
            shots.join(format!("{page}.png")).exists(),
            "screenshot {page}"
        );
    }
}
