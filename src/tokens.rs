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
pub mod signer;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use sha2::{Digest, Sha256};

pub use access::{AccessClaims, Rules, Verified};
pub use cache::TokenCache;
pub use keys::{KeyError, SigningKeySet};
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
    /// `iat` or `nbf` lies further in the future than the clock leeway.
    #[error("token is not valid yet")]
    NotYetValid,
    /// `exp - iat` exceeds `tokens.access_ttl` plus the leeway (minted under a longer TTL,
    /// or forged with a far-future `exp`).
    #[error("token lifetime exceeds the access token lifetime")]
    LifetimeTooLong,
    /// The JOSE header carries `crit` or names a nested JWT in `cty`.
    #[error("token header has unsupported parameters")]
    UnsupportedHeader,
    /// `sub`, `sid` or the provider cannot be sent as an HTTP header value.
    #[error("token identity is not a valid header value")]
    UnsafeIdentity,
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
    keys: RwLock<Arc<SigningKeySet>>,
    cache: TokenCache,
    revocations: Arc<RevocationList>,
    stats: TokenStats,
    rules: Rules,
    access_ttl: Duration,
    /// Allowed staleness of the revocation list, in seconds (`None`: never checked).
    fail_open_for: Option<i64>,
}

/// Slack on top of `store.fail_open_for`: the poll runs every second, so the list is a little
/// stale even when all is well.
const SYNC_SLACK_SECS: i64 = 3;

/// Clock skew tolerated between the gateway's replicas and on `iat`/`nbf`, and the slack on
/// the lifetime cap.
///
/// # Security
/// One leeway bounds everything time-based: a token is accepted only if its `iat`/`nbf` are at
/// most `CLOCK_LEEWAY` ahead of our clock and `exp - iat <= access_ttl + CLOCK_LEEWAY`. So no
/// accepted token lives longer than `access_ttl + CLOCK_LEEWAY`, whatever TTL it was minted
/// under, and `RevocationList` keeps a revoked session `access_ttl + 2 × CLOCK_LEEWAY` (the
/// second leeway covers the skew between the replica that minted and the one that revoked).
/// Lowering `tokens.access_ttl` refuses longer-lived tokens minted before at once.
pub const CLOCK_LEEWAY: Duration = Duration::from_secs(60);

/// What to put in a new access token.
pub struct MintRequest<'a> {
    pub user_id: &'a str,
    pub session_id: &'a str,
    pub provider: &'a str,
    pub device_id: &'a str,
    pub user_data: &'a serde_json::Value,
}

impl Tokens {
    pub fn new(
        keys: SigningKeySet,
        issuer: String,
        access_ttl: Duration,
        cache_capacity: u64,
    ) -> Self {
        let leeway = secs(CLOCK_LEEWAY);
        Self {
            keys: RwLock::new(Arc::new(keys)),
            cache: TokenCache::new(cache_capacity),
            revocations: Arc::new(RevocationList::new(access_ttl)),
            stats: TokenStats::default(),
            rules: Rules {
                issuer,
                max_lifetime: secs(access_ttl).saturating_add(leeway),
                leeway,
            },
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
    pub fn keys(&self) -> Arc<SigningKeySet> {
        self.keys
            .read()
            .expect("key lock is never poisoned")
            .clone()
    }

    /// Replaces the key set (after a rotation, a retirement or a reload from the store).
    ///
    /// # Security
    /// Cached tokens signed by a key that is no longer in the set are evicted at once: a cache
    /// hit skips the signature, so without this a token would outlive its (retired,
    /// compromised) key until it expires. A verification racing with the swap is caught in
    /// `authenticate`.
    pub fn replace_keys(&self, keys: SigningKeySet) {
        let keys = Arc::new(keys);
        let old = std::mem::replace(
            &mut *self.keys.write().expect("key lock is never poisoned"),
            keys.clone(),
        );
        let gone: Vec<String> = old
            .kids()
            .filter(|kid| keys.find(kid).is_none())
            .map(str::to_owned)
            .collect();
        if !gone.is_empty() {
            self.cache.invalidate_kids(gone);
        }
    }

    pub fn access_ttl(&self) -> Duration {
        self.access_ttl
    }

    /// The token check: cache, else header, signature and claims (`access::verify`); then the
    /// revocation list, always.
    ///
    /// # Security
    /// The cache key is a SHA-256 digest of the whole token, so a token differing in any byte
    /// (a tampered signature) is a miss and is verified. A hit skips only the signature and
    /// claim checks, which cannot change for the same bytes (apart from expiry, checked on
    /// every call); removing the signing key evicts the entry (`replace_keys`). Nothing is
    /// cached before every check has passed.
    /// The revocation list is consulted whenever it changed since this session was last found
    /// absent from it (`Verified::revocation_checked`), so a revocation holds from the moment
    /// it is in the list.
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
                let keys = self.keys();
                let (claims, kid) = access::verify(&keys, &self.rules, token, now)?;
                let verified = Arc::new(Verified::from(claims));
                self.cache.insert(digest, &kid, verified.clone(), now);
                // The key set was swapped while we verified: the eviction in `replace_keys`
                // may have run before our insert, so check the kid against the new set.
                let current = self.keys();
                if !Arc::ptr_eq(&keys, &current) && current.find(&kid).is_none() {
                    self.cache.invalidate(&digest);
                    return Err(TokenError::UnknownKey);
                }
                verified
            }
        };
        if verified.exp <= now {
            return Err(TokenError::Expired);
        }
        // The version is read before the list: a revocation that enters the list after this
        // read bumps it past what is recorded below, so the next call looks again.
        let version = self.revocations.version();
        if verified.revocation_checked() != version {
            if self.revocations.is_revoked(verified.session_id()) {
                return Err(TokenError::Revoked);
            }
            verified.set_revocation_checked(version);
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
        access::verify(&self.keys(), &self.rules, token, crate::ids::now())
            .map(|(claims, _)| claims)
    }

    /// Signs a new access token valid for `access_ttl` from `now`.
    pub fn mint(&self, request: &MintRequest<'_>, now: i64) -> Result<String, TokenError> {
        let claims = AccessClaims {
            sub: request.user_id.to_owned(),
            sid: request.session_id.to_owned(),
            iat: now,
            exp: now.saturating_add(secs(self.access_ttl)),
            nbf: None,
            iss: self.rules.issuer.clone(),
            typ: access::ACCESS_TYP.to_owned(),
            baas_device_id: request.device_id.to_owned(),
            baas_provider: request.provider.to_owned(),
            user_data: request.user_data.clone(),
        };
        access::sign(&self.keys(), &claims, now)
    }
}

/// Whole seconds of a configured duration, as Unix-time arithmetic needs them.
fn secs(duration: Duration) -> i64 {
    i64::try_from(duration.as_secs()).unwrap_or(i64::MAX / 4)
}

/// SHA-256 of a token: the cache key and the stored form of refresh tokens.
pub fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

#[cfg(test)]
mod attack_tests;
#[cfg(test)]
mod tests;
