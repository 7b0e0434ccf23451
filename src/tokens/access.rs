//! Access tokens: App Services-shaped JWT claims, signed and verified with the pinned
//! algorithm of the `KeySet`.
//!
//! Does not cache or check revocation; `Tokens::authenticate` does.

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Header, decode, decode_header, encode};
use serde::{Deserialize, Serialize};

use super::{KeySet, TokenError};

/// `typ` claim of access tokens; anything else is refused where an access token is expected.
pub const ACCESS_TYP: &str = "access";

/// Claims of an access token, as App Services names them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccessClaims {
    pub sub: String,
    pub sid: String,
    pub iat: i64,
    pub exp: i64,
    pub iss: String,
    pub typ: String,
    pub baas_device_id: String,
    /// The provider that started the session (`anon-user`, `local-userpass`, …).
    #[serde(default)]
    pub baas_provider: String,
    #[serde(default)]
    pub user_data: serde_json::Value,
}

/// The part of a verified token the request path needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub user_id: String,
    pub session_id: String,
    pub provider: String,
    pub device_id: String,
    pub iat: i64,
    pub exp: i64,
}

impl From<AccessClaims> for Verified {
    fn from(claims: AccessClaims) -> Self {
        Self {
            user_id: claims.sub,
            session_id: claims.sid,
            provider: claims.baas_provider,
            device_id: claims.baas_device_id,
            iat: claims.iat,
            exp: claims.exp,
        }
    }
}

/// Signs `claims` with the key active at `now`, naming it in the `kid` header.
pub fn sign(keys: &KeySet, claims: &AccessClaims, now: i64) -> Result<String, TokenError> {
    let active = keys.signing_key(now);
    let mut header = Header::new(keys.algorithm());
    header.kid = Some(active.kid.clone());
    encode(&header, claims, &active.encoding).map_err(|err| TokenError::Signing(err.to_string()))
}

/// Verifies signature, `exp`, `iss` and `typ`.
///
/// # Security
/// The algorithm comes from configuration (`KeySet::validation`), never from the token: a
/// token whose header says `none`, or HS256 where RS256 is configured (the key-confusion
/// attack), fails before any key is used. The key is chosen by `kid` among our own keys only;
/// `jku`, `jwk` and `x5u` headers are ignored.
pub fn verify(keys: &KeySet, issuer: &str, token: &str) -> Result<AccessClaims, TokenError> {
    let header = decode_header(token).map_err(|_| TokenError::Malformed)?;
    let kid = header.kid.as_deref().ok_or(TokenError::UnknownKey)?;
    let key = keys.find(kid).ok_or(TokenError::UnknownKey)?;
    let data =
        decode::<AccessClaims>(token, &key.decoding, keys.validation()).map_err(|err| match err
            .kind()
        {
            ErrorKind::ExpiredSignature => TokenError::Expired,
            ErrorKind::InvalidSignature | ErrorKind::InvalidAlgorithm => TokenError::BadSignature,
            _ => TokenError::Malformed,
        })?;
    let claims = data.claims;
    if claims.iss != issuer || claims.typ != ACCESS_TYP {
        return Err(TokenError::Malformed);
    }
    Ok(claims)
}
