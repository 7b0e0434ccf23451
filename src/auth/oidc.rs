//! OpenID Connect / OAuth 2 login providers: `oauth2-google`, `oauth2-apple` and any issuer
//! found by discovery (`[[providers.oidc]]`, `oidc-<name>` on the wire).
//!
//! Login bodies, as realm-web sends them:
//! - `{"id_token": …}` (`Credentials.google({idToken})`, `Credentials.apple(idToken)`),
//!   optionally with `"nonce"`, which the token's `nonce` must then equal;
//! - `{"authCode": …}` (`Credentials.google({authCode})`): exchanged at the issuer's token
//!   endpoint (with the client secret, if configured), then its id token verified the same way.
//!
//! The redirect flow (`GET …/login?redirect=…&state=…`, `redirect`) ends in a login body
//! `{"id_token", "nonce"}` too, so every flow passes the same checks.
//!
//! Identity: `(provider name, sub)`. One provider has one issuer, so this is `iss` + `sub`
//! — and an imported App Services `oauth2-google` identity (`id` = Google's `sub`) is the
//! same identity. Profile claims copied into the user's data on every login: `email` only
//! when `email_verified` is true (Apple sends `"true"`), `name`, `picture`.
//!
//! # Security
//! - `alg` is read from the raw header and must be an asymmetric signature algorithm: `none`
//!   and the HMAC family (an RSA public key used as an HS256 secret) never reach a key. The key
//!   comes from the issuer's JWKS by `kid` (re-fetched, rate-limited, on an unknown `kid`) and
//!   verifies only algorithms of its family, and only its JWK `alg` when it states one.
//! - `iss` must be the configured issuer (Google's tokens may say `accounts.google.com`),
//!   `aud` one of `client_ids`, `exp` in the future, `nbf` past, each with `leeway`.
//! - Tokens, codes, secrets and verifiers are never logged.
//!
//! Does not start sessions; `Auth::login` / `Auth::link` do.

mod id_token;
mod issuer;
pub mod redirect;

use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use async_trait::async_trait;
use jsonwebtoken::{Algorithm, Validation};
use serde::Deserialize;
use serde_json::Value;
use url::Url;

use self::id_token::profile;
use self::issuer::Issuer;
pub use self::issuer::{Discovered, error_code as sanitized_error};
use super::custom_token::Refusal;
use super::external_user;
use super::provider::{LoginOutcome, ProvenIdentity, Provider};
use crate::auth::AuthError;
use crate::config::{GOOGLE_ISSUER, OidcConfig, Secret};
use crate::outbound::Fetcher;
use crate::store::Store;

/// Longest id token or authorization code accepted, in bytes.
const MAX_TOKEN_BYTES: usize = 16 * 1024;
/// Longest `sub` accepted, in bytes.
const MAX_SUB_BYTES: usize = 512;

/// Why an OpenID Connect login failed (mapped to the wire in `crate::error`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OidcError {
    /// The id token failed a check (the message names which).
    #[error("id {0}")]
    Token(Refusal),
    #[error("id token nonce does not match")]
    Nonce,
    /// The issuer's token endpoint refused the code (`invalid_grant`: unknown, used, expired,
    /// or its PKCE verifier does not match); the issuer's error code, sanitized.
    #[error("authorization code was refused by the issuer: {0}")]
    CodeRefused(String),
    /// The issuer refused the authorization itself (the user cancelled, …).
    #[error("the identity provider refused the login: {0}")]
    AuthorizationRefused(String),
    /// Discovery, JWKS or token endpoint unreachable or answering nonsense; the cause is
    /// logged, not sent.
    #[error("identity provider unavailable")]
    Unavailable,
    /// `redirect` is not one of the provider's `redirect_uris`.
    #[error("redirect URL is not allowed for this provider")]
    RedirectNotAllowed,
    /// The callback's `state` is missing, unknown, expired or already used.
    #[error("unknown, expired or already used OAuth state")]
    UnknownState,
}

/// Provider names live as long as the process (`Provider::name` is `&'static str`); a name
/// is leaked once, however often the config is reloaded.
fn intern(name: &str) -> &'static str {
    static NAMES: OnceLock<Mutex<Vec<&'static str>>> = OnceLock::new();
    let mut names = NAMES
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    if let Some(known) = names.iter().find(|n| **n == name) {
        return known;
    }
    let leaked: &'static str = Box::leak(name.to_owned().into_boxed_str());
    names.push(leaked);
    leaked
}

/// Whether `name` is the wire name of an OpenID Connect provider (enabled or not): these
/// answer `GET …/login` (the redirect flow) besides `POST`.
pub fn is_oidc_name(name: &str) -> bool {
    name.starts_with("oauth2-") || name.starts_with("oidc-")
}

pub struct OidcProvider {
    name: &'static str,
    config: OidcConfig,
    issuer: Issuer,
    store: Arc<dyn Store>,
    /// Audience, issuer, leeway and required claims; `algorithms` is set per token.
    validation: Validation,
}

#[derive(Deserialize)]
struct LoginBody {
    #[serde(default)]
    id_token: Option<Value>,
    #[serde(default, rename = "authCode")]
    auth_code: Option<Value>,
    #[serde(default)]
    nonce: Option<Value>,
}

impl OidcProvider {
    pub fn new(config: &OidcConfig, store: Arc<dyn Store>, fetcher: Fetcher) -> Self {
        let mut validation = Validation::new(Algorithm::RS256);
        validation.leeway = config.leeway.as_secs();
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.validate_aud = true;
        validation.set_audience(&config.client_ids);
        let mut issuers = vec![config.issuer.clone()];
        // Google documents both spellings of its issuer.
        if config.issuer == GOOGLE_ISSUER {
            issuers.push("accounts.google.com".to_owned());
        }
        validation.set_issuer(&issuers);
        validation.set_required_spec_claims(&["exp", "aud", "iss", "sub"]);
        Self {
            name: intern(&config.name),
            issuer: Issuer::new(config, fetcher),
            config: config.clone(),
            store,
            validation,
        }
    }

    /// The client id of code exchanges and redirects (the first configured).
    fn client_id(&self) -> &str {
        &self.config.client_ids[0]
    }

    fn client_secret(&self) -> Option<&Secret> {
        self.config.client_secret.as_ref()
    }

    /// The issuer's endpoints (discovered on first use).
    pub async fn discovered(&self) -> Result<Arc<Discovered>, OidcError> {
        self.issuer.discovered().await
    }

    /// `redirect` if it is exactly one of `redirect_uris` (an open redirect would hand the
    /// user's tokens to whoever wrote the link).
    pub fn allowed_redirect(&self, redirect: &str) -> Result<Url, OidcError> {
        let parsed = Url::parse(redirect).map_err(|_| OidcError::RedirectNotAllowed)?;
        if self.config.redirect_uris.contains(&parsed) {
            Ok(parsed)
        } else {
            Err(OidcError::RedirectNotAllowed)
        }
    }

    /// The issuer's authorization URL for a redirect login: code flow, PKCE S256, our
    /// `state` and `nonce`, back to `callback`.
    pub fn authorization_url(
        &self,
        discovered: &Discovered,
        callback: &str,
        state: &str,
        nonce: &str,
        verifier: &str,
    ) -> Url {
        let mut url = discovered.authorization_endpoint.clone();
        let scope = self.config.scopes.join(" ");
        {
            let mut query = url.query_pairs_mut();
            query
                .append_pair("response_type", "code")
                .append_pair("client_id", self.client_id())
                .append_pair("redirect_uri", callback)
                .append_pair("scope", &scope)
                .append_pair("state", state)
                .append_pair("nonce", nonce)
                .append_pair("code_challenge", &redirect::challenge(verifier))
                .append_pair("code_challenge_method", "S256");
            // Apple answers with a form POST whenever scopes beyond `openid` are asked for.
            if self.name == "oauth2-apple" && self.config.scopes.len() > 1 {
                query.append_pair("response_mode", "form_post");
            }
        }
        url
    }

    /// Exchanges an authorization code for the issuer's id token (not yet verified).
    pub async fn exchange(
        &self,
        code: &str,
        redirect_uri: Option<&str>,
        verifier: Option<&str>,
    ) -> Result<String, OidcError> {
        let discovered = self.discovered().await?;
        self.issuer
            .exchange(
                &discovered,
                issuer::Exchange {
                    client_id: self.client_id(),
                    client_secret: self.client_secret(),
                    code,
                    redirect_uri,
                    verifier,
                },
            )
            .await
    }

    /// The identity a login body proves: its id token (or the one its code is exchanged
    /// for), verified.
    async fn authenticate(&self, body: &Value) -> Result<ProvenIdentity, AuthError> {
        let body = LoginBody::deserialize(body)
            .map_err(|_| AuthError::bad_request("expected {id_token} or {authCode}"))?;
        let text = |field: &str, value: Option<Value>| -> Result<Option<String>, AuthError> {
            match value {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) if !s.is_empty() && s.len() <= MAX_TOKEN_BYTES => {
                    Ok(Some(s))
                }
                Some(_) => Err(AuthError::bad_request(format!(
                    "{field} must be a non-empty string"
                ))),
            }
        };
        let id_token = text("id_token", body.id_token)?;
        let auth_code = text("authCode", body.auth_code)?;
        let nonce = text("nonce", body.nonce)?;
        let token = match (id_token, auth_code) {
            (Some(token), None) => token,
            (None, Some(code)) => {
                self.exchange(&code, self.config.code_redirect_uri.as_deref(), None)
                    .await?
            }
            (Some(_), Some(_)) => {
                return Err(AuthError::bad_request(
                    "send either id_token or authCode, not both",
                ));
            }
            (None, None) => return Err(AuthError::bad_request("id_token or authCode is required")),
        };
        let claims = self
            .verify(&token, nonce.as_deref())
            .await
            .inspect_err(|err| {
                tracing::info!(provider = self.name, reason = %err, "id token refused");
            })?;
        let sub = match claims.get("sub") {
            Some(Value::String(sub))
                if !sub.is_empty()
                    && sub.len() <= MAX_SUB_BYTES
                    && !sub.chars().any(char::is_control) =>
            {
                sub.clone()
            }
            _ => {
                return Err(OidcError::Token(Refusal::MissingClaim("sub".to_owned())).into());
            }
        };
        Ok(ProvenIdentity {
            external_id: sub,
            data: profile(&claims),
            owner: None,
        })
    }
}

#[async_trait]
impl Provider for OidcProvider {
    fn name(&self) -> &'static str {
        self.name
    }

    async fn login(&self, body: &Value) -> Result<LoginOutcome, AuthError> {
        let proven = self.authenticate(body).await?;
        external_user::resolve(
            self.store.as_ref(),
            self.name,
            &proven.external_id,
            proven.data,
        )
        .await
    }

    async fn identify(&self, body: &Value) -> Result<ProvenIdentity, AuthError> {
        self.authenticate(body).await
    }
}

#[cfg(test)]
mod tests;
