//! An example upstream that verifies sessiongate's identity assertion instead of trusting the
//! plain identity headers: safe even when it can be reached around the gateway.
//!
//! Run the gateway with `identity_headers.assertion = "X-Sessiongate-Assertion"`, then:
//!
//! ```sh
//! cargo run --example verified_upstream -- 127.0.0.1:9000 \
//!     http://127.0.0.1:8080/.well-known/jwks.json http://127.0.0.1:9000 myapp-abcde
//! ```
//!
//! Arguments: listen address, the gateway's JWKS URL, the audience to accept (the route's
//! `audience`, by default the upstream URL as configured in the gateway), the issuer (the
//! gateway's `app.id`). Every request needs a valid assertion (ES256, signed by a published
//! key, this audience and issuer, not expired): `GET /whoami` answers its claims, anything
//! else 401. The JWKS is fetched at start and again when an assertion names an unknown key
//! (a rotation), at most every 10 s.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Value, json};

const HEADER: &str = "x-sessiongate-assertion";
const REFETCH_AT_MOST_EVERY: Duration = Duration::from_secs(10);

struct Verifier {
    jwks_url: http::Uri,
    validation: Validation,
    client: Client<HttpConnector, Empty<Bytes>>,
    keys: Mutex<(JwkSet, Instant)>,
}

impl Verifier {
    async fn fetch(&self) -> Result<JwkSet, String> {
        let response = self
            .client
            .get(self.jwks_url.clone())
            .await
            .map_err(|err| format!("JWKS fetch failed: {err}"))?;
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|err| format!("JWKS read failed: {err}"))?
            .to_bytes();
        serde_json::from_slice(&body).map_err(|err| format!("not a JWKS: {err}"))
    }

    /// The key for `kid`, refetching the JWKS once if it is unknown (a rotated key).
    async fn key(&self, kid: &str) -> Result<DecodingKey, String> {
        let known = |set: &JwkSet| set.find(kid).map(DecodingKey::from_jwk);
        let stale = {
            let keys = self.keys.lock().expect("keys lock");
            if let Some(key) = known(&keys.0) {
                return key.map_err(|err| err.to_string());
            }
            keys.1.elapsed() >= REFETCH_AT_MOST_EVERY
        };
        if stale {
            let fresh = self.fetch().await?;
            *self.keys.lock().expect("keys lock") = (fresh, Instant::now());
        }
        let keys = self.keys.lock().expect("keys lock");
        known(&keys.0)
            .ok_or_else(|| format!("unknown key {kid:?}"))?
            .map_err(|err| err.to_string())
    }

    async fn verify(&self, token: &str) -> Result<Value, String> {
        let header = jsonwebtoken::decode_header(token).map_err(|err| err.to_string())?;
        let kid = header.kid.ok_or("the assertion names no key")?;
        let key = self.key(&kid).await?;
        jsonwebtoken::decode::<Value>(token, &key, &self.validation)
            .map(|data| data.claims)
            .map_err(|err| err.to_string())
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [listen, jwks_url, audience, issuer] = args.as_slice() else {
        return Err("usage: verified_upstream LISTEN JWKS_URL AUDIENCE ISSUER".into());
    };
    let addr: SocketAddr = listen.parse()?;
    let mut validation = Validation::new(Algorithm::ES256);
    validation.set_audience(&[audience]);
    validation.set_issuer(&[issuer]);
    validation.set_required_spec_claims(&["exp", "iat", "sub", "aud", "iss"]);
    validation.leeway = 5;
    let verifier = Arc::new(Verifier {
        jwks_url: jwks_url.parse()?,
        validation,
        client: Client::builder(TokioExecutor::new()).build_http(),
        keys: Mutex::new((JwkSet { keys: Vec::new() }, Instant::now())),
    });
    let first = verifier.fetch().await?;
    *verifier.keys.lock().expect("keys lock") = (first, Instant::now());
    let listener = tokio::net::TcpListener::bind(addr).await?;
    println!(
        "verified_upstream listening on http://{}",
        listener.local_addr()?
    );
    loop {
        let (stream, _) = listener.accept().await?;
        let verifier = verifier.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let verifier = verifier.clone();
                async move { Ok::<_, Infallible>(handle(request, &verifier).await) }
            });
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn handle(request: Request<Incoming>, verifier: &Verifier) -> Response<Full<Bytes>> {
    let token = request
        .headers()
        .get(HEADER)
        .and_then(|value| value.to_str().ok());
    let claims = match token {
        None => return answer(StatusCode::UNAUTHORIZED, &json!({"error": "no assertion"})),
        Some(token) => match verifier.verify(token).await {
            Ok(claims) => claims,
            Err(reason) => {
                return answer(StatusCode::UNAUTHORIZED, &json!({"error": reason}));
            }
        },
    };
    match request.uri().path() {
        "/whoami" => answer(StatusCode::OK, &claims),
        _ => answer(StatusCode::NOT_FOUND, &json!({"error": "not found"})),
    }
}

fn answer(status: StatusCode, body: &Value) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response
}
