//! The admin key check.
//!
//! # Security
//! Both keys are hashed with SHA-256 and the digests compared in constant time, so neither
//! the content nor the length of the configured key leaks through response timing.

use http::HeaderMap;
use http::header::AUTHORIZATION;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::Secret;
use crate::error::ApiError;

/// The configured admin key, kept only as a digest. `None`: the admin API refuses everyone.
pub struct AdminKey(Option<[u8; 32]>);

impl AdminKey {
    pub fn new(secret: Option<&Secret>) -> Self {
        Self(secret.map(|s| Sha256::digest(s.expose()).into()))
    }

    /// Checks `Authorization: Bearer <admin key>`.
    pub fn check(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        let Some(expected) = &self.0 else {
            return Err(ApiError::unauthorized_admin());
        };
        let presented = headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, key)| key.trim())
            .ok_or_else(ApiError::unauthorized_admin)?;
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        if bool::from(digest.ct_eq(expected)) {
            Ok(())
        } else {
            Err(ApiError::unauthorized_admin())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn with_auth(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn only_the_exact_key_passes() {
        let key = AdminKey::new(Some(&Secret::new("correct-horse-battery")));
        assert!(
            key.check(&with_auth("Bearer correct-horse-battery"))
                .is_ok()
        );
        assert!(
            key.check(&with_auth("Bearer correct-horse-batter"))
                .is_err()
        );
        assert!(
            key.check(&with_auth("Bearer correct-horse-battery2"))
                .is_err()
        );
        assert!(
            key.check(&with_auth("Basic correct-horse-battery"))
                .is_err()
        );
        assert!(key.check(&HeaderMap::new()).is_err());
    }

    #[test]
    fn no_configured_key_refuses_everyone() {
        let key = AdminKey::new(None);
        assert!(key.check(&with_auth("Bearer ")).is_err());
        assert!(key.check(&with_auth("Bearer anything")).is_err());
    }
}
