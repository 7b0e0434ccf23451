//! `[identity_headers] assertion*`: the signed identity assertion sent upstream with every
//! authenticated proxied request (`crate::assertion`), and `[[routes]] audience`.
//!
//! Does not sign anything or hold keys; `crate::assertion` does, from this.

use std::time::Duration;

use http::HeaderName;
use serde::Serialize;

use super::fields::{duration, ser_duration};
use super::{ConfigError, format_duration, raw::RawIdentityHeaders};

/// Longest assertion lifetime: a stolen assertion (read from an upstream's log, say) is good
/// for at most this long.
pub const ASSERTION_TTL_MAX: Duration = Duration::from_secs(60);
/// Shortest assertion lifetime: below this, clock skew between gateway and upstream refuses
/// fresh assertions.
pub const ASSERTION_TTL_MIN: Duration = Duration::from_secs(5);
/// Shortest automatic key rotation period (`0s` turns automatic rotation off).
pub const KEY_ROTATION_MIN: Duration = Duration::from_secs(3_600);

/// `identity_headers.assertion*`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AssertionConfig {
    /// The header that carries the assertion; `None`: no assertion is sent (the default).
    #[serde(serialize_with = "ser_optional_header")]
    pub header: Option<HeaderName>,
    /// `exp - iat` of every assertion.
    #[serde(serialize_with = "ser_duration")]
    pub ttl: Duration,
    /// Reuse the assertion signed for a session and audience for up to half of `ttl` (then
    /// `jti` is unique per session, audience and reuse window, not per request).
    pub cache: bool,
    /// A new signing key is added when the newest is this old; zero: only on demand
    /// (`sessiongate keys rotate-assertion`).
    #[serde(serialize_with = "ser_duration")]
    pub key_rotation: Duration,
}

impl AssertionConfig {
    pub fn enabled(&self) -> bool {
        self.header.is_some()
    }
}

pub(super) fn validate(raw: &RawIdentityHeaders) -> Result<AssertionConfig, ConfigError> {
    let header = match raw.assertion.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(name) => Some(HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
            ConfigError::new(
                "identity_headers.assertion",
                format!("{name:?} is not a valid header name"),
            )
        })?),
    };
    let ttl = duration(
        "identity_headers.assertion_ttl",
        raw.assertion_ttl.clone(),
        "60s",
    )?;
    if !(ASSERTION_TTL_MIN..=ASSERTION_TTL_MAX).contains(&ttl) {
        return Err(ConfigError::new(
            "identity_headers.assertion_ttl",
            format!(
                "{} is outside {}..={}",
                format_duration(ttl),
                format_duration(ASSERTION_TTL_MIN),
                format_duration(ASSERTION_TTL_MAX)
            ),
        ));
    }
    let key_rotation = duration(
        "identity_headers.assertion_key_rotation",
        raw.assertion_key_rotation.clone(),
        "7d",
    )?;
    if !key_rotation.is_zero() && key_rotation < KEY_ROTATION_MIN {
        return Err(ConfigError::new(
            "identity_headers.assertion_key_rotation",
            format!(
                "{} is below the minimum {} (0s: rotate only on demand)",
                format_duration(key_rotation),
                format_duration(KEY_ROTATION_MIN)
            ),
        ));
    }
    Ok(AssertionConfig {
        header,
        ttl,
        cache: raw.assertion_cache.unwrap_or(true),
        key_rotation,
    })
}

/// `[[routes]] audience`: the `aud` of the route's assertions. `None` (not set) means the
/// route's upstream URL; a value is any non-empty printable ASCII string.
pub(super) fn audience(key: &str, value: Option<String>) -> Result<Option<String>, ConfigError> {
    let Some(value) = value else {
        return Ok(None);
    };
    let value = value.trim().to_owned();
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ConfigError::new(
            key,
            format!(
                "{value:?}: expected a non-empty audience such as \"orders-api\" (printable ASCII, no spaces)"
            ),
        ));
    }
    Ok(Some(value))
}

fn ser_optional_header<S: serde::Serializer>(
    value: &Option<HeaderName>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(value.as_ref().map_or("", HeaderName::as_str))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(
        assertion: Option<&str>,
        ttl: Option<&str>,
        rotation: Option<&str>,
    ) -> RawIdentityHeaders {
        RawIdentityHeaders {
            assertion: assertion.map(str::to_owned),
            assertion_ttl: ttl.map(str::to_owned),
            assertion_key_rotation: rotation.map(str::to_owned),
            ..RawIdentityHeaders::default()
        }
    }

    #[test]
    fn assertion_is_off_by_default_and_on_with_a_header_name() {
        let off = validate(&raw(None, None, None)).unwrap();
        assert!(!off.enabled());
        assert_eq!(off.ttl, Duration::from_secs(60));
        assert!(off.cache);
        assert!(!validate(&raw(Some(""), None, None)).unwrap().enabled());
        let on = validate(&raw(Some("X-Sessiongate-Assertion"), None, None)).unwrap();
        assert_eq!(on.header.unwrap(), "x-sessiongate-assertion");
    }

    #[test]
    fn bad_assertion_settings_name_their_key() {
        for (raw, key) in [
            (
                raw(Some("bad header"), None, None),
                "identity_headers.assertion",
            ),
            (
                raw(None, Some("61s"), None),
                "identity_headers.assertion_ttl",
            ),
            (
                raw(None, Some("1s"), None),
                "identity_headers.assertion_ttl",
            ),
            (
                raw(None, None, Some("10m")),
                "identity_headers.assertion_key_rotation",
            ),
        ] {
            assert_eq!(validate(&raw).unwrap_err().key, key);
        }
        assert!(validate(&raw(None, None, Some("0s"))).is_ok());
    }

    #[test]
    fn audiences_are_printable_and_non_empty() {
        assert_eq!(audience("k", None).unwrap(), None);
        assert_eq!(
            audience("k", Some("orders".into())).unwrap().as_deref(),
            Some("orders")
        );
        assert!(audience("k", Some(" ".into())).is_err());
        assert!(audience("k", Some("a b".into())).is_err());
    }
}
