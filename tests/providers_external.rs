//! The external login providers against a real gateway: `custom-token` (JWTs signed here with
//! the fixture keys, verified by key file, PEM, JWKS file or JWKS URL) and `custom-function`
//! (a real webhook on port 0). Every refusal is checked for its status, its JSON body and
//! that no user was created.

mod common;

use std::convert::Infallible;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use common::{Options, TestGateway, assert_error};
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use tokio::sync::oneshot;

const AUDIENCE: &str = "test-audience";
const HS_SECRET: &str = "custom-token-hs256-test-secret-0123456789";

// ---------------------------------------------------------------------------------------------
// A stub HTTP server (webhook, JWKS host, or a trap that must never be asked)

#[derive(Clone)]
enum Reply {
    Answer(u16, String),
    /// Never answers.
    Hang,
}

struct Stub {
    url: String,
    hits: Arc<AtomicUsize>,
    received: Arc<Mutex<Vec<Bytes>>>,
    reply: Arc<Mutex<Reply>>,
    _stop: oneshot::Sender<()>,
}

impl Stub {
    async fn start(reply: Reply) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind stub");
        let addr = listener.local_addr().expect("stub addr");
        let hits = Arc::new(AtomicUsize::new(0));
        let received = Arc::new(Mutex::new(Vec::new()));
        let reply = Arc::new(Mutex::new(reply));
        let (stop_tx, mut stop_rx) = oneshot::channel::<()>();
        let (h, r, a) = (hits.clone(), received.clone(), reply.clone());
        tokio::spawn(async move {
            loop {
                let (stream, _) = tokio::select! {
                    accepted = listener.accept() => match accepted { Ok(pair) => pair, Err(_) => continue },
                    _ = &mut stop_rx => return,
                };
                let (h, r, a) = (h.clone(), r.clone(), a.clone());
                tokio::spawn(async move {
                    let service = service_fn(move |request: Request<Incoming>| {
                        let (h, r, a) = (h.clone(), r.clone(), a.clone());
                        async move {
                            h.fetch_add(1, Ordering::SeqCst);
                            let body = request
                                .into_body()
                                .collect()
                                .await
                                .map(|b| b.to_bytes())
                                .unwrap_or_default();
                            r.lock().unwrap().push(body);
                            let reply = a.lock().unwrap().clone();
                            let (status, text) = match reply {
                                Reply::Answer(status, text) => (status, text),
                                Reply::Hang => {
                                    std::future::pending::<()>().await;
                                    unreachable!("a hanging reply never answers")
                                }
                            };
                            let mut response = Response::new(Full::new(Bytes::from(text)));
                            *response.status_mut() = StatusCode::from_u16(status).unwrap();
                            response.headers_mut().insert(
                                http::header::CONTENT_TYPE,
                                http::HeaderValue::from_static("application/json"),
                            );
                            Ok::<_, Infallible>(response)
                        }
                    });
                    let _ = auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self {
            url: format!("http://{addr}"),
            hits,
            received,
            reply,
            _stop: stop_tx,
        }
    }

    fn json(status: u16, body: &Value) -> Reply {
        Reply::Answer(status, body.to_string())
    }

    fn set(&self, reply: Reply) {
        *self.reply.lock().unwrap() = reply;
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    fn received(&self) -> Vec<Value> {
        self.received
            .lock()
            .unwrap()
            .iter()
            .map(|b| serde_json::from_slice(b).expect("JSON request body"))
            .collect()
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn fixture_bytes(name: &str) -> Vec<u8> {
    std::fs::read(fixture(name)).expect("fixture")
}

fn now() -> i64 {
    sessiongate::ids::now()
}

fn claims(sub: &str) -> Value {
    json!({ "sub": sub, "aud": AUDIENCE, "iat": now(), "exp": now() + 600 })
}

fn with(mut claims: Value, name: &str, value: Value) -> Value {
    claims[name] = value;
    claims
}

fn rsa_key(name: &str) -> EncodingKey {
    EncodingKey::from_rsa_pem(&fixture_bytes(name)).expect("RSA private key")
}

/// Signs with a fixture RSA private key (`rsa_private.pem` or `rsa2_private.pem`).
fn sign_rs256(claims: &Value, private: &str, kid: Option<&str>) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, &rsa_key(private)).expect("sign")
}

fn sign_hs256(claims: &Value, secret: &[u8]) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret),
    )
    .expect("sign")
}

/// The public JWK of a fixture RSA private key, with a `kid`.
fn rsa_jwk(private: &str, kid: &str) -> Jwk {
    let mut jwk = Jwk::from_encoding_key(&rsa_key(private), Algorithm::RS256).expect("jwk");
    jwk.common.key_id = Some(kid.to_owned());
    jwk
}

fn jwks(keys: &[Jwk]) -> Value {
    json!({ "keys": keys })
}

/// `[providers.custom_token]` with the given key line and optional extra lines.
fn custom_token_toml(algorithms: &str, key_line: &str, extra: &str) -> String {
    format!(
        "[providers.custom_token]\nenabled = true\nalgorithms = {algorithms}\n{key_line}\n\
         audience = [\"{AUDIENCE}\"]\nleeway = \"5s\"\n{extra}"
    )
}

fn toml_path(path: &std::path::Path) -> String {
    format!("{:?}", path.display().to_string())
}

async fn start_rs256_pem(extra: &str) -> TestGateway {
    let key_line = format!("key_file = {}", toml_path(&fixture("rsa_public.pem")));
    TestGateway::start_with(Options::default().toml(&custom_token_toml(
        "[\"RS256\"]",
        &key_line,
        extra,
    )))
    .await
}

async fn login(gw: &TestGateway, provider: &str, body: &Value) -> reqwest::Response {
    gw.http
        .post(gw.app_api(&format!("/auth/providers/{provider}/login")))
        .json(body)
        .send()
        .await
        .expect("login request")
}

async fn login_token(gw: &TestGateway, token: &str) -> reqwest::Response {
    login(
        gw,
        "custom-token",
        &json!({ "token": token, "options": { "device": {} } }),
    )
    .await
}

/// Logs in with a token that must be accepted; returns the user id and access token.
async fn accepted(gw: &TestGateway, token: &str) -> (String, String) {
    let response = login_token(gw, token).await;
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    let body: Value = response.json().await.expect("login json");
    (
        body["user_id"].as_str().expect("user_id").to_owned(),
        body["access_token"].as_str().expect("token").to_owned(),
    )
}

/// Logs in with a token that must be refused with 401 `AuthError` naming `reason`.
async fn refused(gw: &TestGateway, token: &str, reason: &str) {
    let body = assert_error(login_token(gw, token).await, 401, "AuthError").await;
    let message = body["error"].as_str().unwrap();
    assert!(
        message.contains(reason),
        "{message:?} should say {reason:?}"
    );
}

async fn profile(gw: &TestGateway, access_token: &str) -> Value {
    let response = gw
        .http
        .get(gw.client_api("/auth/profile"))
        .bearer_auth(access_token)
        .send()
        .await
        .expect("profile request");
    assert_eq!(response.status(), 200, "profile");
    response.json().await.expect("profile json")
}

async fn user_count(gw: &TestGateway) -> usize {
    let response = gw
        .admin(reqwest::Method::GET, "/users")
        .send()
        .await
        .expect("list users");
    assert_eq!(response.status(), 200, "list users");
    let users: Vec<Value> = response.json().await.expect("users json");
    users.len()
}

// ---------------------------------------------------------------------------------------------
// custom-token

#[tokio::test]
async fn hs256_key_file_login_maps_metadata_and_refreshes_it_on_the_next_login() {
    let dir = tempfile::tempdir().unwrap();
    let secret_file = dir.path().join("hs.key");
    std::fs::write(&secret_file, format!("{HS_SECRET}\n")).unwrap();
    let gw = TestGateway::start_with(Options::default().toml(&custom_token_toml(
        "[\"HS256\"]",
        &format!("key_file = {}", toml_path(&secret_file)),
        "[[providers.custom_token.metadata]]\nclaim = \"email\"\nrequired = true\n\
         [[providers.custom_token.metadata]]\nclaim = \"user_data.name\"\nfield = \"name\"\n",
    )))
    .await;

    let first = with(
        with(claims("ext-1"), "email", json!("ada@example.com")),
        "user_data",
        json!({ "name": "Ada" }),
    );
    let (user_id, access) = accepted(&gw, &sign_hs256(&first, HS_SECRET.as_bytes())).await;
    let shown = profile(&gw, &access).await;
    assert_eq!(shown["user_id"], user_id.as_str());
    assert_eq!(shown["type"], "normal");
    assert_eq!(
        shown["data"],
        json!({ "email": "ada@example.com", "name": "Ada" })
    );
    assert_eq!(shown["identities"][0]["provider_type"], "custom-token");

    // Same sub: same user, metadata refreshed from the new token.
    let second = with(
        with(claims("ext-1"), "email", json!("ada@new.example")),
        "user_data",
        json!({ "name": "Ada L." }),
    );
    let (again, access) = accepted(&gw, &sign_hs256(&second, HS_SECRET.as_bytes())).await;
    assert_eq!(again, user_id);
    assert_eq!(
        profile(&gw, &access).await["data"],
        json!({ "email": "ada@new.example", "name": "Ada L." })
    );
    assert_eq!(user_count(&gw).await, 1);

    // A required metadata claim missing: refused, nothing created.
    refused(
        &gw,
        &sign_hs256(&claims("ext-2"), HS_SECRET.as_bytes()),
        "missing required claim email",
    )
    .await;
    assert_eq!(user_count(&gw).await, 1);

    // Another sub is another user.
    let other = with(claims("ext-2"), "email", json!("bob@example.com"));
    let (bob, _) = accepted(&gw, &sign_hs256(&other, HS_SECRET.as_bytes())).await;
    assert_ne!(bob, user_id);
    assert_eq!(user_count(&gw).await, 2);
}

#[tokio::test]
async fn rs256_pem_login_and_every_failed_check_is_401_without_a_user() {
    let gw = start_rs256_pem("").await;
    let public_pem = fixture_bytes("rsa_public.pem");
    let unsigned = |alg: &str, claims: &Value| {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        format!(
            "{}.{}.",
            b64.encode(json!({ "alg": alg, "typ": "JWT" }).to_string()),
            b64.encode(claims.to_string())
        )
    };
    let mut no_sub = claims("x");
    no_sub.as_object_mut().unwrap().remove("sub");
    let cases: Vec<(String, &str)> = vec![
        (
            sign_rs256(
                &with(claims("a"), "aud", json!("someone-else")),
                "rsa_private.pem",
                None,
            ),
            "token audience is not accepted",
        ),
        (
            sign_rs256(
                &with(claims("a"), "exp", json!(now() - 3600)),
                "rsa_private.pem",
                None,
            ),
            "token expired",
        ),
        (
            sign_rs256(
                &with(claims("a"), "nbf", json!(now() + 3600)),
                "rsa_private.pem",
                None,
            ),
            "token is not valid yet",
        ),
        (
            sign_rs256(&claims("a"), "rsa2_private.pem", None),
            "token signature is invalid",
        ),
        // Key confusion: HS256 keyed with the RSA public key the gateway holds.
        (
            sign_hs256(&claims("a"), &public_pem),
            "token algorithm is not accepted",
        ),
        (
            unsigned("none", &claims("a")),
            "token algorithm is not accepted",
        ),
        (
            sign_rs256(&no_sub, "rsa_private.pem", None),
            "missing required claim sub",
        ),
        (
            sign_rs256(&with(claims(""), "sub", json!("")), "rsa_private.pem", None),
            "missing required claim sub",
        ),
        ("not-a-jwt".to_owned(), "token is malformed"),
    ];
    for (token, reason) in &cases {
        refused(&gw, token, reason).await;
    }
    assert_eq!(user_count(&gw).await, 0, "no refused token created a user");

    let body = assert_error(
        login(&gw, "custom-token", &json!({ "nothing": true })).await,
        400,
        "BadRequest",
    )
    .await;
    assert!(body["error"].as_str().unwrap().contains("token"));

    let (first, _) = accepted(&gw, &sign_rs256(&claims("a"), "rsa_private.pem", None)).await;
    let (second, _) = accepted(&gw, &sign_rs256(&claims("a"), "rsa_private.pem", None)).await;
    assert_eq!(first, second);
    assert_eq!(user_count(&gw).await, 1);
}

#[tokio::test]
async fn concurrent_first_logins_of_one_sub_make_one_user() {
    let gw = start_rs256_pem("").await;
    let token = sign_rs256(&claims("racer"), "rsa_private.pem", None);
    let (a, b, c) = tokio::join!(
        accepted(&gw, &token),
        accepted(&gw, &token),
        accepted(&gw, &token)
    );
    assert_eq!(a.0, b.0);
    assert_eq!(b.0, c.0);
    assert_eq!(user_count(&gw).await, 1);
}

#[tokio::test]
async fn jwks_file_picks_the_key_by_kid() {
    let dir = tempfile::tempdir().unwrap();
    let jwks_file = dir.path().join("jwks.json");
    let set = jwks(&[
        rsa_jwk("rsa_private.pem", "rsa-1"),
        rsa_jwk("rsa2_private.pem", "rsa-2"),
    ]);
    std::fs::write(&jwks_file, set.to_string()).unwrap();
    let gw = TestGateway::start_with(Options::default().toml(&custom_token_toml(
        "[\"RS256\"]",
        &format!("jwks_file = {}", toml_path(&jwks_file)),
        "",
    )))
    .await;

    let (one, _) = accepted(
        &gw,
        &sign_rs256(&claims("k1"), "rsa_private.pem", Some("rsa-1")),
    )
    .await;
    let (two, _) = accepted(
        &gw,
        &sign_rs256(&claims("k2"), "rsa2_private.pem", Some("rsa-2")),
    )
    .await;
    assert_ne!(one, two);
    refused(
        &gw,
        &sign_rs256(&claims("k3"), "rsa2_private.pem", Some("rsa-1")),
        "token signature is invalid",
    )
    .await;
    refused(
        &gw,
        &sign_rs256(&claims("k3"), "rsa_private.pem", Some("rsa-9")),
        "token signing key is unknown",
    )
    .await;
    // Two keys and no kid: the gateway does not guess.
    refused(
        &gw,
        &sign_rs256(&claims("k3"), "rsa_private.pem", None),
        "token signing key is unknown",
    )
    .await;
    assert_eq!(user_count(&gw).await, 2);
}

#[tokio::test]
async fn jku_jwk_and_x5u_headers_never_fetch_nor_choose_the_key() {
    let trap = Stub::start(Stub::json(
        200,
        &jwks(&[rsa_jwk("rsa2_private.pem", "attacker")]),
    ))
    .await;
    let gw = start_rs256_pem("").await;
    let attack = |private: &str, kid: &str| {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(kid.to_owned());
        header.jku = Some(format!("{}/jwks.json", trap.url));
        header.x5u = Some(format!("{}/cert.pem", trap.url));
        header.jwk = Some(rsa_jwk("rsa2_private.pem", kid));
        jsonwebtoken::encode(&header, &claims("mallory"), &rsa_key(private)).expect("sign")
    };

    // Signed by the key the token itself offers: refused.
    refused(
        &gw,
        &attack("rsa2_private.pem", "attacker"),
        "token signature is invalid",
    )
    .await;
    assert_eq!(user_count(&gw).await, 0);
    // Signed by the configured key: judged by that key alone, the headers are ignored.
    accepted(&gw, &attack("rsa_private.pem", "attacker")).await;
    assert_eq!(
        trap.hits(),
        0,
        "a token header made the gateway fetch a URL"
    );
}

#[tokio::test]
async fn jwks_url_is_cached_and_refetched_once_for_a_new_kid() {
    let trap = Stub::start(Stub::json(200, &json!({ "keys": [] }))).await;
    let issuer = Stub::start(Stub::json(
        200,
        &jwks(&[rsa_jwk("rsa_private.pem", "rsa-1")]),
    ))
    .await;
    let gw = TestGateway::start_with(Options::default().toml(&custom_token_toml(
        "[\"RS256\"]",
        &format!("jwks_url = \"{}/.well-known/jwks.json\"", issuer.url),
        "",
    )))
    .await;
    assert_eq!(issuer.hits(), 0, "fetched at the first login, not before");

    accepted(
        &gw,
        &sign_rs256(&claims("u1"), "rsa_private.pem", Some("rsa-1")),
    )
    .await;
    assert_eq!(issuer.hits(), 1);
    accepted(
        &gw,
        &sign_rs256(&claims("u1"), "rsa_private.pem", Some("rsa-1")),
    )
    .await;
    assert_eq!(issuer.hits(), 1, "the set is cached");

    // The issuer rotates in a new key; the first token naming it triggers one fetch.
    issuer.set(Stub::json(
        200,
        &jwks(&[
            rsa_jwk("rsa_private.pem", "rsa-1"),
            rsa_jwk("rsa2_private.pem", "rsa-2"),
        ]),
    ));
    accepted(
        &gw,
        &sign_rs256(&claims("u2"), "rsa2_private.pem", Some("rsa-2")),
    )
    .await;
    assert_eq!(issuer.hits(), 2);

    // Another unknown kid right after: no fetch (at most one per 30 s), refused; its jku is
    // not followed either.
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("rsa-3".to_owned());
    header.jku = Some(format!("{}/jwks.json", trap.url));
    let token = jsonwebtoken::encode(&header, &claims("u3"), &rsa_key("rsa2_private.pem")).unwrap();
    refused(&gw, &token, "token signing key is unknown").await;
    assert_eq!(issuer.hits(), 2);
    assert_eq!(trap.hits(), 0);
    assert_eq!(user_count(&gw).await, 2);
}

#[tokio::test]
async fn jwks_url_unreachable_is_502_without_a_user() {
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = closed.local_addr().unwrap();
    drop(closed);
    let gw = TestGateway::start_with(Options::default().toml(&custom_token_toml(
        "[\"RS256\"]",
        &format!("jwks_url = \"http://{addr}/jwks.json\""),
        "",
    )))
    .await;
    let token = sign_rs256(&claims("u1"), "rsa_private.pem", Some("rsa-1"));
    assert_error(login_token(&gw, &token).await, 502, "UpstreamUnavailable").await;
    assert_eq!(user_count(&gw).await, 0);
}

// ---------------------------------------------------------------------------------------------
// custom-function

async fn start_custom_function(url: &str, extra: &str) -> TestGateway {
    TestGateway::start_with(Options::default().toml(&format!(
        "[providers.custom_function]\nenabled = true\nurl = \"{url}\"\n{extra}"
    )))
    .await
}

#[tokio::test]
async fn custom_function_success_creates_the_user_once_with_its_identity() {
    let webhook = Stub::start(Stub::json(
        200,
        &json!({ "id": "cust-42", "name": "Ada", "email": "ada@example.com",
                 "data": { "plan": "pro" } }),
    ))
    .await;
    let gw = start_custom_function(&format!("{}/login", webhook.url), "").await;
    let body = json!({ "customerId": "42", "pin": "1234", "options": { "device": {} } });

    let response = login(&gw, "custom-function", &body).await;
    assert_eq!(response.status(), 200);
    let first: Value = response.json().await.unwrap();
    assert_eq!(
        webhook.received(),
        vec![body.clone()],
        "the body is posted as received"
    );

    let shown = profile(&gw, first["access_token"].as_str().unwrap()).await;
    assert_eq!(shown["identities"][0]["provider_type"], "custom-function");
    assert_eq!(
        shown["data"],
        json!({ "plan": "pro", "name": "Ada", "email": "ada@example.com" })
    );

    let response = login(&gw, "custom-function", &body).await;
    assert_eq!(response.status(), 200);
    let second: Value = response.json().await.unwrap();
    assert_eq!(second["user_id"], first["user_id"]);
    assert_eq!(user_count(&gw).await, 1);
    assert_eq!(webhook.hits(), 2);
}

#[tokio::test]
async fn custom_function_refusal_message_reaches_the_client_as_401() {
    let webhook = Stub::start(Stub::json(403, &json!({ "error": "no such customer" }))).await;
    let gw = start_custom_function(&webhook.url, "").await;
    let body = assert_error(
        login(&gw, "custom-function", &json!({ "customerId": "nope" })).await,
        401,
        "AuthError",
    )
    .await;
    assert!(body["error"].as_str().unwrap().contains("no such customer"));
    assert_eq!(user_count(&gw).await, 0);
}

#[tokio::test]
async fn custom_function_webhook_down_is_502_without_a_user() {
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = closed.local_addr().unwrap();
    drop(closed);
    let gw = start_custom_function(&format!("http://{addr}/login"), "").await;
    assert_error(
        login(&gw, "custom-function", &json!({ "customerId": "42" })).await,
        502,
        "UpstreamUnavailable",
    )
    .await;
    assert_eq!(user_count(&gw).await, 0);
}

#[tokio::test]
async fn custom_function_webhook_slow_is_504_without_a_user() {
    let webhook = Stub::start(Reply::Hang).await;
    let gw = start_custom_function(&webhook.url, "timeout = \"300ms\"").await;
    assert_error(
        login(&gw, "custom-function", &json!({ "customerId": "42" })).await,
        504,
        "UpstreamTimeout",
    )
    .await;
    assert_eq!(user_count(&gw).await, 0);
}

#[tokio::test]
async fn custom_function_malformed_answers_are_502_without_a_user() {
    let webhook = Stub::start(Reply::Answer(200, "<html>ok</html>".to_owned())).await;
    let gw = start_custom_function(&webhook.url, "").await;
    let answers = [
        Reply::Answer(200, "<html>ok</html>".to_owned()),
        Stub::json(200, &json!({ "name": "no id" })),
        Stub::json(200, &json!({ "id": 42 })),
        Stub::json(200, &json!({ "id": "" })),
        Reply::Answer(
            200,
            format!("{{\"id\": \"big\", \"pad\": \"{}\"}}", "x".repeat(70_000)),
        ),
        Reply::Answer(500, "internal error".to_owned()),
    ];
    for answer in answers {
        webhook.set(answer);
        assert_error(
            login(&gw, "custom-function", &json!({ "customerId": "42" })).await,
            502,
            "UpstreamUnavailable",
        )
        .await;
    }
    assert_eq!(user_count(&gw).await, 0);
}

/// `?link=true` with a custom token: the token's identity joins the caller's user.
async fn link_token(gw: &TestGateway, access_token: &str, token: &str) -> reqwest::Response {
    gw.http
        .post(gw.app_api("/auth/providers/custom-token/login?link=true"))
        .bearer_auth(access_token)
        .json(&json!({ "token": token }))
        .send()
        .await
        .expect("link request")
}

#[tokio::test]
async fn custom_token_identity_links_to_the_caller_and_never_to_a_second_user() {
    let gw = start_rs256_pem("").await;
    let anon = gw.login_anon().await;
    let token = sign_rs256(&claims("linked-sub"), "rsa_private.pem", None);

    let response = link_token(&gw, &anon.access_token, &token).await;
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    let linked: Value = response.json().await.unwrap();
    assert_eq!(
        linked["user_id"],
        anon.user_id.as_str(),
        "the caller's user, not a new one"
    );
    let identities = profile(&gw, &anon.access_token).await["identities"].clone();
    let providers: Vec<&str> = identities
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i["provider_type"].as_str())
        .collect();
    assert!(
        providers.contains(&"custom-token") && providers.contains(&"anon-user"),
        "{identities}"
    );

    let (user_id, _) = accepted(&gw, &token).await;
    assert_eq!(
        user_id, anon.user_id,
        "a later custom-token login finds the linked user"
    );

    let other = gw.login_anon().await;
    let refused = link_token(&gw, &other.access_token, &token).await;
    assert_eq!(
        refused.status(),
        409,
        "an identity owned by someone else is refused"
    );
    let bad = link_token(&gw, &other.access_token, "not-a-jwt").await;
    assert_eq!(
        bad.status(),
        401,
        "a token that does not verify links nothing"
    );
}
