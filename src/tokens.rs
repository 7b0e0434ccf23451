//! Access tokens (signed JWTs), refresh tokens (opaque, stored hashed), the signing keys, the
//! cache of verified tokens and the revocation list, joined in `Tokens::authenticate`.
//!
//! Does not touch the store on the request path: keys and revocations are in memory, kept
//! current by `app`'s background tasks.

pub mod access;
pub mod cache;
pub mod keys;
pub mod refresh;
pub mod revocation;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use sha2::{Digest, Sha256};

pub use access::{AccessClaims, Verified};
pub use cache::TokenCache;
pub use keys::{KeyError, KeySet};
pub use revocation::RevocationList;

/// What can go wrong with a presented token. Every variant is a 401 `InvalidSession` on the
/// wire except `Signing`, which is our fault.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("token is malformed")]
    Malformed,
    #[error("token is expired")]
    Expired,
    #[error("token signature is invalid")]
    BadSignature,
    #[error("token names an unknown key")]
    UnknownKey,
    #[error("session is revoked")]
    Revoked,
    /// The revocation list could not be read from the store for longer than allowed.
    #[error("revocation list is stale")]
    RevocationsStale,
    #[error("cannot sign token: {0}")]
    Signing(String),
}

/// Counters that show what the hot path did (tests and metrics read them).
#[derive(Debug, Default)]
pub struct TokenStats {
    pub cache_hits: AtomicU64,
    pub cache_misses: AtomicU64,
    pub signature_checks: AtomicU64,
}

/// Verifies and mints access tokens; the one entry point of the token check.
pub struct Tokens {
    keys: RwLock<Arc<KeySet>>,
    cache: TokenCache,
    revocations: Arc<RevocationList>,
    stats: TokenStats,
    issuer: String,
    access_ttl: Duration,
    /// Allowed staleness of the revocation list, in seconds (`None`: never checked).
    fail_open_for: Option<i64>,
}

/// Slack on top of `store.fail_open_for`: the poll runs every second, so the list is a little
/// stale even when all is well.
const SYNC_SLACK_SECS: i64 = 3;

/// What to put in a new access token.
pub struct MintRequest<'a> {
    pub user_id: &'a str,
    pub session_id: &'a str,
    pub provider: &'a str,
    pub device_id: &'a str,
    pub user_data: &'a serde_json::Value,
}

impl Tokens {
    pub fn new(keys: KeySet, issuer: String, access_ttl: Duration, cache_capacity: u64) -> Self {
        Self {
            keys: RwLock::new(Arc::new(keys)),
            cache: TokenCache::new(cache_capacity),
            revocations: Arc::new(RevocationList::new(access_ttl)),
            stats: TokenStats::default(),
            issuer,
            access_ttl,
            fail_open_for: None,
        }
    }

    /// Refuses tokens (503) once the revocation list has not been synced for `window`.
    pub fn with_fail_open_window(mut self, window: Duration) -> Self {
        self.fail_open_for = Some(i64::try_from(window.as_secs()).unwrap_or(i64::MAX / 2));
        self
    }

    pub fn revocations(&self) -> &Arc<RevocationList> {
        &self.revocations
    }

    /// How many verified tokens are cached.
    pub fn cache_entries(&self) -> u64 {
        self.cache.entry_count()
    }

    pub fn stats(&self) -> &TokenStats {
        &self.stats
    }

    /// The current key set (a snapshot; rotation swaps in a new one).
    pub fn keys(&self) -> Arc<KeySet> {
        self.keys
            .read()
            .expect("key lock is never poisoned")
            .clone()
    }

    /// Replaces the key set (after a rotation or a reload from the store).
    pub fn replace_keys(&self, keys: KeySet) {
        *self.keys.write().expect("key lock is never poisoned") = Arc::new(keys);
    }

    pub fn access_ttl(&self) -> Duration {
        self.access_ttl
    }

    /// The token check: cache, else signature and claims; then the revocation list, always.
    ///
    /// # Security
    /// The cache key is a SHA-256 digest of the whole token, so a token differing in any byte
    /// (a tampered signature) is a miss and is verified. A hit skips only the signature check;
    /// expiry and revocation are checked on every call.
    pub fn authenticate(&self, token: &str, now: i64) -> Result<Arc<Verified>, TokenError> {
        let digest = digest(token);
        let verified = match self.cache.get(&digest) {
            Some(hit) => {
                self.stats.cache_hits.fetch_add(1, Ordering::Relaxed);
                hit
            }
            None => {
                self.stats.cache_misses.fetch_add(1, Ordering::Relaxed);
                self.stats.signature_checks.fetch_add(1, Ordering::Relaxed);
                let claims = access::verify(&self.keys(), &self.issuer, token)?;
                let verified = Arc::new(Verified::from(claims));
                self.cache.insert(digest, verified.clone(), now);
                verified
            }
        };
        if verified.exp <= now {
            return Err(TokenError::Expired);
        }
        if self.revocations.is_revoked(&verified.session_id) {
            return Err(TokenError::Revoked);
        }
        if let Some(window) = self.fail_open_for {
            if self.revocations.staleness(now) > window.saturating_add(SYNC_SLACK_SECS) {
                return Err(TokenError::RevocationsStale);
            }
        }
        Ok(verified)
    }

    /// Verifies signature and claims without the cache or revocation list (admin
    /// `verify_token`).
    pub fn decode(&self, token: &str) -> Result<AccessClaims, TokenError> {
        access::verify(&self.keys(), &self.issuer, token)
    }

    /// Signs a new access token valid for `access_ttl` from `now`.
    pub fn mint(&self, request: &MintRequest<'_>, now: i64) -> Result<String, TokenError> {
        let ttl = i64::try_from(self.access_ttl.as_secs()).unwrap_or(i64::MAX);
        let claims = AccessClaims {
            sub: request.user_id.to_owned(),
            sid: request.session_id.to_owned(),
            iat: now,
            exp: now.saturating_add(ttl),
            iss: self.issuer.clone(),
            typ: access::ACCESS_TYP.to_owned(),
            baas_device_id: request.device_id.to_owned(),
            baas_provider: request.provider.to_owned(),
            user_data: request.user_data.clone(),
        };
        access::sign(&self.keys(), &claims, now)
    }
}

/// SHA-256 of a token: the cache key and the stored form of refresh tokens.
pub fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

#[cfg(test)]
mod tests;
