//! The admin listener: health and readiness, the admin key, and the App Services Admin API
//! user routes (`verify_token`, `logout`), against a gateway on port 0.

mod common;

use common::*;
use reqwest::Method;
use serde_json::{Value, json};

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs() as i64
}

async fn verify_token(gw: &TestGateway, token: &str) -> reqwest::Response {
    gw.admin(Method::POST, "/users/verify_token")
        .json(&json!({ "token": token }))
        .send()
        .await
        .expect("verify_token request")
}

async fn admin_logout(gw: &TestGateway, user_id: &str) -> reqwest::Response {
    gw.admin(Method::PUT, &format!("/users/{user_id}/logout"))
        .send()
        .await
        .expect("admin logout request")
}

// ---------------------------------------------------------------------------------------------
// health

#[tokio::test]
async fn healthz_is_200() {
    let gw = TestGateway::start().await;
    let response = gw
        .http
        .get(format!("{}/healthz", gw.admin_url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn health_metrics_and_openapi_answer_other_methods_405_naming_get() {
    let gw = TestGateway::start().await;
    for path in ["/healthz", "/readyz", "/metrics", "/openapi.json"] {
        let response = gw
            .http
            .post(format!("{}{path}", gw.admin_url))
            .send()
            .await
            .unwrap();
        assert_eq!(response.headers()["allow"], "GET", "{path}");
        assert_json_error(response, 405).await;
    }
}

#[tokio::test]
async fn readyz_is_200_until_the_store_is_gone_then_503_json() {
    let gw = TestGateway::start().await;
    let url = format!("{}/readyz", gw.admin_url);
    let response = gw.http.get(&url).send().await.unwrap();
    assert_eq!(response.status(), 200);

    gw.state.auth.store().close().await;
    let response = gw.http.get(&url).send().await.unwrap();
    assert_json_status(response, 503).await;
}

#[tokio::test]
async fn health_stays_open_without_the_admin_key() {
    let gw = TestGateway::start().await;
    let response = gw
        .http
        .get(format!("{}/healthz", gw.admin_url))
        .bearer_auth("wrong-key")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

// ---------------------------------------------------------------------------------------------
// admin key

#[tokio::test]
async fn admin_api_refuses_missing_wrong_and_basic_keys() {
    let gw = TestGateway::start().await;
    let url = gw.admin_api("/users/verify_token");
    let body = json!({ "token": "x" });

    let missing = gw.http.post(&url).json(&body).send().await.unwrap();
    assert_error(missing, 401, "Unauthorized").await;

    let wrong = gw
        .http
        .post(&url)
        .bearer_auth("test-admin-key-0123456788")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_error(wrong, 401, "Unauthorized").await;

    let prefix = gw
        .http
        .post(&url)
        .bearer_auth(&ADMIN_KEY[..ADMIN_KEY.len() - 1])
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_error(prefix, 401, "Unauthorized").await;

    let basic = gw
        .http
        .post(&url)
        .header("authorization", format!("Basic {ADMIN_KEY}"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_error(basic, 401, "Unauthorized").await;

    let logout = gw
        .http
        .put(gw.admin_api("/users/0123456789abcdef01234567/logout"))
        .bearer_auth("wrong")
        .send()
        .await
        .unwrap();
    assert_error(logout, 401, "Unauthorized").await;
}

#[tokio::test]
async fn empty_admin_key_setting_disables_the_admin_api() {
    // config.rs treats an empty SESSIONGATE_ADMIN__API_KEY as "no key": the admin API then
    // refuses everyone.
    let gw =
        TestGateway::start_with(Options::default().env("SESSIONGATE_ADMIN__API_KEY", "")).await;
    assert!(gw.state.config.admin.api_key.is_none());
    let login = gw.login_anon().await;
    for auth in [None, Some(""), Some(ADMIN_KEY)] {
        let mut request = gw
            .http
            .post(gw.admin_api("/users/verify_token"))
            .json(&json!({ "token": login.access_token }));
        if let Some(key) = auth {
            request = request.header("authorization", format!("Bearer {key}"));
        }
        let response = request.send().await.unwrap();
        assert_error(response, 401, "Unauthorized").await;
    }
    let response = gw
        .http
        .put(gw.admin_api(&format!("/users/{}/logout", login.user_id)))
        .bearer_auth(ADMIN_KEY)
        .send()
        .await
        .unwrap();
    assert_error(response, 401, "Unauthorized").await;
    // The user was not logged out.
    assert_eq!(gw.refresh(&login.refresh_token).await.status(), 201);
    // Health stays open.
    let response = gw
        .http
        .get(format!("{}/healthz", gw.admin_url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn admin_api_is_not_served_on_the_client_listener() {
    let gw = TestGateway::start().await;
    let login = gw.login_anon().await;
    let path = format!("/api/admin/v3.0/groups/test-group/apps/{APP_ID}/users/verify_token");

    // Without a token it is a proxied route like any other: 401.
    let response = gw
        .http
        .post(gw.url(&path))
        .json(&json!({ "token": login.access_token }))
        .send()
        .await
        .unwrap();
    assert_error(response, 401, "InvalidSession").await;

    // The admin key is not a user token.
    let response = gw
        .http
        .post(gw.url(&path))
        .bearer_auth(ADMIN_KEY)
        .json(&json!({ "token": login.access_token }))
        .send()
        .await
        .unwrap();
    assert_error(response, 401, "InvalidSession").await;

    // With a user token it goes upstream; the gateway does not answer verify_token here.
    let before = gw.upstream.request_count();
    let response = gw
        .http
        .post(gw.url(&path))
        .bearer_auth(&login.access_token)
        .json(&json!({ "token": login.access_token }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["path"], path.as_str(), "{body}");
    assert_eq!(body["method"], "POST", "{body}");
    assert!(body.get("sub").is_none(), "{body}");
    assert_eq!(gw.upstream.request_count(), before + 1);

    // Logout on the client listener is proxied as well, not executed.
    let logout = format!(
        "/api/admin/v3.0/groups/test-group/apps/{APP_ID}/users/{}/logout",
        login.user_id
    );
    let response = gw
        .http
        .put(gw.url(&logout))
        .bearer_auth(&login.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["path"], logout.as_str(), "{body}");
    assert_eq!(gw.refresh(&login.refresh_token).await.status(), 201);
}

// ---------------------------------------------------------------------------------------------
// verify_token

#[tokio::test]
async fn verify_token_decodes_a_valid_token() {
    let gw = TestGateway::start().await;
    let login = gw.login_anon().await;
    let response = verify_token(&gw, &login.access_token).await;
    let body = assert_json_status(response, 200).await;
    let claims = jwt_payload(&login.access_token);
    assert_eq!(body["sub"], login.user_id.as_str(), "{body}");
    assert_eq!(body["exp"], claims["exp"], "{body}");
    assert_eq!(body["iat"], claims["iat"], "{body}");
    assert_eq!(body["iss"], APP_ID, "{body}");
    assert_eq!(body["device_id"], login.device_id.as_str(), "{body}");
    // domain_id is the one the profile reports.
    let profile: Value = gw
        .http
        .get(gw.client_api("/auth/profile"))
        .bearer_auth(&login.access_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        body["domain_id"].as_str().is_some_and(|d| !d.is_empty()),
        "{body}"
    );
    assert_eq!(body["domain_id"], profile["domain_id"], "{body}");
}

#[tokio::test]
async fn verify_token_of_an_expired_token_is_200_token_expired() {
    let gw = TestGateway::start().await;
    let login = gw.login_anon().await;
    let claims = jwt_payload(&login.access_token);
    let now = now();
    let expired = forge_hs256(
        &json!({
            "sub": login.user_id,
            "sid": claims["sid"],
            "iat": now - 7200,
            "exp": now - 3600,
            "iss": APP_ID,
            "typ": "access",
            "baas_device_id": login.device_id,
            "baas_provider": "anon-user",
            "user_data": {},
        }),
        &jwt_kid(&login.access_token),
        SIGNING_SECRET.as_bytes(),
    );
    let response = verify_token(&gw, &expired).await;
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let text = response.text().await.unwrap();
    // Exactly the JSON string (the gateway ends every JSON body with a newline).
    assert_eq!(text.trim_end(), r#""token expired""#, "{text:?}");
    assert_eq!(
        serde_json::from_str::<Value>(&text).unwrap(),
        json!("token expired")
    );
}

#[tokio::test]
async fn verify_token_of_an_expired_token_with_a_bad_signature_is_401_not_expired() {
    let gw = TestGateway::start().await;
    let login = gw.login_anon().await;
    let mut claims = jwt_payload(&login.access_token);
    let now = now();
    claims["iat"] = json!(now - 7200);
    claims["exp"] = json!(now - 3600);
    let forged = forge_hs256(
        &claims,
        &jwt_kid(&login.access_token),
        b"another-secret-another-secret-0123456789",
    );
    let response = verify_token(&gw, &forged).await;
    let body = assert_json_status(response, 401).await;
    assert_eq!(body["error"], "signature is invalid", "{body}");
}

#[tokio::test]
async fn verify_token_with_a_bad_signature_is_401_signature_is_invalid() {
    let gw = TestGateway::start().await;
    let login = gw.login_anon().await;

    // Same claims, signed with another secret under the gateway's kid.
    let forged = forge_hs256(
        &jwt_payload(&login.access_token),
        &jwt_kid(&login.access_token),
        b"another-secret-another-secret-0123456789",
    );
    // The real token with its signature altered.
    let (head, signature) = login.access_token.rsplit_once('.').unwrap();
    let flipped = if signature.starts_with('A') { "B" } else { "A" };
    let tampered = format!("{head}.{flipped}{}", &signature[1..]);

    for token in [forged, tampered] {
        let response = verify_token(&gw, &token).await;
        let body = assert_json_status(response, 401).await;
        assert_eq!(body["error"], "signature is invalid", "{body}");
    }
}

#[tokio::test]
async fn verify_token_without_token_is_400() {
    let gw = TestGateway::start().await;
    for body in [json!({}), json!({ "token": "" }), json!({ "other": 1 })] {
        let response = gw
            .admin(Method::POST, "/users/verify_token")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_json_status(response, 400).await;
    }
    let response = gw
        .admin(Method::POST, "/users/verify_token")
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_json_status(response, 400).await;
}

#[tokio::test]
async fn verify_token_for_another_app_is_404() {
    let gw = TestGateway::start().await;
    let login = gw.login_anon().await;
    let response = gw
        .http
        .post(format!(
            "{}/api/admin/v3.0/groups/test-group/apps/other-app/users/verify_token",
            gw.admin_url
        ))
        .bearer_auth(ADMIN_KEY)
        .json(&json!({ "token": login.access_token }))
        .send()
        .await
        .unwrap();
    assert_error(response, 404, "AppNotFound").await;
}

#[tokio::test]
async fn verify_token_with_get_or_delete_is_405_naming_post() {
    let gw = TestGateway::start().await;
    // DELETE used to read `verify_token` as a user id (404 UserNotFound).
    for method in [Method::GET, Method::DELETE] {
        let response = gw
            .admin(method.clone(), "/users/verify_token")
            .send()
            .await
            .unwrap();
        assert_eq!(response.headers()["allow"], "POST", "{method}");
        assert_json_status(response, 405).await;
    }
}

// ---------------------------------------------------------------------------------------------
// users/{userId}/logout

#[tokio::test]
async fn admin_logout_kills_every_session_of_the_user_only() {
    let gw = TestGateway::start().await;
    gw.register("dave@example.com", "Pa55w0rd!").await;
    let first = gw.login_userpass("dave@example.com", "Pa55w0rd!").await;
    let second = gw.login_userpass("dave@example.com", "Pa55w0rd!").await;
    let bystander = gw.login_anon().await;
    // The access tokens are verified and cached by a proxied request first.
    for login in [&first, &second, &bystander] {
        gw.echo("/data/warm", &login.access_token).await;
    }

    let response = admin_logout(&gw, &first.user_id).await;
    assert_eq!(response.status(), 204);
    assert!(response.bytes().await.unwrap().is_empty());

    for login in [&first, &second] {
        let response = gw.refresh(&login.refresh_token).await;
        assert_error(response, 401, "InvalidSession").await;
        let response = gw.get_upstream("/data/after", &login.access_token).await;
        assert_error(response, 401, "InvalidSession").await;
    }

    // Another user's session is unaffected.
    let seen = gw.echo("/data/after", &bystander.access_token).await;
    assert_eq!(seen["headers"]["x-user-id"], bystander.user_id.as_str());
    assert_eq!(gw.refresh(&bystander.refresh_token).await.status(), 201);

    // The user can log in again afterwards.
    let again = gw.login_userpass("dave@example.com", "Pa55w0rd!").await;
    gw.echo("/data/again", &again.access_token).await;
}

#[tokio::test]
async fn admin_logout_of_an_unknown_user_is_404() {
    let gw = TestGateway::start().await;
    let response = admin_logout(&gw, "0123456789abcdef01234567").await;
    assert_json_status(response, 404).await;
}

// ---------------------------------------------------------------------------------------------
// mongodb-cloud login: Admin API scripts log in with an admin key and use the access token

async fn cloud_login(gw: &TestGateway, body: Value) -> reqwest::Response {
    gw.http
        .post(format!(
            "{}/api/admin/v3.0/auth/providers/mongodb-cloud/login",
            gw.admin_url
        ))
        .json(&body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn an_admin_key_logs_in_and_its_access_token_is_the_admin_bearer() {
    let keys = tempfile::tempdir().unwrap();
    let ops_file = keys.path().join("ops.key");
    std::fs::write(&ops_file, "ops-admin-key-0123456789").unwrap();
    let gw = TestGateway::start_with(Options::default().toml(&format!(
        "[[admin.keys]]\nname = \"ops\"\nkey_file = \"{}\"\n",
        ops_file.display()
    )))
    .await;
    let users = |bearer: &str| {
        gw.http
            .get(gw.admin_api("/users"))
            .bearer_auth(bearer)
            .send()
    };

    // Both keys are admin keys; each logs in under its name.
    for (key, name) in [(ADMIN_KEY, "default"), ("ops-admin-key-0123456789", "ops")] {
        assert_eq!(users(key).await.unwrap().status(), 200, "{name}");
        let response = cloud_login(&gw, json!({"username": "my-public-key", "apiKey": key})).await;
        let body = assert_json_status(response, 200).await;
        assert_eq!(body["user_id"], name);
        let access = body["access_token"].as_str().unwrap();
        let refresh = body["refresh_token"].as_str().unwrap();
        assert_eq!(users(access).await.unwrap().status(), 200);
        assert_eq!(
            users(refresh).await.unwrap().status(),
            401,
            "a refresh token is not the admin Bearer"
        );
        let response = gw
            .http
            .post(format!("{}/api/admin/v3.0/auth/session", gw.admin_url))
            .bearer_auth(refresh)
            .send()
            .await
            .unwrap();
        let renewed = assert_json_status(response, 201).await;
        let renewed = renewed["access_token"].as_str().unwrap();
        assert_eq!(users(renewed).await.unwrap().status(), 200);
    }

    // A forged or altered token, a wrong key, a missing field.
    let body = assert_json_status(
        cloud_login(&gw, json!({"username": "x", "apiKey": ADMIN_KEY})).await,
        200,
    )
    .await;
    let access = body["access_token"].as_str().unwrap();
    let tampered = access.replacen(".default.", ".ops.", 1);
    assert_eq!(users(&tampered).await.unwrap().status(), 401);
    assert_error(
        cloud_login(
            &gw,
            json!({"username": "x", "apiKey": "not-an-admin-key-012345"}),
        )
        .await,
        401,
        "Unauthorized",
    )
    .await;
    let missing = assert_error(
        cloud_login(&gw, json!({"username": "x"})).await,
        400,
        "BadRequest",
    )
    .await;
    assert!(
        missing["error"].as_str().unwrap().contains("apiKey"),
        "{missing}"
    );
    let response = gw
        .http
        .get(format!(
            "{}/api/admin/v3.0/auth/providers/mongodb-cloud/login",
            gw.admin_url
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["allow"], "POST");
    assert_json_error(response, 405).await;
}
