//! Issue #3 providers against a real gateway: user and server API keys, `api-key` login,
//! local-userpass confirmation and reset through webhooks run here, identity linking, the Data
//! API credential headers, and a search of the store for clear-text secrets.

mod common;
#[path = "support/hooks.rs"]
mod hooks;

use common::*;
use hooks::{Delivery, Hooks};
use reqwest::Method;
use serde_json::{Value, json};
use sqlx::{Connection, SqliteConnection};

const PASSWORD: &str = "Pa55w0rd!";

// ---------------------------------------------------------------------------------------------
// helpers

/// Webhooks for confirmation and reset, and a Data API route at `/data`.
fn provider_toml(hooks: &Hooks, auto_confirm: bool) -> String {
    format!(
        r#"
[providers.local_userpass]
auto_confirm = {auto_confirm}
confirmation_url = "{confirm}"
reset_url = "{reset}"
token_ttl = "30m"
webhook_timeout = "2s"

[[routes]]
prefix = "/data"
data_api_credentials = true
"#,
        confirm = hooks.url("/confirm"),
        reset = hooks.url("/reset"),
    )
}

async fn start(hooks: &Hooks, auto_confirm: bool) -> TestGateway {
    TestGateway::start_with(Options::default().toml(&provider_toml(hooks, auto_confirm))).await
}

/// A registered (auto-confirmed) and logged-in email/password user.
async fn user(gw: &TestGateway, email: &str) -> Login {
    gw.register(email, PASSWORD).await;
    gw.login_userpass(email, PASSWORD).await
}

fn keys_request(
    gw: &TestGateway,
    method: Method,
    path: &str,
    token: &str,
) -> reqwest::RequestBuilder {
    gw.http
        .request(method, gw.client_api(&format!("/auth/api_keys{path}")))
        .bearer_auth(token)
}

/// `POST /auth/api_keys {name}` with a refresh token; expects 201.
async fn create_key(gw: &TestGateway, refresh_token: &str, name: &str) -> Value {
    let response =
        send(keys_request(gw, Method::POST, "", refresh_token).json(&json!({ "name": name })))
            .await;
    assert_eq!(response.status(), 201, "create api key");
    assert_json(&response);
    response.json().await.unwrap()
}

fn assert_json(response: &reqwest::Response) {
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(
        content_type.starts_with("application/json"),
        "{content_type:?}"
    );
}

/// A 2xx answer with no body and no content type (what realm-web expects).
async fn assert_empty(response: reqwest::Response, status: u16) {
    assert_eq!(response.status(), status, "status");
    assert!(
        response.headers().get("content-type").is_none(),
        "an empty answer has no content type"
    );
    assert!(response.bytes().await.unwrap().is_empty());
}

async fn send(request: reqwest::RequestBuilder) -> reqwest::Response {
    request.send().await.expect("request")
}

async fn json_of(request: reqwest::RequestBuilder) -> Value {
    send(request).await.json().await.expect("json answer")
}

async fn login_key_raw(gw: &TestGateway, key: &str) -> reqwest::Response {
    gw.http
        .post(gw.app_api("/auth/providers/api-key/login"))
        .json(&json!({ "key": key }))
        .send()
        .await
        .unwrap()
}

async fn profile(gw: &TestGateway, access_token: &str) -> Value {
    let response = gw
        .http
        .get(gw.client_api("/auth/profile"))
        .bearer_auth(access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "profile");
    response.json().await.unwrap()
}

fn provider_types(profile: &Value) -> Vec<String> {
    let mut types: Vec<String> = profile["identities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["provider_type"].as_str().unwrap().to_owned())
        .collect();
    types.sort();
    types
}

fn userpass(gw: &TestGateway, path: &str) -> String {
    gw.app_api(&format!("/auth/providers/local-userpass{path}"))
}

async fn post(gw: &TestGateway, url: &str, body: Value) -> reqwest::Response {
    gw.http.post(url).json(&body).send().await.unwrap()
}

/// Status and body bytes, to compare two answers exactly.
async fn answer(response: reqwest::Response) -> (u16, Option<String>, Vec<u8>) {
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned());
    let body = response.bytes().await.unwrap();
    (status, content_type, common::mask_request_id(&body))
}

/// `reset {token, tokenId, password}` with a delivered token.
async fn reset_with(gw: &TestGateway, delivery: &Delivery, password: &str) -> reqwest::Response {
    let body = json!({"token": delivery.token, "tokenId": delivery.token_id, "password": password});
    post(gw, &userpass(gw, "/reset"), body).await
}

/// `confirm {token, tokenId}` with a delivered token.
async fn confirm_with(gw: &TestGateway, delivery: &Delivery) -> reqwest::Response {
    let body = json!({"token": delivery.token, "tokenId": delivery.token_id});
    post(gw, &userpass(gw, "/confirm"), body).await
}

async fn open_db(gw: &TestGateway) -> SqliteConnection {
    SqliteConnection::connect(&format!("sqlite://{}", gw.db_path().display()))
        .await
        .expect("open the gateway's SQLite file")
}

fn link_url(gw: &TestGateway, provider: &str) -> String {
    gw.app_api(&format!("/auth/providers/{provider}/login?link=true"))
}

// ---------------------------------------------------------------------------------------------
// user API keys

#[tokio::test]
async fn user_api_keys_lifecycle_shows_the_key_once() {
    let gw = TestGateway::start().await;
    let owner = user(&gw, "keys@example.com").await;
    let created = create_key(&gw, &owner.refresh_token, "ci").await;
    let key = created["key"].as_str().unwrap().to_owned();
    let id = created["_id"].as_str().unwrap().to_owned();
    assert_eq!(key.len(), 64, "{created}");
    assert_eq!(created["name"], "ci");
    assert_eq!(created["disabled"], false);

    let listed: Value = json_of(keys_request(&gw, Method::GET, "", &owner.refresh_token)).await;
    assert_eq!(
        listed,
        json!([{"_id": id, "name": "ci", "disabled": false}])
    );
    let fetched: Value = json_of(keys_request(
        &gw,
        Method::GET,
        &format!("/{id}"),
        &owner.refresh_token,
    ))
    .await;
    assert_eq!(fetched, json!({"_id": id, "name": "ci", "disabled": false}));
    assert!(!fetched.to_string().contains(&key));

    // A second key of the same name is refused.
    let response = send(
        keys_request(&gw, Method::POST, "", &owner.refresh_token).json(&json!({"name": "ci"})),
    )
    .await;
    assert_error(response, 409, "APIKeyAlreadyExists").await;

    let response = keys_request(
        &gw,
        Method::PUT,
        &format!("/{id}/disable"),
        &owner.refresh_token,
    )
    .send()
    .await
    .unwrap();
    assert_empty(response, 204).await;
    let fetched: Value = json_of(keys_request(
        &gw,
        Method::GET,
        &format!("/{id}"),
        &owner.refresh_token,
    ))
    .await;
    assert_eq!(fetched["disabled"], true);
    let response = keys_request(
        &gw,
        Method::PUT,
        &format!("/{id}/enable"),
        &owner.refresh_token,
    )
    .send()
    .await
    .unwrap();
    assert_empty(response, 204).await;
    assert_eq!(login_key_raw(&gw, &key).await.status(), 200);

    let response = keys_request(&gw, Method::DELETE, &format!("/{id}"), &owner.refresh_token)
        .send()
        .await
        .unwrap();
    assert_empty(response, 204).await;
    let response = keys_request(&gw, Method::GET, &format!("/{id}"), &owner.refresh_token)
        .send()
        .await
        .unwrap();
    assert_error(response, 404, "APIKeyNotFound").await;
}

#[tokio::test]
async fn another_users_key_is_not_found_and_left_alone() {
    let gw = TestGateway::start().await;
    let alice = user(&gw, "alice@example.com").await;
    let bob = user(&gw, "bob@example.com").await;
    let created = create_key(&gw, &alice.refresh_token, "alice-key").await;
    let id = created["_id"].as_str().unwrap();
    for (method, path) in [
        (Method::GET, format!("/{id}")),
        (Method::PUT, format!("/{id}/disable")),
        (Method::PUT, format!("/{id}/enable")),
        (Method::DELETE, format!("/{id}")),
    ] {
        let response = send(keys_request(&gw, method.clone(), &path, &bob.refresh_token)).await;
        assert_error(response, 404, "APIKeyNotFound").await;
    }
    let bobs: Value = json_of(keys_request(&gw, Method::GET, "", &bob.refresh_token)).await;
    assert_eq!(bobs, json!([]));
    let alices: Value = json_of(keys_request(&gw, Method::GET, "", &alice.refresh_token)).await;
    assert_eq!(alices[0]["disabled"], false, "{alices}");
    let login: Login = login_key_raw(&gw, created["key"].as_str().unwrap())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(login.user_id, alice.user_id);
}

#[tokio::test]
async fn api_key_login_refuses_wrong_disabled_and_deleted_keys_alike() {
    let gw = TestGateway::start().await;
    let owner = user(&gw, "login-keys@example.com").await;
    let created = create_key(&gw, &owner.refresh_token, "k").await;
    let key = created["key"].as_str().unwrap().to_owned();
    let id = created["_id"].as_str().unwrap().to_owned();

    let response = login_key_raw(&gw, &key).await;
    assert_eq!(response.status(), 200);
    let login: Login = response.json().await.unwrap();
    assert_eq!(login.user_id, owner.user_id);
    let seen = gw.echo("/items", &login.access_token).await;
    assert_eq!(seen["headers"]["x-user-id"], owner.user_id);
    assert_eq!(seen["headers"]["x-user-provider"], "api-key");

    let wrong = answer(login_key_raw(&gw, &"0".repeat(64)).await).await;
    assert_eq!(wrong.0, 401);
    let body: Value = serde_json::from_slice(&wrong.2).unwrap();
    assert_eq!(body["error_code"], "InvalidPassword");

    keys_request(
        &gw,
        Method::PUT,
        &format!("/{id}/disable"),
        &owner.refresh_token,
    )
    .send()
    .await
    .unwrap();
    let disabled = answer(login_key_raw(&gw, &key).await).await;
    assert_eq!(
        disabled, wrong,
        "a disabled key is answered like an unknown one"
    );

    keys_request(&gw, Method::DELETE, &format!("/{id}"), &owner.refresh_token)
        .send()
        .await
        .unwrap();
    let deleted = answer(login_key_raw(&gw, &key).await).await;
    assert_eq!(
        deleted, wrong,
        "a deleted key is answered like an unknown one"
    );

    let response = gw
        .http
        .post(gw.app_api("/auth/providers/api-key/login"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_error(response, 400, "BadRequest").await;
}

#[tokio::test]
async fn anonymous_users_and_key_sessions_cannot_create_keys() {
    let gw = TestGateway::start().await;
    let anon = gw.login_anon().await;
    let response = send(
        keys_request(&gw, Method::POST, "", &anon.refresh_token).json(&json!({"name": "nope"})),
    )
    .await;
    assert_error(response, 403, "Forbidden").await;
    let listed: Value = json_of(keys_request(&gw, Method::GET, "", &anon.refresh_token)).await;
    assert_eq!(listed, json!([]));

    let owner = user(&gw, "minter@example.com").await;
    let created = create_key(&gw, &owner.refresh_token, "k").await;
    let via_key: Login = login_key_raw(&gw, created["key"].as_str().unwrap())
        .await
        .json()
        .await
        .unwrap();
    let response = send(
        keys_request(&gw, Method::POST, "", &via_key.refresh_token)
            .json(&json!({"name": "second"})),
    )
    .await;
    assert_error(response, 403, "Forbidden").await;
}

#[tokio::test]
async fn key_routes_take_the_refresh_token_only() {
    let gw = TestGateway::start().await;
    let owner = user(&gw, "refresh-only@example.com").await;
    let response = send(keys_request(&gw, Method::GET, "", &owner.access_token)).await;
    assert_error(response, 401, "InvalidSession").await;
    let response = gw
        .http
        .get(gw.client_api("/auth/api_keys"))
        .send()
        .await
        .unwrap();
    assert_error(response, 401, "InvalidSession").await;
    gw.logout(&owner.refresh_token).await;
    let response = send(keys_request(&gw, Method::GET, "", &owner.refresh_token)).await;
    assert_error(response, 401, "InvalidSession").await;
}

#[tokio::test]
async fn disabled_api_key_provider_is_not_found() {
    let gw =
        TestGateway::start_with(Options::default().toml("[providers.api_key]\nenabled = false"))
            .await;
    let owner = user(&gw, "no-keys@example.com").await;
    let response = login_key_raw(&gw, &"a".repeat(64)).await;
    assert_error(response, 404, "AuthProviderNotFound").await;
    let response = send(keys_request(&gw, Method::GET, "", &owner.refresh_token)).await;
    assert_error(response, 404, "AuthProviderNotFound").await;
    let response = send(gw.admin(Method::GET, "/api_keys")).await;
    assert_error(response, 404, "AuthProviderNotFound").await;
}

// ---------------------------------------------------------------------------------------------
// server API keys

#[tokio::test]
async fn server_api_keys_via_the_admin_api() {
    let gw = TestGateway::start().await;
    let response = send(
        gw.admin(Method::POST, "/api_keys")
            .json(&json!({"name": "backend"})),
    )
    .await;
    assert_eq!(response.status(), 201);
    let created: Value = response.json().await.unwrap();
    let key = created["key"].as_str().unwrap().to_owned();
    let id = created["_id"].as_str().unwrap().to_owned();
    assert_eq!(created["name"], "backend");

    let listed: Value = json_of(gw.admin(Method::GET, "/api_keys")).await;
    assert_eq!(
        listed,
        json!([{"_id": id, "name": "backend", "disabled": false}])
    );
    let response = send(
        gw.admin(Method::POST, "/api_keys")
            .json(&json!({"name": "backend"})),
    )
    .await;
    assert_error(response, 409, "APIKeyAlreadyExists").await;

    let login: Login = login_key_raw(&gw, &key).await.json().await.unwrap();
    let me = profile(&gw, &login.access_token).await;
    assert_eq!(me["type"], "server");
    assert_eq!(me["data"]["name"], "backend");
    assert_eq!(provider_types(&me), vec!["api-key"]);
    let server_user: Value =
        json_of(gw.admin(Method::GET, &format!("/users/{}", login.user_id))).await;
    assert_eq!(server_user["type"], "server");

    // Disabling refuses the key and ends its sessions.
    let response = gw
        .admin(Method::PUT, &format!("/api_keys/{id}/disable"))
        .send()
        .await
        .unwrap();
    assert_empty(response, 204).await;
    assert_error(login_key_raw(&gw, &key).await, 401, "InvalidPassword").await;
    assert_error(
        gw.get_upstream("/items", &login.access_token).await,
        401,
        "InvalidSession",
    )
    .await;
    let response = gw
        .admin(Method::PUT, &format!("/api_keys/{id}/enable"))
        .send()
        .await
        .unwrap();
    assert_empty(response, 204).await;
    let again: Login = login_key_raw(&gw, &key).await.json().await.unwrap();
    assert_eq!(again.user_id, login.user_id);

    // A user key is not a server key.
    let owner = user(&gw, "not-server@example.com").await;
    let user_key = create_key(&gw, &owner.refresh_token, "mine").await;
    let response = gw
        .admin(
            Method::GET,
            &format!("/api_keys/{}", user_key["_id"].as_str().unwrap()),
        )
        .send()
        .await
        .unwrap();
    assert_error(response, 404, "APIKeyNotFound").await;

    // Deleting the key deletes its user and every session.
    let response = gw
        .admin(Method::DELETE, &format!("/api_keys/{id}"))
        .send()
        .await
        .unwrap();
    assert_empty(response, 204).await;
    let response = gw
        .admin(Method::GET, &format!("/users/{}", login.user_id))
        .send()
        .await
        .unwrap();
    assert_error(response, 404, "UserNotFound").await;
    assert_error(
        gw.get_upstream("/items", &again.access_token).await,
        401,
        "InvalidSession",
    )
    .await;
    assert_error(login_key_raw(&gw, &key).await, 401, "InvalidPassword").await;
    let listed: Value = json_of(gw.admin(Method::GET, "/api_keys")).await;
    assert_eq!(listed, json!([]));
}

// ---------------------------------------------------------------------------------------------
// confirmation

#[tokio::test]
async fn confirmation_token_from_the_webhook_confirms_once() {
    let hooks = Hooks::start().await;
    let gw = start(&hooks, false).await;
    let email = "confirm-me@example.com";
    gw.register(email, PASSWORD).await;
    let delivery = hooks.next("confirm", email).await;
    assert_eq!(delivery.token.len(), 43, "256-bit base64url token");

    let response = gw.login_userpass_raw(email, PASSWORD).await;
    let body = assert_error(response, 401, "InvalidPassword").await;
    assert_eq!(body["error"], "confirmation required");

    let token = json!({"token": delivery.token, "tokenId": delivery.token_id});
    let response = post(&gw, &userpass(&gw, "/confirm"), token.clone()).await;
    assert_empty(response, 204).await;
    gw.login_userpass(email, PASSWORD).await;

    let response = post(&gw, &userpass(&gw, "/confirm"), token).await;
    assert_error(response, 400, "UserpassTokenInvalid").await;
    // A token id with another token is refused too.
    let response = post(
        &gw,
        &userpass(&gw, "/confirm"),
        json!({"token": "x", "tokenId": delivery.token_id}),
    )
    .await;
    assert_error(response, 400, "UserpassTokenInvalid").await;
}

#[tokio::test]
async fn confirm_send_and_call_deliver_fresh_tokens() {
    let hooks = Hooks::start().await;
    let gw = start(&hooks, false).await;
    let email = "resend@example.com";
    gw.register(email, PASSWORD).await;
    let first = hooks.next("confirm", email).await;

    let response = post(
        &gw,
        &userpass(&gw, "/confirm/send"),
        json!({"email": email}),
    )
    .await;
    assert_empty(response, 204).await;
    let second = hooks.next("confirm", email).await;
    assert_ne!(second.token, first.token);

    let response = post(
        &gw,
        &userpass(&gw, "/confirm/call"),
        json!({"email": email}),
    )
    .await;
    assert_empty(response, 204).await;
    let third = hooks.next("confirm", email).await;

    let response = confirm_with(&gw, &third).await;
    assert_empty(response, 204).await;
    gw.login_userpass(email, PASSWORD).await;
}

#[tokio::test]
async fn expired_confirmation_token_is_refused() {
    let hooks = Hooks::start().await;
    let gw = start(&hooks, false).await;
    let email = "late@example.com";
    gw.register(email, PASSWORD).await;
    let delivery = hooks.next("confirm", email).await;
    let mut db = open_db(&gw).await;
    let updated = sqlx::query("UPDATE user_tokens SET expires_at = 1 WHERE id = ?")
        .bind(&delivery.token_id)
        .execute(&mut db)
        .await
        .unwrap();
    assert_eq!(updated.rows_affected(), 1);
    let response = confirm_with(&gw, &delivery).await;
    assert_error(response, 400, "UserpassTokenInvalid").await;
    assert_error(
        gw.login_userpass_raw(email, PASSWORD).await,
        401,
        "InvalidPassword",
    )
    .await;
}

#[tokio::test]
async fn confirmation_webhook_failures_are_502_and_504_json() {
    let hooks = Hooks::start().await;
    for (path, status, code) in [
        ("/status/500", 502, "UpstreamUnavailable"),
        ("/hang", 504, "UpstreamTimeout"),
    ] {
        let toml = format!(
            "[providers.local_userpass]\nauto_confirm = false\nconfirmation_url = \"{}\"\nwebhook_timeout = \"1s\"",
            hooks.url(path)
        );
        let gw = TestGateway::start_with(Options::default().toml(&toml)).await;
        let response = post(
            &gw,
            &userpass(&gw, "/register"),
            json!({"email": "hook@example.com", "password": PASSWORD}),
        )
        .await;
        assert_error(response, status, code).await;
    }
    // Nothing listens on a port that was just released.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/confirm", closed.local_addr().unwrap());
    drop(closed);
    let toml =
        format!("[providers.local_userpass]\nauto_confirm = false\nconfirmation_url = \"{url}\"");
    let gw = TestGateway::start_with(Options::default().toml(&toml)).await;
    let response = post(
        &gw,
        &userpass(&gw, "/register"),
        json!({"email": "hook@example.com", "password": PASSWORD}),
    )
    .await;
    assert_error(response, 502, "UpstreamUnavailable").await;
}

// ---------------------------------------------------------------------------------------------
// password reset

#[tokio::test]
async fn reset_send_then_reset_sets_the_password_and_revokes_sessions() {
    let hooks = Hooks::start().await;
    let gw = start(&hooks, true).await;
    let email = "forgot@example.com";
    let before = user(&gw, email).await;
    gw.echo("/items", &before.access_token).await;

    let response = post(&gw, &userpass(&gw, "/reset/send"), json!({"email": email})).await;
    assert_empty(response, 204).await;
    let delivery = hooks.next("reset", email).await;

    // A password breaking the rule is refused and does not use up the token.
    let response = reset_with(&gw, &delivery, "short").await;
    assert_error(response, 400, "BadRequest").await;

    let reset =
        json!({"token": delivery.token, "tokenId": delivery.token_id, "password": "N3w-password"});
    let response = post(&gw, &userpass(&gw, "/reset"), reset.clone()).await;
    assert_empty(response, 204).await;

    assert_error(
        gw.get_upstream("/items", &before.access_token).await,
        401,
        "InvalidSession",
    )
    .await;
    assert_error(
        gw.refresh(&before.refresh_token).await,
        401,
        "InvalidSession",
    )
    .await;
    assert_error(
        gw.login_userpass_raw(email, PASSWORD).await,
        401,
        "InvalidPassword",
    )
    .await;
    gw.login_userpass(email, "N3w-password").await;

    let response = post(&gw, &userpass(&gw, "/reset"), reset).await;
    assert_error(response, 400, "UserpassTokenInvalid").await;
}

#[tokio::test]
async fn reset_call_follows_the_webhook_decision() {
    let hooks = Hooks::start().await;
    let gw = start(&hooks, true).await;
    let email = "call-reset@example.com";
    user(&gw, email).await;
    let call = |password: &str| json!({"email": email, "password": password, "arguments": [{"$numberInt": "7"}, "why"]});

    // success: set at once.
    hooks.set_reset_answer(json!({"status": "success"}));
    let response = post(&gw, &userpass(&gw, "/reset/call"), call("Success-1")).await;
    assert_empty(response, 204).await;
    let delivery = hooks.next("reset", email).await;
    assert_eq!(
        delivery.arguments,
        Some(json!([{"$numberInt": "7"}, "why"]))
    );
    gw.login_userpass(email, "Success-1").await;
    // The token of a success is used up.
    let response = reset_with(&gw, &delivery, "Other-pass").await;
    assert_error(response, 400, "UserpassTokenInvalid").await;

    // pending: nothing changes until the token is used with /reset.
    hooks.set_reset_answer(json!({"status": "pending"}));
    let response = post(&gw, &userpass(&gw, "/reset/call"), call("Ignored-2")).await;
    assert_empty(response, 204).await;
    let delivery = hooks.next("reset", email).await;
    gw.login_userpass(email, "Success-1").await;
    assert_error(
        gw.login_userpass_raw(email, "Ignored-2").await,
        401,
        "InvalidPassword",
    )
    .await;
    let response = reset_with(&gw, &delivery, "Pending-3").await;
    assert_empty(response, 204).await;
    gw.login_userpass(email, "Pending-3").await;

    // fail: 400, nothing changes.
    hooks.set_reset_answer(json!({"status": "fail"}));
    let response = post(&gw, &userpass(&gw, "/reset/call"), call("Failed-4")).await;
    assert_error(response, 400, "BadRequest").await;
    gw.login_userpass(email, "Pending-3").await;

    // anything else from the webhook is its fault: 502.
    hooks.set_reset_answer(json!({"ok": true}));
    let response = post(&gw, &userpass(&gw, "/reset/call"), call("Broken-5")).await;
    assert_error(response, 502, "UpstreamUnavailable").await;
    gw.login_userpass(email, "Pending-3").await;
}

#[tokio::test]
async fn password_rules_hold_for_register_reset_and_reset_call() {
    let hooks = Hooks::start().await;
    let gw = start(&hooks, true).await;
    for password in ["12345".to_owned(), "x".repeat(129)] {
        let response = post(
            &gw,
            &userpass(&gw, "/register"),
            json!({"email": "rules@example.com", "password": password}),
        )
        .await;
        assert_error(response, 400, "BadRequest").await;
        let response = post(
            &gw,
            &userpass(&gw, "/reset/call"),
            json!({"email": "rules@example.com", "password": password, "arguments": []}),
        )
        .await;
        assert_error(response, 400, "BadRequest").await;
    }
    // 6 and 128 characters (not bytes) are fine.
    gw.register("six@example.com", "123456").await;
    gw.register("long@example.com", &"é".repeat(128)).await;
    assert!(
        hooks.bodies("/reset").is_empty(),
        "no webhook for a refused password"
    );
}

#[tokio::test]
async fn unknown_emails_get_exactly_the_answers_known_ones_get() {
    let hooks = Hooks::start().await;
    let gw = start(&hooks, false).await;
    let known = "known@example.com";
    let unknown = "nobody@example.com";
    gw.register(known, PASSWORD).await;
    hooks.next("confirm", known).await;

    for path in ["/confirm/send", "/confirm/call", "/reset/send"] {
        let a = answer(post(&gw, &userpass(&gw, path), json!({"email": known})).await).await;
        let b = answer(post(&gw, &userpass(&gw, path), json!({"email": unknown})).await).await;
        assert_eq!(a, b, "{path}");
        assert_eq!(a.0, 204, "{path}");
    }
    // The known email got its tokens; the unknown one gets none.
    hooks.next("confirm", known).await;
    hooks.next("confirm", known).await;
    hooks.next("reset", known).await;
    assert!(!hooks.has("confirm", unknown) && !hooks.has("reset", unknown));

    for decision in ["pending", "success", "fail"] {
        hooks.set_reset_answer(json!({"status": decision}));
        let body = |email: &str| json!({"email": email, "password": "Whatever-9", "arguments": []});
        let a = answer(post(&gw, &userpass(&gw, "/reset/call"), body(known)).await).await;
        let b = answer(post(&gw, &userpass(&gw, "/reset/call"), body(unknown)).await).await;
        assert_eq!(a, b, "reset/call {decision}");
    }
    // The unknown email's reset/call token was never stored: it resets nothing.
    let decoy = hooks.next("reset", unknown).await;
    let response = reset_with(&gw, &decoy, "Whatever-9").await;
    assert_error(response, 400, "UserpassTokenInvalid").await;

    // A malformed email is refused the same way for everyone.
    let response = post(
        &gw,
        &userpass(&gw, "/reset/send"),
        json!({"email": "no-at"}),
    )
    .await;
    assert_error(response, 400, "BadRequest").await;
}

// ---------------------------------------------------------------------------------------------
// identity linking

#[tokio::test]
async fn anonymous_user_links_email_password() {
    let gw = TestGateway::start().await;
    let anon = gw.login_anon().await;
    let email = "linked@example.com";
    gw.register(email, PASSWORD).await;
    let response = gw
        .http
        .post(link_url(&gw, "local-userpass"))
        .bearer_auth(&anon.access_token)
        .json(&json!({"username": email, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let linked: Login = response.json().await.unwrap();
    assert_eq!(linked.user_id, anon.user_id);

    let me = profile(&gw, &linked.access_token).await;
    assert_eq!(provider_types(&me), vec!["anon-user", "local-userpass"]);
    assert_eq!(me["data"]["email"], email);
    // From now on the email logs in as the (formerly anonymous) user.
    let later = gw.login_userpass(email, PASSWORD).await;
    assert_eq!(later.user_id, anon.user_id);
    // The user that registration created is gone: one user has the email.
    let users: Value = json_of(gw.admin(Method::GET, &format!("/users?email={email}"))).await;
    assert_eq!(users.as_array().unwrap().len(), 1, "{users}");
    assert_eq!(users[0]["_id"], anon.user_id);
    // The user is no longer anonymous: it may create API keys.
    create_key(&gw, &anon.refresh_token, "after-link").await;
}

#[tokio::test]
async fn linking_an_identity_of_another_user_is_refused_and_changes_nothing() {
    let gw = TestGateway::start().await;
    let owner = user(&gw, "owner@example.com").await;
    let anon = gw.login_anon().await;
    let response = gw
        .http
        .post(link_url(&gw, "local-userpass"))
        .bearer_auth(&anon.access_token)
        .json(&json!({"username": "owner@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_error(response, 409, "AccountNameInUse").await;
    let me = profile(&gw, &anon.access_token).await;
    assert_eq!(provider_types(&me), vec!["anon-user"]);
    let again = gw.login_userpass("owner@example.com", PASSWORD).await;
    assert_eq!(again.user_id, owner.user_id);
    assert_eq!(
        provider_types(&profile(&gw, &again.access_token).await),
        vec!["local-userpass"]
    );

    // A wrong password proves nothing.
    gw.register("pending@example.com", PASSWORD).await;
    let response = gw
        .http
        .post(link_url(&gw, "local-userpass"))
        .bearer_auth(&anon.access_token)
        .json(&json!({"username": "pending@example.com", "password": "wrong-password"}))
        .send()
        .await
        .unwrap();
    assert_error(response, 401, "InvalidPassword").await;

    // Someone else's API key cannot be linked either; one's own can.
    let key = create_key(&gw, &owner.refresh_token, "k").await;
    let response = gw
        .http
        .post(link_url(&gw, "api-key"))
        .bearer_auth(&anon.access_token)
        .json(&json!({"key": key["key"]}))
        .send()
        .await
        .unwrap();
    assert_error(response, 409, "AccountNameInUse").await;
    let response = gw
        .http
        .post(link_url(&gw, "api-key"))
        .bearer_auth(&owner.access_token)
        .json(&json!({"key": key["key"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let relinked: Login = response.json().await.unwrap();
    assert_eq!(relinked.user_id, owner.user_id);
}

#[tokio::test]
async fn linking_needs_an_access_token_and_a_linkable_provider() {
    let gw = TestGateway::start().await;
    let anon = gw.login_anon().await;
    let response = gw
        .http
        .post(link_url(&gw, "anon-user"))
        .bearer_auth(&anon.access_token)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_error(response, 400, "InvalidParameter").await;
    gw.register("needs-token@example.com", PASSWORD).await;
    let body = json!({"username": "needs-token@example.com", "password": PASSWORD});
    let response = gw
        .http
        .post(link_url(&gw, "local-userpass"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_error(response, 401, "InvalidSession").await;
    let response = gw
        .http
        .post(link_url(&gw, "local-userpass"))
        .bearer_auth(&anon.refresh_token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_error(response, 401, "InvalidSession").await;
    assert_eq!(
        provider_types(&profile(&gw, &anon.access_token).await),
        vec!["anon-user"]
    );
}

// ---------------------------------------------------------------------------------------------
// Data API credential headers

#[tokio::test]
async fn data_api_headers_authenticate_and_never_reach_the_upstream() {
    let hooks = Hooks::start().await;
    let gw = start(&hooks, true).await;
    let owner = user(&gw, "data@example.com").await;
    let key = create_key(&gw, &owner.refresh_token, "data").await;
    let key = key["key"].as_str().unwrap();

    let response = gw
        .http
        .get(gw.url("/data/find"))
        .header("apiKey", key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let seen: Value = response.json().await.unwrap();
    assert_eq!(seen["headers"]["x-user-id"], owner.user_id);
    assert_eq!(seen["headers"]["x-session-id"], "data-api");
    assert_eq!(seen["headers"]["x-user-provider"], "api-key");
    assert!(seen["headers"].get("apikey").is_none(), "{seen}");

    let response = gw
        .http
        .get(gw.url("/data/find"))
        .header("email", "data@example.com")
        .header("password", PASSWORD)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let seen: Value = response.json().await.unwrap();
    assert_eq!(seen["headers"]["x-user-id"], owner.user_id);
    assert_eq!(seen["headers"]["x-user-provider"], "local-userpass");
    assert!(seen["headers"].get("email").is_none(), "{seen}");
    assert!(seen["headers"].get("password").is_none(), "{seen}");
    assert!(!seen.to_string().contains(PASSWORD));

    // With a token the headers are not used, and still removed.
    let response = gw
        .http
        .get(gw.url("/data/find"))
        .bearer_auth(&owner.access_token)
        .header("apiKey", "garbage")
        .send()
        .await
        .unwrap();
    let seen: Value = response.json().await.unwrap();
    assert_eq!(seen["headers"]["x-session-id"], sid_of(&owner.access_token));
    assert!(seen["headers"].get("apikey").is_none(), "{seen}");

    let upstream_before = gw.upstream.request_count();
    for headers in [
        vec![("apiKey", "0".repeat(64))],
        vec![
            ("email", "data@example.com".to_owned()),
            ("password", "wrong-password".to_owned()),
        ],
        vec![("email", "data@example.com".to_owned())],
        vec![("jwtTokenString", "a.b.c".to_owned())],
    ] {
        let mut request = gw.http.get(gw.url("/data/find"));
        for (name, value) in &headers {
            request = request.header(*name, value);
        }
        assert_error(request.send().await.unwrap(), 401, "InvalidSession").await;
    }
    assert_eq!(gw.upstream.request_count(), upstream_before);

    // Other routes do not accept the headers.
    let response = gw
        .http
        .get(gw.url("/items"))
        .header("apiKey", key)
        .send()
        .await
        .unwrap();
    assert_error(response, 401, "InvalidSession").await;
}

#[tokio::test]
async fn data_api_cache_forgets_a_disabled_key_at_once() {
    let hooks = Hooks::start().await;
    let gw = start(&hooks, true).await;
    let owner = user(&gw, "cache@example.com").await;
    let created = create_key(&gw, &owner.refresh_token, "cached").await;
    let key = created["key"].as_str().unwrap();
    for _ in 0..2 {
        let response = gw
            .http
            .get(gw.url("/data/x"))
            .header("apiKey", key)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    keys_request(
        &gw,
        Method::PUT,
        &format!("/{}/disable", created["_id"].as_str().unwrap()),
        &owner.refresh_token,
    )
    .send()
    .await
    .unwrap();
    let response = gw
        .http
        .get(gw.url("/data/x"))
        .header("apiKey", key)
        .send()
        .await
        .unwrap();
    assert_error(response, 401, "InvalidSession").await;
}

fn sid_of(access_token: &str) -> String {
    jwt_payload(access_token)["sid"]
        .as_str()
        .unwrap()
        .to_owned()
}

// ---------------------------------------------------------------------------------------------
// the store keeps no secret in clear

#[tokio::test]
async fn the_store_holds_no_clear_text_key_or_token() {
    let hooks = Hooks::start().await;
    let gw = start(&hooks, false).await;
    let email = "secrets@example.com";
    gw.register(email, PASSWORD).await;
    let confirm = hooks.next("confirm", email).await;
    // A second confirmation token that stays unused, and a reset token waiting in the store.
    post(
        &gw,
        &userpass(&gw, "/confirm/call"),
        json!({"email": email}),
    )
    .await;
    let unused = hooks.next("confirm", email).await;
    let response = confirm_with(&gw, &confirm).await;
    assert_empty(response, 204).await;
    post(&gw, &userpass(&gw, "/reset/send"), json!({"email": email})).await;
    let reset = hooks.next("reset", email).await;
    let login = gw.login_userpass(email, PASSWORD).await;
    let user_key = create_key(&gw, &login.refresh_token, "secret-key").await;
    let server_key: Value = json_of(
        gw.admin(Method::POST, "/api_keys")
            .json(&json!({"name": "server-secret"})),
    )
    .await;

    let mut db = open_db(&gw).await;
    let waiting: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM user_tokens WHERE id IN (?, ?)")
        .bind(&reset.token_id)
        .bind(&unused.token_id)
        .fetch_one(&mut db)
        .await
        .unwrap();
    assert_eq!(waiting, 2, "the unused tokens are in the store, as digests");
    let secrets = [
        user_key["key"].as_str().unwrap().to_owned(),
        server_key["key"].as_str().unwrap().to_owned(),
        confirm.token.clone(),
        unused.token.clone(),
        reset.token.clone(),
        login.refresh_token.clone(),
        PASSWORD.to_owned(),
    ];
    let tables: Vec<String> =
        sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table'")
            .fetch_all(&mut db)
            .await
            .unwrap();
    let mut searched = 0;
    for table in &tables {
        let columns: Vec<String> =
            sqlx::query_scalar(&format!("SELECT name FROM pragma_table_info('{table}')"))
                .fetch_all(&mut db)
                .await
                .unwrap();
        for column in columns {
            let values: Vec<Option<Vec<u8>>> = sqlx::query_scalar(&format!(
                "SELECT CAST(\"{column}\" AS BLOB) FROM \"{table}\""
            ))
            .fetch_all(&mut db)
            .await
            .unwrap();
            for value in values.into_iter().flatten() {
                searched += 1;
                let hex = hex::encode(&value);
                for secret in &secrets {
                    let needle = secret.as_bytes();
                    assert!(
                        !value.windows(needle.len()).any(|w| w == needle)
                            && !hex.contains(&hex::encode(needle)),
                        "a secret is stored in clear in {table}.{column}"
                    );
                }
            }
        }
    }
    assert!(searched > 20, "searched {searched} values");
    drop(db);
    gw.stop().await;
}
