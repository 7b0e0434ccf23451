//! `[store]`: the store URL, its fail-open window and operation deadline; and their validation.

use std::time::Duration;

use serde::Serialize;

use super::fields::{duration, ser_duration};
use super::{ConfigError, format_duration, mask_urls, raw};

#[derive(Debug, Clone, Serialize)]
pub struct StoreConfig {
    pub url: String,
    /// How long already-verified tokens are still accepted while the store (and so the
    /// revocation list) cannot be read; past it proxied requests answer 503. Zero: fail closed.
    #[serde(serialize_with = "ser_duration")]
    pub fail_open_for: Duration,
    /// Deadline of every store operation (and of taking a pooled connection), enforced by the
    /// gateway and, on PostgreSQL, as the server's `statement_timeout`; past it the request
    /// answers 503.
    #[serde(serialize_with = "ser_duration")]
    pub timeout: Duration,
}

/// Bounds of `store.timeout`.
const STORE_TIMEOUT_MIN: Duration = Duration::from_millis(100);
const STORE_TIMEOUT_MAX: Duration = Duration::from_secs(300);

pub(super) fn validate(raw: raw::RawStore) -> Result<StoreConfig, ConfigError> {
    let store = StoreConfig {
        url: raw
            .url
            .unwrap_or_else(|| "sqlite://data/sessiongate.db".to_owned()),
        fail_open_for: duration("store.fail_open_for", raw.fail_open_for, "30s")?,
        timeout: duration("store.timeout", raw.timeout, "5s")?,
    };
    if !(store.url.starts_with("sqlite:") || store.url.starts_with("postgres")) {
        return Err(ConfigError::new(
            "store.url",
            format!(
                "{:?}: expected sqlite://PATH or postgres://…",
                mask_urls(&store.url)
            ),
        ));
    }
    if !(STORE_TIMEOUT_MIN..=STORE_TIMEOUT_MAX).contains(&store.timeout) {
        return Err(ConfigError::new(
            "store.timeout",
            format!(
                "{} is outside {}..={}",
                format_duration(store.timeout),
                format_duration(STORE_TIMEOUT_MIN),
                format_duration(STORE_TIMEOUT_MAX)
            ),
        ));
    }
    Ok(store)
}
