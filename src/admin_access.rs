//! Who may use the admin listener. The admin key check: `Authorization: Bearer <admin key>` (any of the named keys), an admin
//! access token minted for one of them (`token.rs`), or the cookie of a console session that
//! was opened with a key.
//!
//! # Security
//! Keys are hashed with SHA-256 and the digests compared in constant time, every configured
//! key each time, so neither the content nor the length of a key leaks through response
//! timing. A request
//! that sends `Authorization` is judged by it alone (a wrong key is not rescued by a cookie);
//! a cookie request must also pass the console's same-origin checks (`admin_access/guard.rs`).

use std::sync::Arc;

use http::header::AUTHORIZATION;
use http::{HeaderMap, Method};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

pub mod guard;
pub mod sessions;
pub mod token;

use self::sessions::Sessions;
use self::token::Kind;
use crate::config::{AdminConfig, DEFAULT_ADMIN_KEY_NAME, Secret};
use crate::error::ApiError;
use crate::web::RequestContext;

/// The configured admin keys, by name, kept only as digests (none: the admin API refuses
/// everyone), and the console sessions opened with them.
pub struct AdminKey {
    keys: Vec<(String, [u8; 32])>,
    console: Arc<Sessions>,
}

fn digest(secret: &Secret) -> [u8; 32] {
    Sha256::digest(secret.expose()).into()
}

impl AdminKey {
    pub fn new(config: &AdminConfig) -> Self {
        let default = config
            .api_key
            .as_ref()
            .map(|key| (DEFAULT_ADMIN_KEY_NAME.to_owned(), digest(key)));
        let named = config.keys.iter().map(|k| (k.name.clone(), digest(&k.key)));
        Self {
            keys: default.into_iter().chain(named).collect(),
            console: Arc::default(),
        }
    }

    /// The keys after a config reload: console sessions stay open when the keys are
    /// unchanged, and all end when one was rotated or removed (it may have opened them).
    pub fn reloaded(&self, config: &AdminConfig) -> Self {
        let next = Self::new(config);
        if next.keys == self.keys {
            Self {
                console: self.console.clone(),
                ..next
            }
        } else {
            next
        }
    }

    /// The name of the admin key `presented` is (constant time over every key; `None`
    /// without a match).
    pub fn key_name(&self, presented: &str) -> Option<&str> {
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        let mut found = None;
        for (name, expected) in &self.keys {
            if bool::from(digest.ct_eq(expected)) {
                found = Some(name.as_str());
            }
        }
        found
    }

    /// Whether `presented` is one of the admin keys.
    pub fn matches(&self, presented: &str) -> bool {
        self.key_name(presented).is_some()
    }

    fn digest_of(&self, name: &str) -> Option<&[u8; 32]> {
        self.keys
            .iter()
            .find(|(key_name, _)| key_name == name)
            .map(|(_, digest)| digest)
    }

    /// An admin access and refresh token for the key `presented` (mongodb-cloud login), or
    /// `None` when it is no admin key. Returns (key name, access token, refresh token).
    pub fn log_in(&self, presented: &str, now: i64) -> Option<(String, String, String)> {
        let name = self.key_name(presented)?.to_owned();
        let digest = self.digest_of(&name)?;
        Some((
            name.clone(),
            token::mint(Kind::Access, &name, digest, now),
            token::mint(Kind::Refresh, &name, digest, now),
        ))
    }

    /// A new access token for a valid admin refresh token (`POST /api/admin/v3.0/auth/session`).
    pub fn refresh(&self, headers: &HeaderMap, now: i64) -> Result<String, ApiError> {
        let presented = bearer(headers).ok_or_else(ApiError::unauthorized_admin)?;
        let name = token::verify(presented, Kind::Refresh, now, |name| self.digest_of(name))
            .ok_or_else(ApiError::unauthorized_admin)?;
        let digest = self
            .digest_of(&name)
            .ok_or_else(ApiError::unauthorized_admin)?;
        Ok(token::mint(Kind::Access, &name, digest, now))
    }

    /// Whether `presented` is an admin key or a live admin access token.
    fn admits(&self, presented: &str) -> bool {
        if token::is_token(presented) {
            token::verify(presented, Kind::Access, crate::ids::now(), |name| {
                self.digest_of(name)
            })
            .is_some()
        } else {
            self.matches(presented)
        }
    }

    /// Checks `Authorization: Bearer <admin key or admin access token>`.
    pub fn check(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        let presented = bearer(headers).ok_or_else(ApiError::unauthorized_admin)?;
        if self.admits(presented) {
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
        if headers.contains_key(AUTHORIZATION) || self.keys.is_empty() {
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

/// The credential of `Authorization: Bearer <credential>`.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, key)| key.trim())
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn config(default: Option<&str>, named: &[(&str, &str)]) -> AdminConfig {
        AdminConfig {
            api_key: default.map(Secret::new),
            import_max_bytes: 1024,
            keys: named
                .iter()
                .map(|(name, key)| crate::config::NamedAdminKey {
                    name: (*name).to_owned(),
                    key: Secret::new(*key),
                })
                .collect(),
        }
    }

    #[test]
    fn every_named_key_and_its_access_tokens_pass_and_a_rotation_ends_them() {
        let both = config(
            Some("default-key-0123456789"),
            &[("ops", "ops-key-0123456789")],
        );
        let keys = AdminKey::new(&both);
        assert_eq!(keys.key_name("default-key-0123456789"), Some("default"));
        assert_eq!(keys.key_name("ops-key-0123456789"), Some("ops"));
        assert_eq!(keys.key_name("ops-key-012345678"), None);
        let now = crate::ids::now();
        let (name, access, refresh) = keys.log_in("ops-key-0123456789", now).unwrap();
        assert_eq!(name, "ops");
        assert!(keys.check(&with_auth(&format!("Bearer {access}"))).is_ok());
        assert!(
            keys.check(&with_auth(&format!("Bearer {refresh}")))
                .is_err(),
            "a refresh token is no access token"
        );
        let renewed = keys
            .refresh(&with_auth(&format!("Bearer {refresh}")), now)
            .unwrap();
        assert!(keys.check(&with_auth(&format!("Bearer {renewed}"))).is_ok());
        assert!(
            keys.refresh(&with_auth(&format!("Bearer {access}")), now)
                .is_err()
        );
        // "ops" rotated: its tokens end, the default key's keep working.
        let rotated = AdminKey::new(&config(
            Some("default-key-0123456789"),
            &[("ops", "ops-key-rotated-0123456789")],
        ));
        assert!(
            rotated
                .check(&with_auth(&format!("Bearer {access}")))
                .is_err()
        );
        assert!(
            rotated
                .refresh(&with_auth(&format!("Bearer {refresh}")), now)
                .is_err()
        );
        assert!(keys.log_in("not-a-key-0123456789", now).is_none());
    }

    fn with_auth(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn only_the_exact_key_passes() {
        let key = AdminKey::new(&config(Some("correct-horse-battery"), &[]));
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
        let key = AdminKey::new(&config(None, &[]));
        assert!(key.check(&with_auth("Bearer ")).is_err());
        assert!(key.check(&with_auth("Bearer anything")).is_err());
    }
}
