//! Atlas Data API credential headers, accepted on routes with `data_api_credentials` when the
//! request carries no token: `apiKey: <key>`, `email` + `password`, or `jwtTokenString:
//! <custom JWT>` (only while the `custom-token` provider is enabled). The credential is
//! checked by the same provider as a login, no session is created, and the request goes
//! upstream as that user with the session id `data-api` and the provider's name.
//!
//! Does not decide the route's auth rule; `proxy::authenticate` asks here first, then applies
//! the rule as for tokens.
//!
//! # Security
//! Successful checks are cached for 60 s under the SHA-256 of the credential material (never
//! the secret itself), so a Data API client does not pay an argon2 hash per request. An entry
//! is dropped at once when, on this replica, any key is disabled or deleted, a user disabled or
//! deleted, or a password reset (`Auth::credentials_epoch`); other replicas stop accepting the
//! credential within the 60 s. Bad credentials are 401 `InvalidSession` whatever the reason.
//! The headers are removed before forwarding, whatever the outcome.

use std::sync::Arc;
use std::time::Duration;

use http::{HeaderMap, HeaderName};
use moka::sync::Cache;
use sha2::{Digest, Sha256};

use async_trait::async_trait;

use crate::auth::{Auth, AuthError, api_key, userpass};
use crate::error::ApiError;
use crate::store::User;
use crate::tokens::Verified;

/// The session id upstream sees for Data API credential requests.
pub const SESSION_ID: &str = "data-api";

const API_KEY: HeaderName = HeaderName::from_static("apikey");
const EMAIL: HeaderName = HeaderName::from_static("email");
const PASSWORD: HeaderName = HeaderName::from_static("password");
const JWT: HeaderName = HeaderName::from_static("jwttokenstring");

/// The custom-token provider's App Services name.
const CUSTOM_TOKEN: &str = "custom-token";

/// How long a verified credential is trusted without asking its provider again.
const TTL: Duration = Duration::from_secs(60);
const CAPACITY: u64 = 10_000;

#[derive(Clone)]
struct Entry {
    caller: Arc<Verified>,
    epoch: u64,
}

pub struct DataApi {
    cache: Cache<[u8; 32], Entry>,
}

/// The credential a request carries.
#[derive(Debug, PartialEq, Eq)]
enum Presented<'a> {
    ApiKey(&'a str),
    EmailPassword(&'a str, &'a str),
    Jwt(&'a str),
}

impl Presented<'_> {
    /// Cache key: a digest of the kind and the material, each part length-prefixed.
    fn digest(&self) -> [u8; 32] {
        let mut hasher = Sha256::new();
        let parts: &[&str] = match self {
            Self::ApiKey(key) => &["apiKey", key],
            Self::EmailPassword(email, password) => &["email", email, password],
            Self::Jwt(token) => &["jwt", token],
        };
        for part in parts {
            hasher.update((part.len() as u64).to_be_bytes());
            hasher.update(part.as_bytes());
        }
        hasher.finalize().into()
    }

    /// The provider that checks it and the login body it would send.
    fn login(&self) -> (&'static str, serde_json::Value) {
        match self {
            Self::ApiKey(key) => (api_key::NAME, serde_json::json!({ "key": key })),
            Self::EmailPassword(email, password) => (
                userpass::NAME,
                serde_json::json!({ "username": email, "password": password }),
            ),
            Self::Jwt(token) => (CUSTOM_TOKEN, serde_json::json!({ "token": token })),
        }
    }
}

/// Reads the credential headers: `None` when there are none; 401 when they are unusable
/// (not UTF-8, empty, an email without a password, several kinds at once).
fn presented(headers: &HeaderMap) -> Result<Option<Presented<'_>>, ApiError> {
    let read = |name: &HeaderName| -> Result<Option<&str>, ApiError> {
        match headers.get(name).map(|v| v.to_str()) {
            None => Ok(None),
            Some(Ok(value)) if !value.trim().is_empty() => Ok(Some(value.trim())),
            Some(_) => Err(ApiError::invalid_session()),
        }
    };
    let found = match (
        read(&API_KEY)?,
        read(&EMAIL)?,
        read(&PASSWORD)?,
        read(&JWT)?,
    ) {
        (None, None, None, None) => None,
        (Some(key), None, None, None) => Some(Presented::ApiKey(key)),
        (None, Some(email), Some(password), None) => {
            Some(Presented::EmailPassword(email, password))
        }
        (None, None, None, Some(token)) => Some(Presented::Jwt(token)),
        _ => return Err(ApiError::invalid_session()),
    };
    Ok(found)
}

/// Removes every credential header (the upstream never sees them).
pub fn strip(headers: &mut HeaderMap) {
    for name in [API_KEY, EMAIL, PASSWORD, JWT] {
        headers.remove(name);
    }
}

/// What the Data API verifier asks of the logins (`auth::Auth`).
#[async_trait]
pub trait Logins: Send + Sync {
    /// A counter that moves whenever a credential changes (a key deleted, a password reset):
    /// a cached verification from an older epoch is stale.
    fn credentials_epoch(&self) -> u64;
    /// Whether the login provider `name` is enabled.
    fn is_enabled(&self, name: &str) -> bool;
    /// The user a login through `provider` with `body` proves, and the provider's name.
    async fn resolve(
        &self,
        provider: &str,
        body: &serde_json::Value,
    ) -> Result<(User, &'static str), AuthError>;
}

#[async_trait]
impl Logins for Auth {
    fn credentials_epoch(&self) -> u64 {
        Auth::credentials_epoch(self)
    }

    fn is_enabled(&self, name: &str) -> bool {
        self.registry().is_enabled(name)
    }

    async fn resolve(
        &self,
        provider: &str,
        body: &serde_json::Value,
    ) -> Result<(User, &'static str), AuthError> {
        Auth::resolve(self, provider, body).await
    }
}

impl DataApi {
    pub fn new() -> Self {
        Self {
            cache: Cache::builder()
                .max_capacity(CAPACITY)
                .time_to_live(TTL)
                .build(),
        }
    }

    /// The caller the credential headers prove, `None` if there are none, 401 if they prove
    /// nothing. A store failure stays what it is (503), not a 401.
    pub async fn authenticate(
        &self,
        logins: &dyn Logins,
        headers: &HeaderMap,
        now: i64,
    ) -> Result<Option<Arc<Verified>>, ApiError> {
        let Some(presented) = presented(headers)? else {
            return Ok(None);
        };
        let key = presented.digest();
        // Read before the check: a change while it runs makes the entry stale at once.
        let epoch = logins.credentials_epoch();
        if let Some(entry) = self.cache.get(&key) {
            if entry.epoch == epoch {
                return Ok(Some(entry.caller));
            }
        }
        let (provider, body) = presented.login();
        if provider == CUSTOM_TOKEN && !logins.is_enabled(CUSTOM_TOKEN) {
            return Err(ApiError::invalid_session());
        }
        let (user, provider) = match logins
            .resolve(provider, &body)
            .await
            .map_err(ApiError::from)
        {
            Ok(found) => found,
            Err(err) if err.is_server_fault() => return Err(err),
            Err(err) => {
                tracing::debug!(reason = %err.message, "data api credential refused");
                return Err(ApiError::invalid_session());
            }
        };
        let caller = Arc::new(Verified::new(
            &user.id,
            SESSION_ID,
            provider,
            "",
            now,
            now.saturating_add(i64::try_from(TTL.as_secs()).unwrap_or(0)),
        ));
        self.cache.insert(
            key,
            Entry {
                caller: caller.clone(),
                epoch,
            },
        );
        Ok(Some(caller))
    }
}

impl Default for DataApi {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        map
    }

    #[test]
    fn each_credential_kind_is_read_and_mixtures_are_refused() {
        assert_eq!(presented(&HeaderMap::new()).unwrap(), None);
        assert_eq!(
            presented(&headers(&[("apiKey", "k")])).unwrap(),
            Some(Presented::ApiKey("k"))
        );
        assert_eq!(
            presented(&headers(&[("email", "a@b.c"), ("password", "p")])).unwrap(),
            Some(Presented::EmailPassword("a@b.c", "p"))
        );
        assert_eq!(
            presented(&headers(&[("jwtTokenString", "t")])).unwrap(),
            Some(Presented::Jwt("t"))
        );
        assert!(presented(&headers(&[("email", "a@b.c")])).is_err());
        assert!(presented(&headers(&[("apiKey", "k"), ("jwtTokenString", "t")])).is_err());
        assert!(presented(&headers(&[("apiKey", " ")])).is_err());
    }

    #[test]
    fn cache_keys_separate_kinds_and_field_boundaries() {
        let a = Presented::EmailPassword("ab", "c").digest();
        let b = Presented::EmailPassword("a", "bc").digest();
        assert_ne!(a, b);
        assert_ne!(
            Presented::ApiKey("x").digest(),
            Presented::Jwt("x").digest()
        );
    }

    #[test]
    fn strip_removes_every_credential_header_in_any_case() {
        let mut map = headers(&[
            ("APIKEY", "k"),
            ("Email", "e"),
            ("password", "p"),
            ("JwtTokenString", "t"),
            ("x-other", "kept"),
        ]);
        strip(&mut map);
        assert_eq!(map.len(), 1);
        assert!(map.contains_key("x-other"));
    }
}
