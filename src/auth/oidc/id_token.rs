//! An id token checked: its `alg` (asymmetric only, read from the raw header), its signature
//! by the issuer's JWKS, its claims and nonce; and the profile claims copied from it.

use jsonwebtoken::Algorithm;
use serde_json::{Map, Value};

use super::{MAX_TOKEN_BYTES, OidcError, OidcProvider};
use crate::auth::custom_token::{self, Refusal};

/// Signature algorithms an id token may use (asymmetric only).
const ALGORITHMS: [Algorithm; 9] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

impl OidcProvider {
    /// Verifies `token`; returns its claims.
    pub(super) async fn verify(
        &self,
        token: &str,
        nonce: Option<&str>,
    ) -> Result<Map<String, Value>, OidcError> {
        if token.len() > MAX_TOKEN_BYTES || token.split('.').count() != 3 {
            return Err(OidcError::Token(Refusal::Malformed));
        }
        let alg = accepted_algorithm(token).map_err(OidcError::Token)?;
        let header =
            jsonwebtoken::decode_header(token).map_err(|_| OidcError::Token(Refusal::Malformed))?;
        if header.alg != alg || header.crit.is_some() {
            return Err(OidcError::Token(Refusal::Malformed));
        }
        let discovered = self.discovered().await?;
        let key = discovered
            .jwks
            .select(alg, header.kid.as_deref())
            .await
            .map_err(|refusal| match refusal {
                Refusal::KeysUnavailable => OidcError::Unavailable,
                other => OidcError::Token(other),
            })?;
        let mut validation = self.validation.clone();
        validation.algorithms = vec![alg];
        let data = jsonwebtoken::decode::<Map<String, Value>>(token, &key, &validation)
            .map_err(|err| OidcError::Token(custom_token::refusal(err.kind())))?;
        let claims = data.claims;
        if let Some(expected) = nonce {
            if claims.get("nonce").and_then(Value::as_str) != Some(expected) {
                return Err(OidcError::Nonce);
            }
        }
        Ok(claims)
    }
}

/// The token's `alg`, read from the raw header, if it is one an id token may use.
pub(super) fn accepted_algorithm(token: &str) -> Result<Algorithm, Refusal> {
    custom_token::accepted_algorithm(token, &ALGORITHMS)
}

/// The profile claims copied into the user's data.
pub(super) fn profile(claims: &Map<String, Value>) -> Map<String, Value> {
    let mut data = Map::new();
    let verified = matches!(claims.get("email_verified"), Some(Value::Bool(true)))
        || claims.get("email_verified").and_then(Value::as_str) == Some("true");
    if verified {
        if let Some(email) = claims.get("email").and_then(Value::as_str) {
            data.insert("email".to_owned(), Value::from(email));
        }
    }
    for field in ["name", "picture"] {
        if let Some(value) = claims.get(field).and_then(Value::as_str) {
            data.insert(field.to_owned(), Value::from(value));
        }
    }
    data
}
