//! One issuer as the gateway talks to it: its discovery document (fetched on first use and
//! kept; a failed fetch is retried at most every `RETRY_AFTER_FAILURE`), its JWKS (see
//! `custom_token::keys::RemoteJwks`) and its token endpoint.
//!
//! Every call goes through the one outbound `Fetcher`; none follows redirects.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, Request, header};
use http_body_util::Full;
use serde::Deserialize;
use url::Url;

use super::OidcError;
use crate::auth::custom_token::keys::RemoteJwks;
use crate::config::{OidcConfig, Secret};
use crate::outbound::Fetcher;

/// Deadline of one discovery or token-endpoint call.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest discovery document or token answer read.
const MAX_ANSWER_BYTES: usize = 64 * 1024;
/// A failed discovery is not tried again sooner than this.
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(5);
/// Longest issuer error code passed on to the client.
const MAX_ERROR_CODE: usize = 64;

/// The endpoints a discovery document names.
pub struct Discovered {
    pub authorization_endpoint: Url,
    pub token_endpoint: Url,
    pub jwks: RemoteJwks,
}

pub struct Issuer {
    issuer: String,
    discovery_url: Url,
    fetcher: Fetcher,
    discovered: tokio::sync::OnceCell<Arc<Discovered>>,
    failed_at: Mutex<Option<Instant>>,
}

#[derive(Deserialize)]
struct Document {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    jwks_uri: String,
}

/// One authorization-code exchange.
pub struct Exchange<'a> {
    pub client_id: &'a str,
    pub client_secret: Option<&'a Secret>,
    pub code: &'a str,
    pub redirect_uri: Option<&'a str>,
    pub verifier: Option<&'a str>,
}

#[derive(Deserialize)]
struct TokenAnswer {
    id_token: Option<String>,
}

#[derive(Deserialize)]
struct TokenError {
    error: Option<String>,
}

impl Issuer {
    pub fn new(config: &OidcConfig, fetcher: Fetcher) -> Self {
        Self {
            issuer: config.issuer.clone(),
            discovery_url: config.discovery_url.clone(),
            fetcher,
            discovered: tokio::sync::OnceCell::new(),
            failed_at: Mutex::new(None),
        }
    }

    pub async fn discovered(&self) -> Result<Arc<Discovered>, OidcError> {
        if let Some(found) = self.discovered.get() {
            return Ok(found.clone());
        }
        let recently_failed = self
            .failed_at
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some_and(|at| at.elapsed() < RETRY_AFTER_FAILURE);
        if recently_failed {
            return Err(OidcError::Unavailable);
        }
        self.discovered
            .get_or_try_init(|| async {
                self.discover().await.map(Arc::new).map_err(|reason| {
                    tracing::warn!(issuer = %self.issuer, %reason, "OpenID discovery failed");
                    *self
                        .failed_at
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner) = Some(Instant::now());
                    OidcError::Unavailable
                })
            })
            .await
            .cloned()
    }

    async fn discover(&self) -> Result<Discovered, String> {
        let request = Request::builder()
            .method(Method::GET)
            .uri(self.discovery_url.as_str())
            .header(header::ACCEPT, "application/json")
            .body(Full::new(Bytes::new()))
            .map_err(|err| err.to_string())?;
        let answer = self
            .fetcher
            .send(request, FETCH_TIMEOUT, MAX_ANSWER_BYTES)
            .await
            .map_err(|err| err.to_string())?;
        if !answer.status.is_success() {
            return Err(format!("discovery answered {}", answer.status));
        }
        let document: Document = serde_json::from_slice(&answer.body)
            .map_err(|err| format!("not a discovery document: {err}"))?;
        // OpenID Connect Discovery §4.3: the document must name the issuer it was asked for.
        if document.issuer != self.issuer {
            return Err(format!(
                "discovery names issuer {:?}, expected {:?}",
                document.issuer, self.issuer
            ));
        }
        let endpoint = |name: &str, text: &str| -> Result<Url, String> {
            Url::parse(text)
                .ok()
                .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
                .ok_or_else(|| format!("{name} {text:?} is not an http(s) URL"))
        };
        let jwks_uri = endpoint("jwks_uri", &document.jwks_uri)?;
        let jwks_uri: http::Uri = jwks_uri
            .as_str()
            .parse()
            .map_err(|err| format!("jwks_uri: {err}"))?;
        tracing::info!(issuer = %self.issuer, "OpenID discovery fetched");
        Ok(Discovered {
            authorization_endpoint: endpoint(
                "authorization_endpoint",
                &document.authorization_endpoint,
            )?,
            token_endpoint: endpoint("token_endpoint", &document.token_endpoint)?,
            jwks: RemoteJwks::new(jwks_uri, self.fetcher.clone()),
        })
    }

    /// The id token the token endpoint gives for a code (`client_secret_post`).
    pub async fn exchange(
        &self,
        discovered: &Discovered,
        exchange: Exchange<'_>,
    ) -> Result<String, OidcError> {
        let secret = exchange
            .client_secret
            .map(|s| String::from_utf8_lossy(s.expose()).into_owned());
        let mut form: Vec<(&str, &str)> = vec![
            ("grant_type", "authorization_code"),
            ("code", exchange.code),
            ("client_id", exchange.client_id),
        ];
        if let Some(secret) = &secret {
            form.push(("client_secret", secret));
        }
        if let Some(redirect_uri) = exchange.redirect_uri {
            form.push(("redirect_uri", redirect_uri));
        }
        if let Some(verifier) = exchange.verifier {
            form.push(("code_verifier", verifier));
        }
        let body = serde_urlencoded::to_string(&form).map_err(|err| {
            tracing::warn!(issuer = %self.issuer, error = %err, "token request not encodable");
            OidcError::Unavailable
        })?;
        let request = Request::builder()
            .method(Method::POST)
            .uri(discovered.token_endpoint.as_str())
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::ACCEPT, "application/json")
            .body(Full::new(Bytes::from(body)))
            .map_err(|err| {
                tracing::warn!(issuer = %self.issuer, error = %err, "token request not built");
                OidcError::Unavailable
            })?;
        let answer = self
            .fetcher
            .send(request, FETCH_TIMEOUT, MAX_ANSWER_BYTES)
            .await
            .map_err(|err| {
                tracing::warn!(issuer = %self.issuer, error = %err, "token endpoint failed");
                OidcError::Unavailable
            })?;
        if answer.status.is_success() {
            return serde_json::from_slice::<TokenAnswer>(&answer.body)
                .ok()
                .and_then(|a| a.id_token)
                .ok_or_else(|| {
                    tracing::warn!(issuer = %self.issuer, "token endpoint answered no id_token");
                    OidcError::Unavailable
                });
        }
        // RFC 6749 §5.2: 400 (or 401 for client authentication) with an `error` code.
        if matches!(answer.status.as_u16(), 400 | 401) {
            if let Some(code) = serde_json::from_slice::<TokenError>(&answer.body)
                .ok()
                .and_then(|e| e.error)
            {
                return Err(OidcError::CodeRefused(error_code(&code)));
            }
        }
        tracing::warn!(issuer = %self.issuer, status = %answer.status, "token endpoint failed");
        Err(OidcError::Unavailable)
    }
}

/// An issuer's error code as it may be shown to the client: RFC 6749 codes are
/// `[\x20-\x21\x23-\x5B\x5D-\x7E]`; anything else, or too long, becomes `invalid_request`.
pub fn error_code(code: &str) -> String {
    let ok = !code.is_empty()
        && code.len() <= MAX_ERROR_CODE
        && code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.');
    if ok {
        code.to_owned()
    } else {
        "invalid_request".to_owned()
    }
}
