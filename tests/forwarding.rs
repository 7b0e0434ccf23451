//! Trusted proxies and request ids: whose `X-Forwarded-*` and `X-Request-Id` count, what the
//! client, the upstream and the session record see.

mod common;

use common::{Options, TestGateway};
use serde_json::{Value, json};

async fn anon_login(gw: &TestGateway, forwarded_for: &str) -> Value {
    gw.http
        .post(gw.app_api("/auth/providers/anon-user/login"))
        .header("x-forwarded-for", forwarded_for)
        .json(&json!({}))
        .send()
        .await
        .expect("login")
        .json()
        .await
        .expect("login json")
}

async fn session_ip(gw: &TestGateway, access_token: &str) -> String {
    let body: Value = gw
        .http
        .get(gw.client_api("/auth/sessions"))
        .bearer_auth(access_token)
        .send()
        .await
        .expect("sessions")
        .json()
        .await
        .expect("sessions json");
    body["sessions"][0]["client_ip"]
        .as_str()
        .expect("client_ip")
        .to_owned()
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_rightmost_untrusted_hop_is_the_client() {
    let gw = TestGateway::start_with(Options::default().env(
        "SESSIONGATE_SERVER__TRUSTED_PROXIES",
        "127.0.0.1/32,10.0.0.0/8",
    ))
    .await;
    // The client wrote 6.6.6.6; the proxies appended 198.51.100.7 and 10.1.2.3.
    let login = anon_login(&gw, "6.6.6.6, 198.51.100.7, 10.1.2.3").await;
    let token = login["access_token"].as_str().expect("token");
    assert_eq!(session_ip(&gw, token).await, "198.51.100.7");

    let seen = gw
        .http
        .get(gw.url("/public/x"))
        .header("x-forwarded-for", "6.6.6.6, 198.51.100.7")
        .header("x-forwarded-proto", "https")
        .header("x-forwarded-host", "api.example")
        .send()
        .await
        .expect("proxied")
        .json::<Value>()
        .await
        .expect("echo");
    let headers = &seen["headers"];
    assert_eq!(
        headers["x-forwarded-for"],
        "6.6.6.6, 198.51.100.7, 127.0.0.1"
    );
    assert_eq!(headers["x-forwarded-proto"], "https");
    assert_eq!(headers["x-forwarded-host"], "api.example");
}

#[tokio::test]
async fn without_trusted_proxies_forwarding_headers_are_the_clients_and_ignored() {
    let gw = TestGateway::start().await;
    let login = anon_login(&gw, "6.6.6.6").await;
    let token = login["access_token"].as_str().expect("token");
    assert_eq!(session_ip(&gw, token).await, "127.0.0.1");
    let seen = gw
        .http
        .get(gw.url("/public/x"))
        .header("x-forwarded-for", "6.6.6.6")
        .header("x-forwarded-proto", "https")
        .send()
        .await
        .expect("proxied")
        .json::<Value>()
        .await
        .expect("echo");
    assert_eq!(seen["headers"]["x-forwarded-for"], "127.0.0.1");
    assert_eq!(seen["headers"]["x-forwarded-proto"], "http");
}

#[tokio::test]
async fn a_request_id_is_returned_forwarded_and_in_error_bodies() {
    let gw = TestGateway::start().await;
    let response = gw
        .http
        .get(gw.url("/public/x"))
        .header("x-request-id", "client-chosen")
        .send()
        .await
        .expect("proxied");
    let returned = response.headers()["x-request-id"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert_ne!(
        returned, "client-chosen",
        "an untrusted client chose the id"
    );
    let seen: Value = response.json().await.expect("echo");
    assert_eq!(seen["headers"]["x-request-id"], returned.as_str());

    let refused = gw
        .http
        .get(gw.url("/private"))
        .send()
        .await
        .expect("refused");
    assert_eq!(refused.status(), 401);
    let id = refused.headers()["x-request-id"]
        .to_str()
        .expect("ascii")
        .to_owned();
    let body: Value = refused.json().await.expect("error json");
    assert_eq!(body["request_id"], id.as_str());
    assert_eq!(body["error_code"], "InvalidSession");
    assert_ne!(id, returned, "two requests share an id");
}

#[tokio::test]
async fn a_trusted_proxys_request_id_is_kept_if_it_is_sane() {
    let gw = TestGateway::start_with(
        Options::default().env("SESSIONGATE_SERVER__TRUSTED_PROXIES", "127.0.0.0/8"),
    )
    .await;
    let kept = gw
        .http
        .get(gw.url("/public/x"))
        .header("x-request-id", "lb-4f2a9c")
        .send()
        .await
        .expect("proxied");
    assert_eq!(kept.headers()["x-request-id"], "lb-4f2a9c");
    let seen: Value = kept.json().await.expect("echo");
    assert_eq!(seen["headers"]["x-request-id"], "lb-4f2a9c");

    let long = "x".repeat(500);
    let replaced = gw
        .http
        .get(gw.url("/public/x"))
        .header("x-request-id", long.as_str())
        .send()
        .await
        .expect("proxied");
    assert_ne!(replaced.headers()["x-request-id"], long.as_str());
}

#[tokio::test]
async fn trusted_proxies_are_validated_at_start_up() {
    let text = common::config_text(
        std::path::Path::new("/tmp/never-opened.db"),
        "http://127.0.0.1:9",
        "",
    );
    let env = common::test_env(&[(
        "SESSIONGATE_SERVER__TRUSTED_PROXIES".to_owned(),
        "10.0.0.0/8,not-a-network".to_owned(),
    )]);
    let err = sessiongate::config::from_toml_str(&text, &env, std::path::Path::new("/tmp"))
        .expect_err("a bad CIDR is refused");
    assert_eq!(err.key, "server.trusted_proxies");
}
