//! `custom-token`: login with a JWT from an external identity provider, `{"token": "<JWT>"}`.
//! The token is verified against configured keys, its claims checked, and its `sub` logs in
//! as the identity `("custom-token", sub)`; configured claims ("metadata fields") are copied
//! into the user's data on every login.
//!
//! Every refusal is 401 `AuthError` with a short message that names the check, not the token
//! ("token expired", "token audience is not accepted"); only a JWKS URL that cannot be
//! fetched (no keys at all) is 502 `UpstreamUnavailable`. The token is never logged.
//!
//! # Security
//!
//! - The algorithm is checked against `algorithms` on the raw header before anything else:
//!   `none` (any spelling) and unlisted algorithms never reach a key, and a key only verifies
//!   algorithms of its own family, so an RSA public key cannot become an HMAC secret.
//! - Keys come only from configuration (see `keys`); `jku`, `jwk`, `x5u`, `x5c` are ignored.
//! - `exp` and `aud` are required; `nbf` is enforced when present; `iss` when configured;
//!   `crit` headers are refused (no extension is understood).
//!
//! Does not issue tokens or sessions; `Auth::login` starts the session.

/// Also verifies OpenID Connect id tokens (`auth::oidc`): a JWKS URL with its cache.
pub(crate) mod keys;

use std::str::FromStr;
use std::sync::Arc;

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Validation};
use serde::Deserialize;
use serde_json::{Map, Value};

use self::keys::Keys;
use super::external_user;
use super::provider::{LoginOutcome, ProvenIdentity, Provider};
use crate::auth::AuthError;
use crate::config::{CustomTokenConfig, KeyMiss, MetadataField};
use crate::outbound::Fetcher;
use crate::store::Store;

pub const NAME: &str = "custom-token";

/// Longest token accepted, in bytes.
const MAX_TOKEN_BYTES: usize = 16 * 1024;
/// Longest `sub` accepted, in bytes.
const MAX_SUB_BYTES: usize = 512;

/// Why a token was refused, in words safe to send to the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("token is malformed")]
    Malformed,
    #[error("token algorithm is not accepted")]
    Algorithm,
    #[error("token signing key is unknown")]
    UnknownKey,
    #[error("token signature is invalid")]
    BadSignature,
    #[error("token expired")]
    Expired,
    #[error("token is not valid yet")]
    NotYetValid,
    #[error("token audience is not accepted")]
    Audience,
    #[error("token issuer is not accepted")]
    Issuer,
    /// A registered claim (`exp`, `aud`, `iss`, `sub`) or a required metadata claim.
    #[error("token is missing required claim {0}")]
    MissingClaim(String),
    /// The JWKS URL could not be fetched and no keys are cached.
    #[error("token signing keys are unavailable")]
    KeysUnavailable,
}

impl From<KeyMiss> for Refusal {
    fn from(miss: KeyMiss) -> Self {
        match miss {
            KeyMiss::UnknownKey => Refusal::UnknownKey,
            KeyMiss::Algorithm => Refusal::Algorithm,
        }
    }
}

pub struct CustomTokenProvider {
    store: Arc<dyn Store>,
    keys: Keys,
    algorithms: Vec<Algorithm>,
    /// Audience, issuer, leeway and required claims; `algorithms` is set per token.
    validation: Validation,
    metadata: Vec<MetadataField>,
}

#[derive(Deserialize)]
struct LoginBody {
    #[serde(default)]
    token: Option<String>,
}

impl CustomTokenProvider {
    /// Verifies with the keys config validation loaded (a JWKS URL is fetched at the first
    /// login).
    pub fn new(config: &CustomTokenConfig, store: Arc<dyn Store>, fetcher: Fetcher) -> Self {
        let keys = Keys::new(&config.keys, fetcher);
        let mut validation = Validation::new(Algorithm::RS256);
        validation.leeway = config.leeway.as_secs();
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.validate_aud = true;
        validation.set_audience(&config.audience);
        let mut required = vec!["exp", "aud"];
        if let Some(issuer) = &config.issuer {
            validation.set_issuer(&[issuer]);
            required.push("iss");
        }
        validation.set_required_spec_claims(&required);
        Self {
            store,
            keys,
            algorithms: config
                .algorithms
                .iter()
                .filter_map(|a| Algorithm::from_str(a).ok())
                .collect(),
            validation,
            metadata: config.metadata.clone(),
        }
    }

    /// Verifies `token`; returns its claims.
    async fn verify(&self, token: &str) -> Result<Map<String, Value>, Refusal> {
        if token.len() > MAX_TOKEN_BYTES || token.split('.').count() != 3 {
            return Err(Refusal::Malformed);
        }
        let alg = accepted_algorithm(token, &self.algorithms)?;
        let header = jsonwebtoken::decode_header(token).map_err(|_| Refusal::Malformed)?;
        if header.alg != alg || header.crit.is_some() {
            return Err(Refusal::Malformed);
        }
        let key = self.keys.select(alg, header.kid.as_deref()).await?;
        let mut validation = self.validation.clone();
        validation.algorithms = vec![alg];
        let data = jsonwebtoken::decode::<Map<String, Value>>(token, &key, &validation)
            .map_err(|err| refusal(err.kind()))?;
        Ok(data.claims)
    }

    /// The configured claims as the user's data fields.
    fn metadata(&self, claims: &Map<String, Value>) -> Result<Map<String, Value>, Refusal> {
        let mut data = Map::new();
        for field in &self.metadata {
            match claim_at(claims, &field.claim) {
                Some(value) if !value.is_null() => {
                    data.insert(field.field.clone(), value.clone());
                }
                _ if field.required => return Err(Refusal::MissingClaim(field.claim.clone())),
                _ => {}
            }
        }
        Ok(data)
    }

    /// Verification, `sub` and metadata: the identity and the data for the user.
    async fn authenticate(&self, token: &str) -> Result<(String, Map<String, Value>), Refusal> {
        let claims = self.verify(token).await?;
        let sub = match claims.get("sub") {
            Some(Value::String(sub)) if !sub.is_empty() => sub,
            _ => return Err(Refusal::MissingClaim("sub".to_owned())),
        };
        if sub.len() > MAX_SUB_BYTES || sub.chars().any(char::is_control) {
            return Err(Refusal::Malformed);
        }
        let data = self.metadata(&claims)?;
        Ok((sub.clone(), data))
    }
}

#[async_trait]
impl Provider for CustomTokenProvider {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn login(&self, body: &Value) -> Result<LoginOutcome, AuthError> {
        let proven = self.identify(body).await?;
        external_user::resolve(self.store.as_ref(), NAME, &proven.external_id, proven.data).await
    }

    /// Verifies the token like `login` and names its `sub`, creating nothing (linking).
    async fn identify(&self, body: &Value) -> Result<ProvenIdentity, AuthError> {
        let body =
            LoginBody::deserialize(body).map_err(|_| AuthError::bad_request("expected {token}"))?;
        let token = body
            .token
            .filter(|t| !t.is_empty())
            .ok_or_else(|| AuthError::missing_field("token"))?;
        let (sub, data) = self.authenticate(&token).await.inspect_err(|refusal| {
            tracing::info!(provider = NAME, reason = %refusal, "token refused");
        })?;
        Ok(ProvenIdentity {
            external_id: sub,
            data,
            owner: None,
        })
    }
}

/// What a verification failure means for the client.
pub(crate) fn refusal(kind: &ErrorKind) -> Refusal {
    match kind {
        ErrorKind::InvalidSignature
        | ErrorKind::InvalidEcdsaKey
        | ErrorKind::InvalidEddsaKey
        | ErrorKind::InvalidRsaKey(_)
        | ErrorKind::InvalidKeyFormat => Refusal::BadSignature,
        ErrorKind::ExpiredSignature => Refusal::Expired,
        ErrorKind::ImmatureSignature => Refusal::NotYetValid,
        ErrorKind::InvalidAudience => Refusal::Audience,
        ErrorKind::InvalidIssuer => Refusal::Issuer,
        ErrorKind::MissingRequiredClaim(claim) => Refusal::MissingClaim(claim.clone()),
        ErrorKind::InvalidAlgorithm
        | ErrorKind::MissingAlgorithm
        | ErrorKind::InvalidAlgorithmName => Refusal::Algorithm,
        _ => Refusal::Malformed,
    }
}

/// A claim by name: the whole name first (URL-style claims hold dots), then as a dotted path
/// through nested objects (`user_data.name`).
fn claim_at<'a>(claims: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    if let Some(value) = claims.get(path) {
        return Some(value);
    }
    let mut parts = path.split('.');
    let mut value = claims.get(parts.next()?)?;
    for part in parts {
        value = value.as_object()?.get(part)?;
    }
    Some(value)
}

/// A JWT's `alg`, read from its raw header, if it is one of `allowed` (custom-token and the
/// OIDC providers): the header is never trusted to choose anything else.
pub(super) fn accepted_algorithm(token: &str, allowed: &[Algorithm]) -> Result<Algorithm, Refusal> {
    let encoded = token.split('.').next().unwrap_or_default();
    let bytes = URL_SAFE_NO_PAD
        .decode(encoded)
        .map_err(|_| Refusal::Malformed)?;
    let header: Map<String, Value> =
        serde_json::from_slice(&bytes).map_err(|_| Refusal::Malformed)?;
    header
        .get("alg")
        .and_then(Value::as_str)
        .and_then(|name| Algorithm::from_str(name).ok())
        .filter(|alg| allowed.contains(alg))
        .ok_or(Refusal::Algorithm)
}

#[cfg(test)]
mod tests;
