//! `[events]`: where session lifecycle events go (a webhook URL), the secret that signs them,
//! and how delivery retries — checked at load so that a webhook without a secret, or a backoff
//! that can never retry, stops start-up naming the key.
//!
//! Does not deliver anything; `crate::events` does, with the values checked here.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use url::Url;

use super::fields::{duration, ser_duration};
use super::{ConfigError, Secret, format_duration, mask_urls, raw::flex};

/// Shortest secret accepted: an HMAC key shorter than this is guessable offline from one
/// signed body.
const SECRET_MIN_BYTES: usize = 16;

/// `[events]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEvents {
    pub url: Option<String>,
    pub secret_file: Option<String>,
    /// Secret: only from `SESSIONGATE_EVENTS__SECRET`, refused in the file.
    pub secret: Option<String>,
    pub timeout: Option<String>,
    pub backoff_initial: Option<String>,
    pub backoff_max: Option<String>,
    pub max_age: Option<String>,
    pub retention: Option<String>,
    #[serde(default, deserialize_with = "flex")]
    pub concurrency: Option<usize>,
}

/// `[events]`: the session lifecycle webhook.
#[derive(Debug, Clone, Serialize)]
pub struct EventsConfig {
    /// Where events are POSTed; `None` (an empty `url`): events are off, nothing is recorded.
    #[serde(serialize_with = "ser_url")]
    pub url: Option<Url>,
    /// The HMAC-SHA256 key of `X-Sessiongate-Signature` (set whenever `url` is).
    pub secret: Option<Secret>,
    /// Where `secret` was read from (`None`: the environment, or no secret).
    pub secret_file: Option<PathBuf>,
    /// One delivery attempt (connect, send, whole answer) must finish within this.
    #[serde(serialize_with = "ser_duration")]
    pub timeout: Duration,
    /// Wait after the first failed attempt; doubled after each further failure …
    #[serde(serialize_with = "ser_duration")]
    pub backoff_initial: Duration,
    /// … up to this.
    #[serde(serialize_with = "ser_duration")]
    pub backoff_max: Duration,
    /// An event not delivered this long after it happened is given up (logged at `error`,
    /// counted in `sessiongate_events_dropped_total`), so the user's next event can go.
    #[serde(serialize_with = "ser_duration")]
    pub max_age: Duration,
    /// Delivered (and given-up) events stay in the outbox this long, then are purged.
    #[serde(serialize_with = "ser_duration")]
    pub retention: Duration,
    /// Deliveries in flight at once per process (each to a different user).
    pub concurrency: usize,
}

impl EventsConfig {
    /// Whether events are recorded and delivered.
    pub fn enabled(&self) -> bool {
        self.url.is_some()
    }
}

pub(super) fn validate(raw: RawEvents) -> Result<EventsConfig, ConfigError> {
    let url = match raw.url.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(text) => Some(super::fields::url("events.url", text)?),
    };
    let (secret, secret_file) = match (raw.secret, raw.secret_file) {
        (Some(secret), _) if !secret.trim().is_empty() => (Some(Secret::new(secret.trim())), None),
        (_, Some(file)) if !file.trim().is_empty() => {
            let path = PathBuf::from(file.trim());
            let secret = Secret::from_file(Path::new(&path))
                .map_err(|reason| ConfigError::new("events.secret_file", reason))?;
            (Some(secret), Some(path))
        }
        _ => (None, None),
    };
    if url.is_some() && secret.is_none() {
        return Err(ConfigError::new(
            "events.secret_file",
            "is required when events.url is set (or SESSIONGATE_EVENTS__SECRET): receivers \
             verify X-Sessiongate-Signature with it",
        ));
    }
    if secret
        .as_ref()
        .is_some_and(|s| s.expose().len() < SECRET_MIN_BYTES)
    {
        return Err(ConfigError::new(
            "events.secret",
            format!("is shorter than {SECRET_MIN_BYTES} bytes"),
        ));
    }
    let timeout = bounded("events.timeout", raw.timeout, "10s", ms(100), secs(300))?;
    let backoff_initial = bounded(
        "events.backoff_initial",
        raw.backoff_initial,
        "1s",
        ms(10),
        secs(3600),
    )?;
    let backoff_max = bounded(
        "events.backoff_max",
        raw.backoff_max,
        "5m",
        backoff_initial,
        secs(86_400),
    )?;
    let max_age = bounded(
        "events.max_age",
        raw.max_age,
        "3d",
        secs(60),
        secs(90 * 86_400),
    )?;
    let retention = bounded(
        "events.retention",
        raw.retention,
        "1h",
        secs(0),
        secs(30 * 86_400),
    )?;
    let concurrency = raw.concurrency.unwrap_or(8);
    if !(1..=256).contains(&concurrency) {
        return Err(ConfigError::new(
            "events.concurrency",
            format!("{concurrency} is outside 1..=256"),
        ));
    }
    Ok(EventsConfig {
        url,
        secret,
        secret_file,
        timeout,
        backoff_initial,
        backoff_max,
        max_age,
        retention,
        concurrency,
    })
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// A duration key with its default, inside `min..=max`.
fn bounded(
    key: &str,
    value: Option<String>,
    default: &str,
    min: Duration,
    max: Duration,
) -> Result<Duration, ConfigError> {
    let value = duration(key, value, default)?;
    if !(min..=max).contains(&value) {
        return Err(ConfigError::new(
            key,
            format!(
                "{} is outside {}..={}",
                format_duration(value),
                format_duration(min),
                format_duration(max)
            ),
        ));
    }
    Ok(value)
}

fn ser_url<S: serde::Serializer>(value: &Option<Url>, serializer: S) -> Result<S::Ok, S::Error> {
    match value {
        Some(url) => serializer.serialize_str(&mask_urls(url.as_str())),
        None => serializer.serialize_str(""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(url: &str) -> RawEvents {
        RawEvents {
            url: Some(url.to_owned()),
            ..RawEvents::default()
        }
    }

    #[test]
    fn empty_url_turns_events_off_without_a_secret() {
        let config = validate(raw("")).expect("valid");
        assert!(!config.enabled());
        assert_eq!(config.timeout, Duration::from_secs(10));
        assert!(!validate(RawEvents::default()).expect("valid").enabled());
    }

    #[test]
    fn a_url_needs_a_long_enough_secret() {
        let err = validate(raw("https://hooks.example/sg")).expect_err("no secret");
        assert_eq!(err.key, "events.secret_file");
        let short = RawEvents {
            secret: Some("short".to_owned()),
            ..raw("https://hooks.example/sg")
        };
        assert_eq!(validate(short).expect_err("short").key, "events.secret");
        let good = RawEvents {
            secret: Some("0123456789abcdef0123".to_owned()),
            ..raw("https://hooks.example/sg")
        };
        assert!(validate(good).expect("valid").enabled());
    }

    #[test]
    fn bad_values_name_their_key() {
        let with_secret = |raw: RawEvents| RawEvents {
            secret: Some("0123456789abcdef0123".to_owned()),
            ..raw
        };
        for (raw, key) in [
            (raw("ftp://hooks.example"), "events.url"),
            (
                RawEvents {
                    timeout: Some("1ms".to_owned()),
                    ..RawEvents::default()
                },
                "events.timeout",
            ),
            (
                RawEvents {
                    backoff_initial: Some("10s".to_owned()),
                    backoff_max: Some("1s".to_owned()),
                    ..RawEvents::default()
                },
                "events.backoff_max",
            ),
            (
                RawEvents {
                    concurrency: Some(0),
                    ..RawEvents::default()
                },
                "events.concurrency",
            ),
            (
                RawEvents {
                    max_age: Some("soon".to_owned()),
                    ..RawEvents::default()
                },
                "events.max_age",
            ),
        ] {
            let err = validate(with_secret(raw)).expect_err(key);
            assert_eq!(err.key, key, "{err}");
        }
    }
}
