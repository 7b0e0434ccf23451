//! OpenID Connect / OAuth 2 providers against a real gateway and a local issuer
//! (`support/issuer.rs`: discovery, JWKS, authorization and token endpoints, fixture keys):
//! `oauth2-google` and `oauth2-apple` with `{id_token}` and `{authCode}`, and the generic
//! `oidc-corp` (found by discovery) through the redirect flow with PKCE, followed by a real
//! HTTP client. Every refusal is checked for its status and JSON body (or, past the issuer,
//! the `_baas_error` realm-web reads) and that nobody was logged in.

mod common;
#[path = "support/issuer.rs"]
mod issuer;

use std::collections::HashMap;

use common::{Options, TestGateway, assert_error};
use issuer::{CLIENT_ID, CLIENT_SECRET, EC_KID, LocalIssuer, RSA_KID, User};
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{Value, json};

/// The app's page the gateway sends users back to (never fetched: the client stops there).
const APP_REDIRECT: &str = "https://app.example.test/oauth/done";

struct Setup {
    gw: TestGateway,
    issuer: LocalIssuer,
}

async fn setup() -> Setup {
    let issuer = LocalIssuer::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let secret_file = dir.path().join("corp-secret");
    std::fs::write(&secret_file, format!("{CLIENT_SECRET}\n")).expect("secret file");
    let toml = format!(
        r#"
[providers.oauth2_google]
enabled = true
issuer = "{url}"
client_ids = ["{CLIENT_ID}", "android-client.apps.example"]
redirect_uris = ["{APP_REDIRECT}"]
leeway = "5s"

[providers.oauth2_apple]
enabled = true
issuer = "{url}"
client_ids = ["{CLIENT_ID}"]

[[providers.oidc]]
name = "corp"
issuer = "{url}"
client_ids = ["{CLIENT_ID}"]
client_secret_file = "{secret}"
redirect_uris = ["{APP_REDIRECT}", "https://app.example.test/other"]
"#,
        url = issuer.url,
        secret = secret_file.display(),
    );
    let options = Options::default().toml(&toml).env(
        "SESSIONGATE_PROVIDERS__OAUTH2_GOOGLE__CLIENT_SECRET",
        CLIENT_SECRET,
    );
    let gw = TestGateway::start_in(dir, options).await;
    Setup { gw, issuer }
}

async fn login(gw: &TestGateway, provider: &str, body: Value) -> reqwest::Response {
    gw.http
        .post(gw.app_api(&format!("/auth/providers/{provider}/login")))
        .json(&body)
        .send()
        .await
        .expect("login request")
}

async fn login_ok(gw: &TestGateway, provider: &str, body: Value) -> Value {
    let response = login(gw, provider, body).await;
    assert_eq!(response.status(), 200);
    response.json().await.expect("login JSON")
}

async fn profile(gw: &TestGateway, access_token: &str) -> Value {
    let response = gw
        .http
        .get(gw.client_api("/auth/profile"))
        .bearer_auth(access_token)
        .send()
        .await
        .expect("profile");
    assert_eq!(response.status(), 200);
    response.json().await.expect("profile JSON")
}

async fn user_count(gw: &TestGateway) -> usize {
    let response = gw
        .admin(reqwest::Method::GET, "/users")
        .send()
        .await
        .expect("users");
    assert_eq!(response.status(), 200);
    let users: Value = response.json().await.expect("users JSON");
    users.as_array().map_or(0, Vec::len)
}

/// The profile's one identity is `provider`'s, and the store finds its user by `sub` (the
/// identity App Services exports carry, which imports keep).
async fn assert_identity(gw: &TestGateway, profile: &Value, provider: &str, sub: &str) {
    let identities = profile["identities"].as_array().expect("identities");
    assert_eq!(identities.len(), 1, "{profile}");
    assert_eq!(identities[0]["provider_type"], provider);
    let owner = gw
        .state
        .auth
        .store()
        .find_identity(provider, sub)
        .await
        .expect("store");
    assert_eq!(owner.as_deref(), profile["user_id"].as_str());
}

/// The `_baas_*` fields of a redirect back to the app.
fn baas_fields(location: &str) -> HashMap<String, String> {
    let (base, fragment) = location.split_once('#').expect("fragment");
    assert_eq!(base, APP_REDIRECT, "{location}");
    url::form_urlencoded::parse(fragment.as_bytes())
        .into_owned()
        .collect()
}

/// A client that follows redirects (to the issuer, back to the gateway) and stops at the
/// app's page, answering the gateway's redirect there.
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::custom(|attempt| {
            if attempt.url().as_str().starts_with(APP_REDIRECT) {
                attempt.stop()
            } else {
                attempt.follow()
            }
        }))
        .build()
        .expect("client")
}

/// A client that follows nothing.
fn manual() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

fn location(response: &reqwest::Response) -> String {
    assert_eq!(response.status(), 302, "{response:?}");
    response.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned()
}

fn start_url(gw: &TestGateway, provider: &str, query: &str) -> String {
    gw.app_api(&format!("/auth/providers/{provider}/login?{query}"))
}

fn redirect_query(state: &str) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .append_pair("state", state)
        .append_pair("redirect", APP_REDIRECT)
        .finish()
}

// ---------------------------------------------------------------------------------------------
// {id_token}

#[tokio::test]
async fn id_token_logs_in_the_same_user_each_time() {
    let Setup { gw, issuer } = setup().await;
    let mut claims = issuer.claims("google-sub-1");
    claims["email"] = json!("ada@example.com");
    claims["email_verified"] = json!(true);
    claims["name"] = json!("Ada");
    let first = login_ok(
        &gw,
        "oauth2-google",
        json!({"id_token": issuer.id_token(&claims)}),
    )
    .await;
    // The second login: another key of the issuer's JWKS (EC), the second client id.
    claims["aud"] = json!("android-client.apps.example");
    let ec = issuer::sign(&claims, Algorithm::ES256, Some(EC_KID), &issuer::ec_key());
    let second = login_ok(&gw, "oauth2-google", json!({"id_token": ec})).await;
    assert_eq!(first["user_id"], second["user_id"]);
    let profile = profile(&gw, second["access_token"].as_str().unwrap()).await;
    assert_identity(&gw, &profile, "oauth2-google", "google-sub-1").await;
    assert_eq!(profile["data"]["email"], "ada@example.com");
    assert_eq!(profile["data"]["name"], "Ada");
    // Same sub at another provider: another identity, another user.
    claims["aud"] = json!(CLIENT_ID);
    let apple = login_ok(
        &gw,
        "oauth2-apple",
        json!({"id_token": issuer.id_token(&claims)}),
    )
    .await;
    assert_ne!(apple["user_id"], first["user_id"]);
}

#[tokio::test]
async fn email_is_copied_only_when_verified() {
    let Setup { gw, issuer } = setup().await;
    let mut claims = issuer.claims("unverified-sub");
    claims["email"] = json!("mallory@example.com");
    claims["email_verified"] = json!(false);
    let answer = login_ok(
        &gw,
        "oauth2-google",
        json!({"id_token": issuer.id_token(&claims)}),
    )
    .await;
    let data = &profile(&gw, answer["access_token"].as_str().unwrap()).await["data"];
    assert!(data.get("email").is_none(), "{data}");
    // Apple says "true" as a string.
    let mut claims = issuer.claims("apple-sub");
    claims["email"] = json!("eve@privaterelay.appleid.com");
    claims["email_verified"] = json!("true");
    let answer = login_ok(
        &gw,
        "oauth2-apple",
        json!({"id_token": issuer.id_token(&claims)}),
    )
    .await;
    let data = &profile(&gw, answer["access_token"].as_str().unwrap()).await["data"];
    assert_eq!(data["email"], "eve@privaterelay.appleid.com");
}

#[tokio::test]
async fn id_token_refusals_are_401_auth_error_and_create_nobody() {
    let Setup { gw, issuer } = setup().await;
    let good = issuer.claims("victim");
    let with = |name: &str, value: Value| {
        let mut claims = good.clone();
        if value.is_null() {
            claims.as_object_mut().unwrap().remove(name);
        } else {
            claims[name] = value;
        }
        claims
    };
    let now = issuer::now();
    let public_pem = std::fs::read(format!(
        "{}/tests/fixtures/rsa_public.pem",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("public key");
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "wrong audience",
            json!({"id_token": issuer.id_token(&with("aud", json!("someone-else")))}),
            "id token audience is not accepted",
        ),
        (
            "wrong issuer",
            json!({"id_token": issuer.id_token(&with("iss", json!("https://evil.example")))}),
            "id token issuer is not accepted",
        ),
        (
            "expired",
            json!({"id_token": issuer.id_token(&with("exp", json!(now - 60)))}),
            "id token expired",
        ),
        (
            "not yet valid",
            json!({"id_token": issuer.id_token(&with("nbf", json!(now + 600)))}),
            "id token is not valid yet",
        ),
        (
            "bad signature (a foreign key under the issuer's kid)",
            json!({"id_token": issuer::sign(&good, Algorithm::RS256, Some(RSA_KID), &issuer::rsa2_key())}),
            "id token signature is invalid",
        ),
        (
            "unknown kid",
            json!({"id_token": issuer::sign(&good, Algorithm::RS256, Some("rotated-away"), &issuer::rsa_key())}),
            "id token signing key is unknown",
        ),
        (
            "alg none",
            json!({"id_token": issuer::raw_jwt(&json!({"alg": "none", "kid": RSA_KID}), &good, "")}),
            "id token algorithm is not accepted",
        ),
        (
            "HS256 with the issuer's public key as the secret",
            json!({"id_token": issuer::sign(&good, Algorithm::HS256, Some(RSA_KID), &EncodingKey::from_secret(&public_pem))}),
            "id token algorithm is not accepted",
        ),
        (
            "RSA key used for ES256",
            json!({"id_token": issuer::sign(&good, Algorithm::ES256, Some(RSA_KID), &issuer::ec_key())}),
            "id token algorithm is not accepted",
        ),
        (
            "nonce mismatch",
            json!({"id_token": issuer.id_token(&with("nonce", json!("n-1"))), "nonce": "n-2"}),
            "id token nonce does not match",
        ),
        (
            "nonce expected, token has none",
            json!({"id_token": issuer.id_token(&good), "nonce": "n-2"}),
            "id token nonce does not match",
        ),
        (
            "no sub",
            json!({"id_token": issuer.id_token(&with("sub", Value::Null))}),
            "id token is missing required claim sub",
        ),
        (
            "not a JWT",
            json!({"id_token": "abc.def"}),
            "id token is malformed",
        ),
    ];
    for (case, body, message) in cases {
        let body = assert_error(login(&gw, "oauth2-google", body).await, 401, "AuthError").await;
        assert_eq!(body["error"], message, "{case}");
    }
    // A matching nonce passes; the failures above created nobody before it.
    assert_eq!(user_count(&gw).await, 0);
    let body = json!({"id_token": issuer.id_token(&with("nonce", json!("n-1"))), "nonce": "n-1"});
    login_ok(&gw, "oauth2-google", body).await;
    assert_eq!(user_count(&gw).await, 1);
}

#[tokio::test]
async fn malformed_login_bodies_are_400_naming_the_field() {
    let Setup { gw, .. } = setup().await;
    for (body, message) in [
        (json!({}), "id_token or authCode is required"),
        (
            json!({"id_token": 5}),
            "id_token must be a non-empty string",
        ),
        (
            json!({"id_token": ""}),
            "id_token must be a non-empty string",
        ),
        (
            json!({"id_token": "a.b.c", "authCode": "x"}),
            "send either id_token or authCode, not both",
        ),
    ] {
        let answer = assert_error(login(&gw, "oauth2-google", body).await, 400, "BadRequest").await;
        assert_eq!(answer["error"], message);
    }
    // A provider that is not configured is not found, like any other.
    assert_error(
        login(&gw, "oidc-nobody", json!({"id_token": "a.b.c"})).await,
        404,
        "AuthProviderNotFound",
    )
    .await;
}

// ---------------------------------------------------------------------------------------------
// {authCode}

#[tokio::test]
async fn auth_code_is_exchanged_once() {
    let Setup { gw, issuer } = setup().await;
    issuer.set_user(User {
        sub: "code-user".into(),
        email: Some("code@example.com".into()),
        email_verified: true,
    });
    // Google's server-side flow: no redirect_uri configured for app-obtained codes here, so
    // the issuer's code is bound to none either.
    let code = issuer.issue_code("");
    let answer = login_ok(&gw, "oauth2-google", json!({"authCode": code})).await;
    let profile = profile(&gw, answer["access_token"].as_str().unwrap()).await;
    assert_identity(&gw, &profile, "oauth2-google", "code-user").await;
    assert_eq!(profile["data"]["email"], "code@example.com");
    let replay = assert_error(
        login(&gw, "oauth2-google", json!({"authCode": code})).await,
        401,
        "AuthError",
    )
    .await;
    assert_eq!(
        replay["error"],
        "authorization code was refused by the issuer: invalid_grant"
    );
    let unknown = assert_error(
        login(&gw, "oauth2-google", json!({"authCode": "never-issued"})).await,
        401,
        "AuthError",
    )
    .await;
    assert_eq!(
        unknown["error"],
        "authorization code was refused by the issuer: invalid_grant"
    );
    // oauth2-apple has no client secret configured: the issuer refuses the client.
    let code = issuer.issue_code("");
    let apple = assert_error(
        login(&gw, "oauth2-apple", json!({"authCode": code})).await,
        401,
        "AuthError",
    )
    .await;
    assert_eq!(
        apple["error"],
        "authorization code was refused by the issuer: invalid_client"
    );
}

// ---------------------------------------------------------------------------------------------
// Redirect flow (code + PKCE)

#[tokio::test]
async fn redirect_flow_logs_in_end_to_end() {
    let Setup { gw, issuer } = setup().await;
    issuer.set_user(User {
        sub: "corp-employee-7".into(),
        email: Some("e7@corp.example".into()),
        email_verified: true,
    });
    let device = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        json!({"deviceId": "5f1b2c3d4e5f6a7b8c9d0e1f", "platform": "test"}).to_string(),
    );
    let query = format!(
        "{}&device={}",
        redirect_query("appstate123"),
        urlencode(&device)
    );
    let response = browser()
        .get(start_url(&gw, "oidc-corp", &query))
        .send()
        .await
        .expect("redirect flow");
    assert_eq!(response.headers()["cache-control"], "no-store");
    let fields = baas_fields(&location(&response));
    assert_eq!(fields["_baas_state"], "appstate123");
    assert_eq!(fields["_baas_client_app_id"], common::APP_ID);
    assert!(!fields.contains_key("_baas_error"), "{fields:?}");
    // realm-web's decodeAuthInfo: access$refresh$user$device.
    let parts: Vec<&str> = fields["_baas_ua"].split('$').collect();
    assert_eq!(parts.len(), 4, "{fields:?}");
    assert_eq!(parts[3], "5f1b2c3d4e5f6a7b8c9d0e1f");
    let profile = profile(&gw, parts[0]).await;
    assert_eq!(profile["user_id"], parts[2]);
    assert_identity(&gw, &profile, "oidc-corp", "corp-employee-7").await;
    assert_eq!(profile["data"]["email"], "e7@corp.example");
    // The refresh token works like any other.
    assert_eq!(gw.refresh(parts[1]).await.status(), 201);

    // Again: the same user.
    let response = browser()
        .get(start_url(&gw, "oidc-corp", &redirect_query("second")))
        .send()
        .await
        .expect("second redirect flow");
    let fields = baas_fields(&location(&response));
    assert_eq!(fields["_baas_ua"].split('$').nth(2), Some(parts[2]));
}

/// The first hop by hand: the gateway's redirect to the issuer.
async fn authorize_url(gw: &TestGateway, provider: &str, state: &str) -> url::Url {
    let response = manual()
        .get(start_url(gw, provider, &redirect_query(state)))
        .send()
        .await
        .expect("start");
    url::Url::parse(&location(&response)).expect("authorization URL")
}

fn query_map(url: &url::Url) -> HashMap<String, String> {
    url.query_pairs().into_owned().collect()
}

#[tokio::test]
async fn authorization_request_carries_pkce_state_and_nonce() {
    let Setup { gw, issuer } = setup().await;
    let url = authorize_url(&gw, "oidc-corp", "s1").await;
    assert!(
        url.as_str()
            .starts_with(&format!("{}/authorize?", issuer.url))
    );
    let query = query_map(&url);
    assert_eq!(query["response_type"], "code");
    assert_eq!(query["client_id"], CLIENT_ID);
    assert_eq!(query["scope"], "openid email profile");
    assert_eq!(query["code_challenge_method"], "S256");
    assert_eq!(query["code_challenge"].len(), 43);
    assert!(query["redirect_uri"].ends_with("/api/client/v2.0/auth/callback"));
    // The gateway's own state and nonce, not the app's, and fresh each time.
    assert_ne!(query["state"], "s1");
    assert!(query["state"].len() >= 43 && query["nonce"].len() >= 43);
    let again = query_map(&authorize_url(&gw, "oidc-corp", "s1").await);
    assert_ne!(again["state"], query["state"]);
    assert_ne!(again["code_challenge"], query["code_challenge"]);
}

#[tokio::test]
async fn callback_state_must_be_known_and_is_single_use() {
    // The issuer stays up for the whole test.
    let Setup {
        gw,
        issuer: _issuer,
    } = setup().await;
    let client = manual();
    // Through the issuer to the gateway's callback, which is kept to be replayed.
    let authorize = authorize_url(&gw, "oidc-corp", "st").await;
    let to_callback = location(&client.get(authorize).send().await.expect("issuer"));
    let first = client.get(&to_callback).send().await.expect("callback");
    assert!(!baas_fields(&location(&first)).contains_key("_baas_error"));
    let replay = assert_error(
        client.get(&to_callback).send().await.expect("replay"),
        400,
        "InvalidParameter",
    )
    .await;
    assert_eq!(
        replay["error"],
        "unknown, expired or already used OAuth state"
    );

    let callback = gw.client_api("/auth/callback");
    for query in ["?code=x&state=forged-state", "?code=x", ""] {
        let answer = assert_error(
            client
                .get(format!("{callback}{query}"))
                .send()
                .await
                .expect("callback"),
            400,
            "InvalidParameter",
        )
        .await;
        assert_eq!(
            answer["error"],
            "unknown, expired or already used OAuth state"
        );
    }
    // A valid state with a swapped code: the state is spent, the issuer refuses the code.
    let authorize = authorize_url(&gw, "oidc-corp", "st2").await;
    let state = query_map(&authorize)["state"].clone();
    let response = client
        .get(format!("{callback}?state={state}&code=code-999"))
        .send()
        .await
        .expect("callback");
    let fields = baas_fields(&location(&response));
    assert_eq!(
        fields["_baas_error"],
        "authorization code was refused by the issuer: invalid_grant"
    );
    assert_eq!(fields["_baas_state"], "st2");
    // The issuer's own refusal reaches the app the same way.
    let authorize = authorize_url(&gw, "oidc-corp", "st3").await;
    let state = query_map(&authorize)["state"].clone();
    let response = client
        .post(&callback)
        .form(&[("state", state.as_str()), ("error", "access_denied")])
        .send()
        .await
        .expect("form_post callback");
    let fields = baas_fields(&location(&response));
    assert_eq!(
        fields["_baas_error"],
        "the identity provider refused the login: access_denied"
    );
    assert_eq!(user_count(&gw).await, 1);
}

#[tokio::test]
async fn wrong_or_missing_pkce_verifier_is_refused_by_the_issuer() {
    let Setup { gw, issuer } = setup().await;
    let client = manual();
    for tamper in ["wrong challenge", "challenge removed"] {
        let authorize = authorize_url(&gw, "oidc-corp", "pkce").await;
        // What an attacker who injects a code obtained under another challenge achieves:
        // the issuer's code does not match the gateway's verifier.
        let mut tampered = authorize.clone();
        let pairs: Vec<(String, String)> = authorize
            .query_pairs()
            .into_owned()
            .filter(|(k, _)| !(tamper == "challenge removed" && k.starts_with("code_challenge")))
            .map(|(k, v)| {
                if k == "code_challenge" {
                    (k, issuer_challenge_of("another-verifier"))
                } else {
                    (k, v)
                }
            })
            .collect();
        tampered.query_pairs_mut().clear().extend_pairs(pairs);
        let to_callback = location(&client.get(tampered).send().await.expect("issuer"));
        let response = client.get(&to_callback).send().await.expect("callback");
        let fields = baas_fields(&location(&response));
        assert_eq!(
            fields["_baas_error"], "authorization code was refused by the issuer: invalid_grant",
            "{tamper}"
        );
        assert!(!fields.contains_key("_baas_ua"));
    }
    // A code issued under the gateway's challenge, injected as {"authCode"} (sent without the
    // verifier it needs): refused.
    let authorize = authorize_url(&gw, "oidc-corp", "pkce").await;
    let to_callback = location(&client.get(authorize).send().await.expect("issuer"));
    let code = query_map(&url::Url::parse(&to_callback).expect("callback URL"))["code"].clone();
    let refused = assert_error(
        login(&gw, "oidc-corp", json!({"authCode": code})).await,
        401,
        "AuthError",
    )
    .await;
    assert_eq!(
        refused["error"],
        "authorization code was refused by the issuer: invalid_grant"
    );
    assert_eq!(issuer.token_requests(), 3);
    assert_eq!(user_count(&gw).await, 0);
}

fn issuer_challenge_of(verifier: &str) -> String {
    use sha2::Digest;
    base64::Engine::encode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        sha2::Sha256::digest(verifier.as_bytes()),
    )
}

fn urlencode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

#[tokio::test]
async fn redirect_urls_not_listed_are_refused() {
    let Setup { gw, issuer } = setup().await;
    for redirect in [
        "https://evil.example/oauth/done",
        "https://app.example.test/oauth/done/../../evil",
        "https://app.example.test/oauth/done?next=https://evil.example",
        "https://app.example.test.evil.example/oauth/done",
        "https://app.example.test/oauth/done#x",
        "//evil.example",
        "javascript:alert(1)",
    ] {
        let query = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("state", "s")
            .append_pair("redirect", redirect)
            .finish();
        let response = manual()
            .get(start_url(&gw, "oidc-corp", &query))
            .send()
            .await
            .expect("start");
        assert!(response.headers().get("location").is_none(), "{redirect}");
        let body = assert_error(response, 400, "InvalidParameter").await;
        assert_eq!(
            body["error"],
            "redirect URL is not allowed for this provider"
        );
    }
    // A provider without redirect_uris has no redirect flow at all.
    let response = manual()
        .get(start_url(&gw, "oauth2-apple", &redirect_query("s")))
        .send()
        .await
        .expect("start");
    assert_error(response, 400, "InvalidParameter").await;
    // Missing parameters are named.
    for (query, message) in [
        (
            format!("redirect={}", urlencode(APP_REDIRECT)),
            "state is required",
        ),
        ("state=s".to_owned(), "redirect is required"),
    ] {
        let response = manual()
            .get(start_url(&gw, "oidc-corp", &query))
            .send()
            .await
            .expect("start");
        assert_eq!(
            assert_error(response, 400, "BadRequest").await["error"],
            message
        );
    }
    // GET login of a provider without a redirect flow is 405 naming POST.
    let response = manual()
        .get(start_url(&gw, "anon-user", "state=s"))
        .send()
        .await
        .expect("GET anon");
    assert_eq!(response.headers()["allow"], "POST");
    assert_eq!(issuer.token_requests(), 0);
}

// ---------------------------------------------------------------------------------------------
// Linking

#[tokio::test]
async fn linking_adds_the_identity_to_the_signed_in_user() {
    let Setup { gw, issuer } = setup().await;
    gw.register("link@example.com", "correct horse battery")
        .await;
    let user = gw
        .login_userpass("link@example.com", "correct horse battery")
        .await;
    // POST with ?link=true and the user's access token.
    let token = issuer.id_token(&issuer.claims("linked-google-sub"));
    let response = gw
        .http
        .post(gw.app_api("/auth/providers/oauth2-google/login?link=true"))
        .bearer_auth(&user.access_token)
        .json(&json!({"id_token": token}))
        .send()
        .await
        .expect("link");
    assert_eq!(response.status(), 200);
    let linked: Value = response.json().await.expect("JSON");
    assert_eq!(linked["user_id"], user.user_id);
    // Logging in with that identity now lands on the same user.
    let again = login_ok(
        &gw,
        "oauth2-google",
        json!({"id_token": issuer.id_token(&issuer.claims("linked-google-sub"))}),
    )
    .await;
    assert_eq!(again["user_id"], user.user_id);

    // The redirect flow, as realm-web links: GET with the token and providerRedirectHeader.
    issuer.set_user(User {
        sub: "linked-corp-sub".into(),
        email: None,
        email_verified: false,
    });
    let query = format!(
        "link=true&providerRedirectHeader=true&{}",
        redirect_query("lnk")
    );
    let response = manual()
        .get(start_url(&gw, "oidc-corp", &query))
        .bearer_auth(&user.access_token)
        .send()
        .await
        .expect("link start");
    assert_eq!(response.status(), 200);
    let to_issuer = response.headers()["x-baas-location"]
        .to_str()
        .expect("header")
        .to_owned();
    let response = browser().get(&to_issuer).send().await.expect("link flow");
    let fields = baas_fields(&location(&response));
    assert_eq!(fields["_baas_link"], "ok");
    assert_eq!(
        fields["_baas_ua"].split('$').nth(2),
        Some(user.user_id.as_str())
    );
    let profile = profile(&gw, &user.access_token).await;
    let mut providers: Vec<&str> = profile["identities"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i["provider_type"].as_str())
        .collect();
    providers.sort_unstable();
    assert_eq!(providers, ["local-userpass", "oauth2-google", "oidc-corp"]);

    // A session that ends while the user is at the issuer links nothing.
    let other_session = gw
        .login_userpass("link@example.com", "correct horse battery")
        .await;
    let response = manual()
        .get(start_url(&gw, "oidc-corp", &query))
        .bearer_auth(&other_session.access_token)
        .send()
        .await
        .expect("link start");
    let to_issuer = response.headers()["x-baas-location"]
        .to_str()
        .expect("header")
        .to_owned();
    assert_eq!(gw.logout(&other_session.refresh_token).await.status(), 204);
    let response = browser().get(&to_issuer).send().await.expect("link flow");
    let fields = baas_fields(&location(&response));
    assert_eq!(fields["_baas_error"], "invalid session");
    assert!(!fields.contains_key("_baas_ua"));

    // Linking without a token is refused before anything happens.
    let response = manual()
        .get(start_url(&gw, "oidc-corp", &query))
        .send()
        .await
        .expect("link without token");
    assert_error(response, 401, "InvalidSession").await;
    // An identity of another user is not taken over.
    let other = gw.login_anon().await;
    let response = gw
        .http
        .post(gw.app_api("/auth/providers/oauth2-google/login?link=true"))
        .bearer_auth(&other.access_token)
        .json(&json!({"id_token": issuer.id_token(&issuer.claims("linked-google-sub"))}))
        .send()
        .await
        .expect("link taken");
    assert_error(response, 409, "AccountNameInUse").await;
}

#[tokio::test]
async fn unreachable_issuer_is_502() {
    // An issuer that is not listening: discovery fails, nobody is created.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let dead = format!("http://{}", listener.local_addr().expect("addr"));
    drop(listener);
    let toml = format!(
        "[providers.oauth2_google]\nenabled = true\nissuer = \"{dead}\"\nclient_ids = [\"x\"]\n"
    );
    let gw = TestGateway::start_with(Options::default().toml(&toml)).await;
    let token = issuer::sign(
        &json!({"iss": dead, "aud": "x", "sub": "s", "exp": issuer::now() + 60}),
        Algorithm::RS256,
        Some(RSA_KID),
        &issuer::rsa_key(),
    );
    let body = assert_error(
        login(&gw, "oauth2-google", json!({"id_token": token})).await,
        502,
        "UpstreamUnavailable",
    )
    .await;
    assert_eq!(body["error"], "identity provider unavailable");
    assert_eq!(user_count(&gw).await, 0);
}
