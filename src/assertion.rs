//! The signed identity assertion (`identity_headers.assertion`): a short-lived ES256 JWT per
//! authenticated proxied request, so that an upstream that can be reached around the gateway
//! verifies the caller against the published JWKS instead of trusting plain headers.
//!
//! Claims: `iss` (`app.id`, as in access tokens), `sub`
//! (user id), `aud` (the route's audience), `sid` (session id), `provider`, `iat`, `exp`
//! (`iat` + `identity_headers.assertion_ttl`, at most 60 s, never past the access token's
//! `exp`) and `jti`.
//!
//! With `identity_headers.assertion_cache` (the default) an assertion is reused for the same
//! session (and user and provider) and audience within a window of half the lifetime: `jti` is then unique per
//! (session, audience, window), not per request, and every assertion an upstream receives has
//! at least half its lifetime left. With the cache off every request gets a fresh `jti`.
//!
//! Does not strip client copies of the header (`proxy::identity` does) nor serve the JWKS
//! (`client_api::jwks`); keys live in `keys`.

pub mod keys;

use std::sync::Arc;
use std::time::Duration;

use http::{HeaderName, HeaderValue};
use serde::Serialize;

use crate::config::Config;
use crate::ids;
use crate::tokens::Verified;
pub use keys::{KeyRing, KeySet};

/// Most (session, audience) pairs whose assertion is kept for reuse.
const CACHE_CAPACITY: u64 = 100_000;

/// Why no assertion could be made (both are the gateway's fault, never the client's).
#[derive(Debug, thiserror::Error)]
pub enum AssertionError {
    #[error("no assertion signing key is loaded")]
    NoKey,
    #[error("assertion signing failed")]
    Signing,
}

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    sid: &'a str,
    provider: &'a str,
    iat: i64,
    exp: i64,
    jti: &'a str,
}

/// A signed assertion kept for reuse within one window.
struct Cached {
    window: i64,
    exp: i64,
    value: HeaderValue,
}

/// Makes the assertion header of a request; one per `State`, sharing the process's keys.
pub struct Assertions {
    header: HeaderName,
    issuer: Arc<str>,
    ttl: i64,
    /// Reuse window in seconds (half the lifetime).
    window: i64,
    keys: Arc<KeyRing>,
    cache: Option<moka::sync::Cache<CacheKey, Arc<Cached>>>,
}

/// Everything an assertion says about its caller, and the audience: Data API credential
/// callers share one session id (`proxy::data_api::SESSION_ID`), so the session alone would
/// hand one user's assertion to another.
type CacheKey = (String, String, String, Arc<str>);

impl Assertions {
    /// `None` when `identity_headers.assertion` is off.
    pub fn new(config: &Config, keys: Arc<KeyRing>) -> Option<Self> {
        let settings = &config.assertion;
        let header = settings.header.clone()?;
        let ttl = i64::try_from(settings.ttl.as_secs()).unwrap_or(60);
        let window = (ttl / 2).max(1);
        let cache = settings.cache.then(|| {
            moka::sync::Cache::builder()
                .max_capacity(CACHE_CAPACITY)
                .time_to_live(Duration::from_secs(window.unsigned_abs()))
                .build()
        });
        Some(Self {
            header,
            issuer: config.app.id.as_str().into(),
            ttl,
            window,
            keys,
            cache,
        })
    }

    pub fn header(&self) -> &HeaderName {
        &self.header
    }

    /// The process's assertion keys (reloaded by `app`, published by `client_api::jwks`).
    pub fn keys(&self) -> &Arc<KeyRing> {
        &self.keys
    }

    /// The assertion for `caller` on a route with `audience`, at `now`.
    pub fn value(
        &self,
        caller: &Verified,
        audience: &Arc<str>,
        now: i64,
    ) -> Result<HeaderValue, AssertionError> {
        let Some(cache) = &self.cache else {
            return self.sign(caller, audience, now);
        };
        let window = now.div_euclid(self.window);
        let key = (
            caller.session_id().to_owned(),
            caller.user_id().to_owned(),
            caller.provider().to_owned(),
            audience.clone(),
        );
        if let Some(hit) = cache.get(&key) {
            // The access token of this request may expire sooner than the one the cached
            // assertion was signed for was: never send an assertion that outlives it.
            if hit.window == window && hit.exp <= caller.exp.max(now) {
                return Ok(hit.value.clone());
            }
        }
        let value = self.sign(caller, audience, now)?;
        cache.insert(
            key,
            Arc::new(Cached {
                window,
                exp: self.exp(caller, now),
                value: value.clone(),
            }),
        );
        Ok(value)
    }

    /// A freshly signed assertion (no cache).
    pub fn sign(
        &self,
        caller: &Verified,
        audience: &str,
        now: i64,
    ) -> Result<HeaderValue, AssertionError> {
        let keys = self.keys.current();
        let key = keys.signing_key(now).ok_or(AssertionError::NoKey)?;
        let jti = hex::encode(ids::random_bytes::<16>());
        let claims = Claims {
            iss: &self.issuer,
            sub: caller.user_id(),
            aud: audience,
            sid: caller.session_id(),
            provider: caller.provider(),
            iat: now,
            exp: self.exp(caller, now),
            jti: &jti,
        };
        let json = serde_json::to_vec(&claims).map_err(|_| AssertionError::Signing)?;
        let token = key.sign(&json).map_err(|_| AssertionError::Signing)?;
        // base64url and dots only: always a valid header value.
        HeaderValue::try_from(token).map_err(|_| AssertionError::Signing)
    }

    fn exp(&self, caller: &Verified, now: i64) -> i64 {
        now.saturating_add(self.ttl).min(caller.exp.max(now))
    }
}

#[cfg(test)]
mod tests;
