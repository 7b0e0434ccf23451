//! A local OpenID Connect issuer on port 0, signing with the fixture keys (RSA `rsa-1`
//! RS256, EC `ec-1` ES256):
//!
//! - `GET /.well-known/openid-configuration`: discovery (issuer = its own URL).
//! - `GET /jwks`: the two public keys.
//! - `GET /authorize?response_type=code&client_id&redirect_uri&state&nonce[&code_challenge
//!   &code_challenge_method=S256]`: "logs in" the current user (`set_user`) at once and
//!   redirects to `redirect_uri?code=…&state=…`; an unknown client is 400.
//! - `POST /token` (form, `client_secret_post`): checks the client secret, that the code exists
//!   and was not used (single use), was issued to this client and `redirect_uri`, and PKCE:
//!   a code issued with a challenge needs the matching S256 verifier; a verifier for a code
//!   issued without one is refused too (downgrade). Answers `{id_token, access_token,
//!   token_type}` or 400/401 `{error}`.
//!
//! Tests also sign id tokens directly (`id_token`, `sign`). Waiting is never by sleep.
#![allow(dead_code)]

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::sync::oneshot;

pub const CLIENT_ID: &str = "gateway-client.apps.example";
pub const CLIENT_SECRET: &str = "local-issuer-client-secret-0123456789";
pub const RSA_KID: &str = "rsa-1";
pub const EC_KID: &str = "ec-1";

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("fixture key")
}

pub fn rsa_key() -> EncodingKey {
    EncodingKey::from_rsa_pem(&fixture("rsa_private.pem")).expect("RSA key")
}

pub fn rsa2_key() -> EncodingKey {
    EncodingKey::from_rsa_pem(&fixture("rsa2_private.pem")).expect("RSA key")
}

pub fn ec_key() -> EncodingKey {
    EncodingKey::from_ec_pem(&fixture("ec_private.pem")).expect("EC key")
}

/// The user the authorization endpoint "logs in".
#[derive(Clone)]
pub struct User {
    pub sub: String,
    pub email: Option<String>,
    pub email_verified: bool,
}

struct IssuedCode {
    client_id: String,
    redirect_uri: String,
    challenge: Option<String>,
    nonce: Option<String>,
    user: User,
}

struct Inner {
    url: String,
    codes: Mutex<HashMap<String, IssuedCode>>,
    user: Mutex<User>,
    counter: AtomicU64,
    token_requests: AtomicU64,
}

pub struct LocalIssuer {
    pub url: String,
    inner: Arc<Inner>,
    _stop: oneshot::Sender<()>,
}

impl LocalIssuer {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind issuer");
        let url = format!("http://{}", listener.local_addr().expect("issuer addr"));
        let inner = Arc::new(Inner {
            url: url.clone(),
            codes: Mutex::new(HashMap::new()),
            user: Mutex::new(User {
                sub: "local-user-1".into(),
                email: Some("user1@example.com".into()),
                email_verified: true,
            }),
            counter: AtomicU64::new(0),
            token_requests: AtomicU64::new(0),
        });
        let (stop_tx, mut stop_rx) = oneshot::channel::<()>();
        let shared = inner.clone();
        tokio::spawn(async move {
            loop {
                let (stream, _) = tokio::select! {
                    accepted = listener.accept() => match accepted { Ok(pair) => pair, Err(_) => continue },
                    _ = &mut stop_rx => return,
                };
                let shared = shared.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request: Request<Incoming>| {
                        let shared = shared.clone();
                        async move { Ok::<_, Infallible>(answer(&shared, request).await) }
                    });
                    let _ = auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self {
            url,
            inner,
            _stop: stop_tx,
        }
    }

    /// The user the next authorization logs in.
    pub fn set_user(&self, user: User) {
        *self.inner.user.lock().unwrap() = user;
    }

    /// Token endpoint calls so far.
    pub fn token_requests(&self) -> u64 {
        self.inner.token_requests.load(Ordering::SeqCst)
    }

    /// A code for the current user issued as `/authorize` would, without PKCE (what a native
    /// or JavaScript Google sign-in hands the app for `{"authCode"}`).
    pub fn issue_code(&self, redirect_uri: &str) -> String {
        issue(&self.inner, CLIENT_ID, redirect_uri, None, None)
    }

    /// Standard claims of an id token for `sub` from this issuer, valid for 5 minutes.
    pub fn claims(&self, sub: &str) -> Value {
        let now = now();
        json!({
            "iss": self.url,
            "aud": CLIENT_ID,
            "sub": sub,
            "iat": now,
            "exp": now + 300,
        })
    }

    /// `claims` signed RS256 with the issuer's RSA key.
    pub fn id_token(&self, claims: &Value) -> String {
        sign(claims, Algorithm::RS256, Some(RSA_KID), &rsa_key())
    }
}

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64
}

pub fn sign(claims: &Value, alg: Algorithm, kid: Option<&str>, key: &EncodingKey) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, key).expect("sign")
}

/// A JWT with any header, signed (or not) by the caller: `signature` is appended as is.
pub fn raw_jwt(header: &Value, claims: &Value, signature: &str) -> String {
    format!(
        "{}.{}.{signature}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    )
}

fn jwks() -> Value {
    let mut rsa = Jwk::from_encoding_key(&rsa_key(), Algorithm::RS256).expect("jwk");
    rsa.common.key_id = Some(RSA_KID.into());
    let mut ec = Jwk::from_encoding_key(&ec_key(), Algorithm::ES256).expect("jwk");
    ec.common.key_id = Some(EC_KID.into());
    json!({ "keys": [rsa, ec] })
}

fn issue(
    inner: &Inner,
    client_id: &str,
    redirect_uri: &str,
    challenge: Option<String>,
    nonce: Option<String>,
) -> String {
    let code = format!("code-{}", inner.counter.fetch_add(1, Ordering::SeqCst));
    let user = inner.user.lock().unwrap().clone();
    inner.codes.lock().unwrap().insert(
        code.clone(),
        IssuedCode {
            client_id: client_id.into(),
            redirect_uri: redirect_uri.into(),
            challenge,
            nonce,
            user,
        },
    );
    code
}

fn json_response(status: StatusCode, body: &Value) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response
}

fn oauth_error(status: StatusCode, error: &str) -> Response<Full<Bytes>> {
    json_response(status, &json!({ "error": error }))
}

async fn answer(inner: &Inner, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let path = request.uri().path().to_owned();
    let query: HashMap<String, String> = request
        .uri()
        .query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default();
    match (request.method().clone(), path.as_str()) {
        (Method::GET, "/.well-known/openid-configuration") => json_response(
            StatusCode::OK,
            &json!({
                "issuer": inner.url,
                "authorization_endpoint": format!("{}/authorize", inner.url),
                "token_endpoint": format!("{}/token", inner.url),
                "jwks_uri": format!("{}/jwks", inner.url),
                "response_types_supported": ["code"],
                "code_challenge_methods_supported": ["S256"],
            }),
        ),
        (Method::GET, "/jwks") => json_response(StatusCode::OK, &jwks()),
        (Method::GET, "/authorize") => {
            let (Some(client_id), Some(redirect_uri), Some(state)) = (
                query.get("client_id"),
                query.get("redirect_uri"),
                query.get("state"),
            ) else {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
            };
            if client_id != CLIENT_ID
                || query.get("response_type").map(String::as_str) != Some("code")
            {
                return oauth_error(StatusCode::BAD_REQUEST, "unauthorized_client");
            }
            let challenge = query.get("code_challenge").cloned();
            if challenge.is_some()
                && query.get("code_challenge_method").map(String::as_str) != Some("S256")
            {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
            }
            let code = issue(
                inner,
                client_id,
                redirect_uri,
                challenge,
                query.get("nonce").cloned(),
            );
            let mut target = url::Url::parse(redirect_uri).expect("redirect_uri is a URL");
            target
                .query_pairs_mut()
                .append_pair("code", &code)
                .append_pair("state", state);
            let mut response = Response::new(Full::new(Bytes::new()));
            *response.status_mut() = StatusCode::FOUND;
            response.headers_mut().insert(
                http::header::LOCATION,
                http::HeaderValue::from_str(target.as_str()).expect("location"),
            );
            response
        }
        (Method::POST, "/token") => {
            inner.token_requests.fetch_add(1, Ordering::SeqCst);
            let body = request
                .into_body()
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            let form: HashMap<String, String> =
                url::form_urlencoded::parse(&body).into_owned().collect();
            let field = |name: &str| form.get(name).map(String::as_str);
            if field("grant_type") != Some("authorization_code") {
                return oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type");
            }
            if field("client_id") != Some(CLIENT_ID)
                || field("client_secret") != Some(CLIENT_SECRET)
            {
                return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
            }
            // Single use: the code is gone whatever happens next.
            let Some(issued) = field("code").and_then(|c| inner.codes.lock().unwrap().remove(c))
            else {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
            };
            if issued.client_id != CLIENT_ID
                || field("redirect_uri").unwrap_or_default() != issued.redirect_uri
            {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
            }
            let verifier_ok = match (&issued.challenge, field("code_verifier")) {
                (Some(challenge), Some(verifier)) => {
                    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())) == *challenge
                }
                (None, None) => true,
                _ => false,
            };
            if !verifier_ok {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
            }
            let now = now();
            let mut claims = json!({
                "iss": inner.url,
                "aud": CLIENT_ID,
                "sub": issued.user.sub,
                "iat": now,
                "exp": now + 300,
            });
            if let Some(email) = &issued.user.email {
                claims["email"] = json!(email);
                claims["email_verified"] = json!(issued.user.email_verified);
            }
            if let Some(nonce) = &issued.nonce {
                claims["nonce"] = json!(nonce);
            }
            let id_token = sign(&claims, Algorithm::ES256, Some(EC_KID), &ec_key());
            json_response(
                StatusCode::OK,
                &json!({
                    "access_token": "local-access-token",
                    "token_type": "Bearer",
                    "expires_in": 300,
                    "id_token": id_token,
                }),
            )
        }
        _ => oauth_error(StatusCode::NOT_FOUND, "not_found"),
    }
}
