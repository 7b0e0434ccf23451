//! The admin key check: `Authorization: Bearer <admin key>`, or the cookie of a console
//! session that was opened with the key.
//!
//! # Security
//! Both keys are hashed with SHA-256 and the digests compared in constant time, so neither
//! the content nor the length of the configured key leaks through response timing. A request
//! that sends `Authorization` is judged by it alone (a wrong key is not rescued by a cookie);
//! a cookie request must also pass the console's same-origin checks (`console/guard.rs`).

use std::sync::Arc;

use http::header::AUTHORIZATION;
use http::{HeaderMap, Method};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::console::{guard, sessions::Sessions};
use crate::config::Secret;
use crate::error::ApiError;
use crate::web::RequestContext;

/// The configured admin key, kept only as a digest (`None`: the admin API refuses everyone),
/// and the console sessions opened with it.
pub struct AdminKey {
    digest: Option<[u8; 32]>,
    console: Arc<Sessions>,
}

impl AdminKey {
    pub fn new(secret: Option<&Secret>) -> Self {
        Self {
            digest: secret.map(|s| Sha256::digest(s.expose()).into()),
            console: Arc::default(),
        }
    }

    /// The key after a config reload: console sessions stay open when the key is unchanged,
    /// and all end when it was rotated (they were opened with the old key).
    pub fn reloaded(&self, secret: Option<&Secret>) -> Self {
        let next = Self::new(secret);
        if next.digest == self.digest {
            Self {
                console: self.console.clone(),
                ..next
            }
        } else {
            next
        }
    }

    /// Whether `presented` is the admin key (constant time; always false without a key).
    pub fn matches(&self, presented: &str) -> bool {
        let Some(expected) = &self.digest else {
            return false;
        };
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        bool::from(digest.ct_eq(expected))
    }

    /// Checks `Authorization: Bearer <admin key>`.
    pub fn check(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        let presented = headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, key)| key.trim())
            .ok_or_else(ApiError::unauthorized_admin)?;
        if self.matches(presented) {
            Ok(())
        } else {
            Err(ApiError::unauthorized_admin())
        }
    }

    /// Checks an Admin API request: the Bearer admin key, else a live console session cookie
    /// from the console's own origin (401 without either, 403 for a cross-origin cookie).
    pub fn authorize(
        &self,
        method: &Method,
        headers: &HeaderMap,
        ctx: &RequestContext,
    ) -> Result<(), ApiError> {
        if headers.contains_key(AUTHORIZATION) || self.digest.is_none() {
            return self.check(headers);
        }
        let id = guard::session_cookie(headers, ctx).ok_or_else(ApiError::unauthorized_admin)?;
        guard::same_origin(method, headers, ctx)?;
        self.console
            .touch(id, ctx.now)
            .map(|_| ())
            .ok_or_else(ApiError::unauthorized_admin)
    }

    /// The console sessions opened with this key.
    pub fn console(&self) -> &Sessions {
        &self.console
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
