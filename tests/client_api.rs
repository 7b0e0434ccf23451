//! The App Services client API the gateway answers itself: every endpoint's success answer and
//! each of its failure answers, over real HTTP against a gateway on port 0.

mod common;

use common::*;
use reqwest::Method;
use serde_json::{Value, json};

fn is_object_id(text: &str) -> bool {
    text.len() == 24 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

async fn post_register(gw: &TestGateway, body: Value) -> reqwest::Response {
    gw.http
        .post(gw.app_api("/auth/providers/local-userpass/register"))
        .json(&body)
        .send()
        .await
        .expect("register request")
}

async fn profile(gw: &TestGateway, access_token: &str) -> reqwest::Response {
    gw.http
        .get(gw.client_api("/auth/profile"))
        .bearer_auth(access_token)
        .send()
        .await
        .expect("profile request")
}

// ---------------------------------------------------------------------------------------------
// location

#[tokio::test]
async fn location_names_the_gateway_as_hostname_without_trailing_slash() {
    let gw = TestGateway::start().await;
    let response = gw.http.get(gw.app_api("/location")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let body: Value = response.json().await.unwrap();
    assert!(
        body["deployment_model"]
            .as_str()
            .is_some_and(|s| !s.is_empty()),
        "{body}"
    );
    assert!(
        body["location"].as_str().is_some_and(|s| !s.is_empty()),
        "{body}"
    );
    let hostname = body["hostname"].as_str().expect("hostname");
    assert_eq!(hostname, gw.client_url);
    assert!(!hostname.ends_with('/'), "{hostname}");
    let ws = body["ws_hostname"].as_str().expect("ws_hostname");
    assert!(ws.starts_with("ws://"), "{ws}");
    assert_eq!(
        ws.trim_start_matches("ws://"),
        hostname.trim_start_matches("http://")
    );
}

#[tokio::test]
async fn location_of_another_app_is_app_not_found() {
    let gw = TestGateway::start().await;
    let response = gw
        .http
        .get(gw.client_api("/app/other-app/location"))
        .send()
        .await
        .unwrap();
    assert_error(response, 404, "AppNotFound").await;
}

#[tokio::test]
async fn location_with_post_is_method_not_allowed_json() {
    let gw = TestGateway::start().await;
    let response = gw.http.post(gw.app_api("/location")).send().await.unwrap();
    assert_eq!(response.headers()["allow"], "GET");
    assert_json_error(response, 405).await;
}

// ---------------------------------------------------------------------------------------------
// anonymous login

#[tokio::test]
async fn anonymous_login_returns_app_services_shaped_tokens_and_ids() {
    let gw = TestGateway::start().await;
    let response = gw
        .http
        .post(gw.app_api("/auth/providers/anon-user/login"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let access = body["access_token"].as_str().expect("access_token");
    let refresh = body["refresh_token"].as_str().expect("refresh_token");
    let user_id = body["user_id"].as_str().expect("user_id");
    let device_id = body["device_id"].as_str().expect("device_id");

    assert!(is_object_id(user_id), "{user_id}");
    assert!(is_object_id(device_id), "{device_id}");

    let claims = jwt_payload(access);
    assert_eq!(claims["sub"], user_id, "{claims}");
    assert!(
        claims["sid"].as_str().is_some_and(|s| !s.is_empty()),
        "{claims}"
    );
    let iat = claims["iat"].as_i64().expect("iat");
    let exp = claims["exp"].as_i64().expect("exp");
    assert_eq!(exp - iat, 1800, "{claims}");
    assert_eq!(claims["iss"], APP_ID, "{claims}");
    assert_eq!(claims["typ"], "access", "{claims}");
    assert_eq!(claims["baas_device_id"], device_id, "{claims}");
    assert!(claims.get("user_data").is_some(), "{claims}");
    assert!(!jwt_kid(access).is_empty());

    // Opaque: long enough to be unguessable, and not a JWT.
    assert!(refresh.len() >= 43, "{refresh}");
    assert!(!refresh.contains('.'), "refresh token looks like a JWT");
    assert!(jsonwebtoken::decode_header(refresh).is_err());
    assert_ne!(refresh, access);
}

#[tokio::test]
async fn two_anonymous_logins_are_two_users() {
    let gw = TestGateway::start().await;
    let first = gw.login_anon().await;
    let second = gw.login_anon().await;
    assert_ne!(first.user_id, second.user_id);
    assert_ne!(first.refresh_token, second.refresh_token);
    assert_ne!(
        jwt_payload(&first.access_token)["sid"],
        jwt_payload(&second.access_token)["sid"]
    );
}

#[tokio::test]
async fn login_keeps_the_device_id_the_sdk_sends_as_string_or_oid() {
    let gw = TestGateway::start().await;
    let device = "5f1b2c3d4e5f6a7b8c9d0e1f";
    for body in [
        json!({ "options": { "device": { "deviceId": device } } }),
        json!({ "options": { "device": { "deviceId": { "$oid": device } } } }),
    ] {
        let response = gw
            .http
            .post(gw.app_api("/auth/providers/anon-user/login"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{body}");
        let login: Login = response.json().await.unwrap();
        assert_eq!(login.device_id, device, "{body}");
        assert_eq!(jwt_payload(&login.access_token)["baas_device_id"], device);
    }
}

#[tokio::test]
async fn unknown_provider_is_auth_provider_not_found() {
    let gw = TestGateway::start().await;
    let response = gw
        .http
        .post(gw.app_api("/auth/providers/nope/login"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_error(response, 404, "AuthProviderNotFound").await;
}

#[tokio::test]
async fn disabled_provider_answers_like_an_unknown_one() {
    let gw = TestGateway::start_with(
        Options::default().env("SESSIONGATE_PROVIDERS__ANON_USER__ENABLED", "false"),
    )
    .await;
    let disabled = gw
        .http
        .post(gw.app_api("/auth/providers/anon-user/login"))
        .send()
        .await
        .unwrap();
    let disabled = assert_error(disabled, 404, "AuthProviderNotFound").await;
    let unknown = gw
        .http
        .post(gw.app_api("/auth/providers/nope/login"))
        .send()
        .await
        .unwrap();
    let unknown = assert_error(unknown, 404, "AuthProviderNotFound").await;
    // Same answer but for the provider's own name.
    assert_eq!(
        disabled["error"]
            .as_str()
            .unwrap()
            .replace("anon-user", "P"),
        unknown["error"].as_str().unwrap().replace("nope", "P"),
    );
    assert_eq!(
        disabled.as_object().unwrap().len(),
        unknown.as_object().unwrap().len()
    );
}

// ---------------------------------------------------------------------------------------------
// register

#[tokio::test]
async fn register_is_201_with_empty_body_and_no_content_type() {
    let gw = TestGateway::start().await;
    let response = post_register(
        &gw,
        json!({ "email": "new@example.com", "password": "Pa55w0rd" }),
    )
    .await;
    assert_eq!(response.status(), 201);
    assert!(
        response.headers().get("content-type").is_none(),
        "realm-web refuses a 201 with a content type: {:?}",
        response.headers().get("content-type")
    );
    let bytes = response.bytes().await.unwrap();
    assert!(bytes.is_empty(), "{bytes:?}");
}

#[tokio::test]
async fn registering_a_taken_email_is_account_name_in_use_whatever_its_case_or_spaces() {
    let gw = TestGateway::start().await;
    gw.register("taken@example.com", "Pa55w0rd").await;
    for email in [
        "taken@example.com",
        "Taken@Example.COM",
        "  taken@example.com  ",
    ] {
        let response =
            post_register(&gw, json!({ "email": email, "password": "Other-pass1" })).await;
        assert_error(response, 409, "AccountNameInUse").await;
    }
}

#[tokio::test]
async fn register_refuses_bad_passwords_and_emails_with_400() {
    let gw = TestGateway::start().await;
    let cases = [
        (
            "5-char password",
            json!({ "email": "a@example.com", "password": "12345" }),
        ),
        (
            "129-char password",
            json!({ "email": "b@example.com", "password": "p".repeat(129) }),
        ),
        ("missing password", json!({ "email": "c@example.com" })),
        ("missing email", json!({ "password": "Pa55w0rd" })),
        (
            "invalid email",
            json!({ "email": "not-an-email", "password": "Pa55w0rd" }),
        ),
        (
            "email with spaces inside",
            json!({ "email": "a b@example.com", "password": "Pa55w0rd" }),
        ),
    ];
    for (what, body) in cases {
        let response = post_register(&gw, body).await;
        assert_eq!(response.status(), 400, "{what}");
        assert_json_error(response, 400).await;
    }
    // Boundaries that are fine: 6 and 128 characters.
    gw.register("six@example.com", "123456").await;
    gw.register("max@example.com", &"p".repeat(128)).await;
}

#[tokio::test]
async fn register_refuses_an_email_with_two_at_signs() {
    let gw = TestGateway::start().await;
    for email in ["a@@example.com", "a@b@example.com"] {
        let response = post_register(&gw, json!({ "email": email, "password": "Pa55w0rd" })).await;
        assert_eq!(response.status(), 400, "{email} was accepted");
        assert_json_error(response, 400).await;
    }
}

#[tokio::test]
async fn register_with_invalid_json_is_400() {
    let gw = TestGateway::start().await;
    let response = gw
        .http
        .post(gw.app_api("/auth/providers/local-userpass/register"))
        .header("content-type", "application/json")
        .body(r#"{"email": "x@example.com", "password": "#)
        .send()
        .await
        .unwrap();
    assert_json_error(response, 400).await;
}

#[tokio::test]
async fn register_with_a_form_body_is_400() {
    let gw = TestGateway::start().await;
    let response = gw
        .http
        .post(gw.app_api("/auth/providers/local-userpass/register"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("email=x%40example.com&password=Pa55w0rd")
        .send()
        .await
        .unwrap();
    assert_error(response, 400, "BadRequest").await;
}

/// The App Services docs' curls send JSON with `--data-raw` and curl's default form content
/// type: read as JSON, as App Services did.
#[tokio::test]
async fn json_under_any_content_type_is_read_as_json() {
    let gw = TestGateway::start().await;
    for content_type in ["application/x-www-form-urlencoded", "text/html"] {
        let email = format!("{}@example.com", content_type.replace('/', "-"));
        let response = gw
            .http
            .post(gw.app_api("/auth/providers/local-userpass/register"))
            .header("content-type", content_type)
            .body(format!(r#"{{"email": "{email}", "password": "Pa55w0rd"}}"#))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201, "{content_type}");
        let response = gw
            .http
            .post(gw.app_api("/auth/providers/local-userpass/login"))
            .header("content-type", content_type)
            .body(format!(
                r#"{{"username": "{email}", "password": "Pa55w0rd"}}"#
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{content_type}");
    }
}

/// A login or registration body without a required field is the client's mistake: 400 naming
/// the field, never a 401 that reads as wrong credentials.
#[tokio::test]
async fn a_body_missing_a_required_field_is_400_naming_it() {
    let gw = TestGateway::start().await;
    gw.register("known@example.com", "Pa55w0rd").await;
    let cases = [
        (
            "local-userpass/login",
            r#"{"username": "known@example.com"}"#,
            "password",
        ),
        (
            "local-userpass/login",
            r#"{"password": "Pa55w0rd"}"#,
            "username",
        ),
        ("local-userpass/login", "{}", "username"),
        (
            "local-userpass/register",
            r#"{"email": "new@example.com"}"#,
            "password",
        ),
        (
            "local-userpass/register",
            r#"{"password": "Pa55w0rd"}"#,
            "email",
        ),
        ("api-key/login", "{}", "key"),
    ];
    for (path, body, field) in cases {
        let response = gw
            .http
            .post(gw.app_api(&format!("/auth/providers/{path}")))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let error = assert_error(response, 400, "BadRequest").await;
        assert!(
            error["error"].as_str().unwrap().contains(field),
            "{path} {body}: {error}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// email/password login

#[tokio::test]
async fn userpass_login_is_case_insensitive_and_profile_shows_the_email() {
    let gw = TestGateway::start().await;
    gw.register("Alice@Example.com", "Pa55w0rd!").await;
    let login = gw.login_userpass("alice@EXAMPLE.com", "Pa55w0rd!").await;
    assert!(is_object_id(&login.user_id));
    assert_eq!(jwt_payload(&login.access_token)["sub"], login.user_id);

    let response = profile(&gw, &login.access_token).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["user_id"], login.user_id.as_str());
    assert_eq!(body["data"]["email"], "alice@example.com", "{body}");
    assert_eq!(body["type"], "normal");
    let identities = body["identities"].as_array().expect("identities");
    assert_eq!(identities.len(), 1, "{body}");
    assert_eq!(identities[0]["provider_type"], "local-userpass");
}

#[tokio::test]
async fn wrong_password_and_unknown_email_are_byte_identical_401s() {
    let gw = TestGateway::start().await;
    gw.register("bob@example.com", "Pa55w0rd!").await;

    let wrong = gw
        .login_userpass_raw("bob@example.com", "not-the-password")
        .await;
    let wrong_status = wrong.status();
    let wrong_type = wrong.headers().get("content-type").cloned();
    let wrong_body = wrong.bytes().await.unwrap();

    let unknown = gw
        .login_userpass_raw("nobody@example.com", "not-the-password")
        .await;
    let unknown_status = unknown.status();
    let unknown_type = unknown.headers().get("content-type").cloned();
    let unknown_body = unknown.bytes().await.unwrap();

    assert_eq!(wrong_status, 401);
    assert_eq!(wrong_status, unknown_status);
    assert_eq!(wrong_type, unknown_type);
    // Identical but for the request's own id (random, the same length in both).
    let wrong_body = common::mask_request_id(&wrong_body);
    assert_eq!(wrong_body, common::mask_request_id(&unknown_body));
    let wrong_json: Value = serde_json::from_slice(&wrong_body).unwrap();
    assert_eq!(wrong_json["error_code"], "InvalidPassword", "{wrong_json}");
}

// ---------------------------------------------------------------------------------------------
// profile

#[tokio::test]
async fn profile_of_an_anonymous_user_has_identity_and_empty_data() {
    let gw = TestGateway::start().await;
    let login = gw.login_anon().await;
    let response = profile(&gw, &login.access_token).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["user_id"], login.user_id.as_str(), "{body}");
    assert!(
        body["domain_id"].as_str().is_some_and(|d| !d.is_empty()),
        "{body}"
    );
    assert_eq!(body["data"], json!({}), "{body}");
    assert_eq!(body["type"], "normal", "{body}");
    let identities = body["identities"].as_array().expect("identities");
    assert_eq!(identities.len(), 1, "{body}");
    let identity = &identities[0];
    assert!(
        identity["id"].as_str().is_some_and(|s| !s.is_empty()),
        "{body}"
    );
    assert_eq!(identity["provider_type"], "anon-user", "{body}");
    assert!(
        identity["provider_id"]
            .as_str()
            .is_some_and(|s| !s.is_empty()),
        "{body}"
    );
}

#[tokio::test]
async fn profile_accepts_the_session_header() {
    let gw = TestGateway::start().await;
    let login = gw.login_anon().await;
    let response = gw
        .http
        .get(gw.client_api("/auth/profile"))
        .header("Session", &login.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["user_id"], login.user_id.as_str());
}

#[tokio::test]
async fn profile_with_a_refresh_token_or_without_a_token_is_invalid_session() {
    let gw = TestGateway::start().await;
    let login = gw.login_anon().await;
    let response = profile(&gw, &login.refresh_token).await;
    assert_error(response, 401, "InvalidSession").await;
    let response = gw
        .http
        .get(gw.client_api("/auth/profile"))
        .send()
        .await
        .unwrap();
    assert_error(response, 401, "InvalidSession").await;
}

// ---------------------------------------------------------------------------------------------
// refresh

#[tokio::test]
async fn refresh_gives_a_new_access_token_for_the_same_session() {
    let gw = TestGateway::start().await;
    let login = gw.login_anon().await;
    let response = gw.refresh(&login.refresh_token).await;
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    let access = body["access_token"].as_str().expect("access_token");
    assert_eq!(body.as_object().unwrap().len(), 1, "{body}");
    let old = jwt_payload(&login.access_token);
    let new = jwt_payload(access);
    assert_eq!(new["sub"], old["sub"]);
    assert_eq!(new["sid"], old["sid"]);
    assert_eq!(new["sub"], login.user_id.as_str());
    // The new token works.
    let seen = gw.echo("/data/after-refresh", access).await;
    assert_eq!(seen["headers"]["x-user-id"], login.user_id.as_str());
}

#[tokio::test]
async fn refresh_with_an_access_token_is_invalid_session() {
    let gw = TestGateway::start().await;
    let login = gw.login_anon().await;
    let response = gw.refresh(&login.access_token).await;
    assert_error(response, 401, "InvalidSession").await;
}

#[tokio::test]
async fn refresh_with_garbage_or_nothing_is_invalid_session() {
    let gw = TestGateway::start().await;
    let response = gw.refresh("garbage-token-value").await;
    assert_error(response, 401, "InvalidSession").await;
    let response = gw
        .http
        .post(gw.client_api("/auth/session"))
        .send()
        .await
        .unwrap();
    assert_error(response, 401, "InvalidSession").await;
}

// ---------------------------------------------------------------------------------------------
// logout

#[tokio::test]
async fn logout_is_204_without_body_and_kills_refresh_and_access_tokens() {
    let gw = TestGateway::start().await;
    gw.register("carol@example.com", "Pa55w0rd!").await;
    let session = gw.login_userpass("carol@example.com", "Pa55w0rd!").await;
    let other = gw.login_userpass("carol@example.com", "Pa55w0rd!").await;
    assert_eq!(session.user_id, other.user_id);
    // Both access tokens are verified and cached before the logout.
    gw.echo("/data/before", &session.access_token).await;
    gw.echo("/data/before", &other.access_token).await;

    let response = gw.logout(&session.refresh_token).await;
    assert_eq!(response.status(), 204);
    let bytes = response.bytes().await.unwrap();
    assert!(bytes.is_empty(), "{bytes:?}");

    let response = gw.refresh(&session.refresh_token).await;
    let body = assert_error(response, 401, "InvalidSession").await;
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("failed to find refresh token"),
        "realm-web looks for this text: {body}"
    );

    let response = gw.get_upstream("/data", &session.access_token).await;
    assert_error(response, 401, "InvalidSession").await;

    // The user's other session is untouched.
    let response = gw.refresh(&other.refresh_token).await;
    assert_eq!(response.status(), 201);
    let seen = gw.echo("/data", &other.access_token).await;
    assert_eq!(seen["headers"]["x-user-id"], other.user_id.as_str());
}

#[tokio::test]
async fn logout_twice_is_401_not_500() {
    let gw = TestGateway::start().await;
    let login = gw.login_anon().await;
    assert_eq!(gw.logout(&login.refresh_token).await.status(), 204);
    let response = gw.logout(&login.refresh_token).await;
    assert_error(response, 401, "InvalidSession").await;
}

#[tokio::test]
async fn logout_without_a_token_is_invalid_session() {
    let gw = TestGateway::start().await;
    let response = gw
        .http
        .delete(gw.client_api("/auth/session"))
        .send()
        .await
        .unwrap();
    assert_error(response, 401, "InvalidSession").await;
}

// ---------------------------------------------------------------------------------------------
// not supported / wrong method

#[tokio::test]
async fn link_login_is_a_4xx_json_error_not_500() {
    let gw = TestGateway::start().await;
    let user = gw.login_anon().await;
    let response = gw
        .http
        .post(gw.app_api("/auth/providers/anon-user/login?link=true"))
        .bearer_auth(&user.access_token)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    assert!((400..500).contains(&status), "status {status}");
    assert_json_error(response, status).await;
}

#[tokio::test]
async fn wrong_methods_on_gateway_routes_are_405_json() {
    let gw = TestGateway::start().await;
    let cases = [
        (
            Method::GET,
            gw.app_api("/auth/providers/anon-user/login"),
            "POST",
        ),
        (
            Method::GET,
            gw.app_api("/auth/providers/local-userpass/register"),
            "POST",
        ),
        (Method::PUT, gw.client_api("/auth/session"), "POST, DELETE"),
        (Method::GET, gw.client_api("/auth/session"), "POST, DELETE"),
        (Method::POST, gw.client_api("/auth/profile"), "GET"),
        (Method::DELETE, gw.app_api("/location"), "GET"),
    ];
    for (method, url, allow) in cases {
        let response = gw.http.request(method.clone(), &url).send().await.unwrap();
        assert_eq!(response.status(), 405, "{method} {url}");
        assert_eq!(response.headers()["allow"], allow, "{method} {url}");
        assert_json_error(response, 405).await;
    }
}
