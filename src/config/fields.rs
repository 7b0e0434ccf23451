//! Parsers and serializers of single values shared by the sections: addresses, durations,
//! URLs, header names.

use std::net::SocketAddr;
use std::time::Duration;

use http::HeaderName;
use url::Url;

use super::{ConfigError, format_duration, mask_urls, parse_duration};

pub(super) fn addr(
    key: &str,
    value: Option<String>,
    default: &str,
) -> Result<SocketAddr, ConfigError> {
    let text = value.unwrap_or_else(|| default.to_owned());
    text.parse().map_err(|_| {
        ConfigError::new(
            key,
            format!("{text:?} is not an address such as 127.0.0.1:8080"),
        )
    })
}

pub(super) fn duration(
    key: &str,
    value: Option<String>,
    default: &str,
) -> Result<Duration, ConfigError> {
    parse_duration(value.as_deref().unwrap_or(default))
        .map_err(|reason| ConfigError::new(key, reason))
}

pub(super) fn url(key: &str, text: &str) -> Result<Url, ConfigError> {
    let shown = mask_urls(text);
    let parsed = Url::parse(text)
        .map_err(|err| ConfigError::new(key, format!("{shown:?} is not a URL: {err}")))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
        return Err(ConfigError::new(
            key,
            format!("{shown:?}: expected an http:// or https:// URL"),
        ));
    }
    Ok(parsed)
}

pub(super) fn upstream_url(key: &str, text: &str) -> Result<Url, ConfigError> {
    let parsed = url(key, text)?;
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(ConfigError::new(
            key,
            format!(
                "{:?}: an upstream URL takes no query or fragment",
                mask_urls(text)
            ),
        ));
    }
    Ok(parsed)
}

pub(super) fn header(
    key: &str,
    value: Option<String>,
    default: &str,
) -> Result<HeaderName, ConfigError> {
    let text = value.unwrap_or_else(|| default.to_owned());
    HeaderName::from_bytes(text.as_bytes())
        .map_err(|_| ConfigError::new(key, format!("{text:?} is not a valid header name")))
}

pub(super) fn ser_duration<S: serde::Serializer>(
    value: &Duration,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&format_duration(*value))
}

/// Public key material (not a secret) as text rather than an array of bytes.
pub(super) fn ser_text<S: serde::Serializer>(
    value: &[u8],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&String::from_utf8_lossy(value))
}

pub(super) fn ser_header<S: serde::Serializer>(
    value: &HeaderName,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(value.as_str())
}

/// Refuses a zero duration where zero would mean "never" or "at once" by accident.
pub(super) fn positive(value: Duration, key: &str) -> Result<Duration, ConfigError> {
    if value.is_zero() {
        return Err(ConfigError::new(key, "must be greater than 0s"));
    }
    Ok(value)
}
