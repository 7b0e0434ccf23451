//! `[cors]`: which browser origins may call the client listener, checked at load so that a
//! typo (a trailing slash, a default port, `*` with credentials) stops start-up naming the key
//! instead of silently refusing every browser.
//!
//! Does not answer requests; `crate::cors` builds the policy from this.

use std::time::Duration;

use http::HeaderName;
use serde::Serialize;

use super::fields::{duration, ser_duration};
use super::{ConfigError, raw::RawCors};

/// Longest `cors.max_age` (browsers cap it lower still: Chromium at 2h, Firefox at 24h).
const MAX_AGE_MAX: Duration = Duration::from_secs(86_400);

/// `[cors]`: browser apps on other origins.
#[derive(Debug, Clone, Serialize)]
pub struct CorsConfig {
    /// Exact origins (`https://app.example.com`), or `["*"]` for any; empty: CORS is off.
    pub allowed_origins: Vec<String>,
    /// Send `Access-Control-Allow-Credentials: true` (never together with `*`).
    pub allow_credentials: bool,
    /// How long a browser may cache a preflight answer.
    #[serde(serialize_with = "ser_duration")]
    pub max_age: Duration,
    /// Request headers allowed besides the built-in ones (`Authorization`, `Content-Type`,
    /// `Session`, the request id header, …).
    #[serde(serialize_with = "ser_headers")]
    pub allowed_headers: Vec<HeaderName>,
}

/// Who answers CORS on a proxy route (`[[routes]] cors`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RouteCors {
    /// The gateway: preflights answered here, CORS headers set on every response.
    Gateway,
    /// The upstream: preflights forwarded without a token, no CORS headers added or removed.
    Upstream,
}

pub(super) fn validate(raw: RawCors) -> Result<CorsConfig, ConfigError> {
    let key = "cors.allowed_origins";
    let allowed_origins = raw.allowed_origins.unwrap_or_default();
    for origin in &allowed_origins {
        check_origin(origin).map_err(|reason| ConfigError::new(key, reason))?;
    }
    let any = allowed_origins.iter().any(|o| o == "*");
    if any && allowed_origins.len() > 1 {
        return Err(ConfigError::new(
            key,
            "\"*\" allows every origin: list it alone or list exact origins",
        ));
    }
    let allow_credentials = raw.allow_credentials.unwrap_or(false);
    if any && allow_credentials {
        return Err(ConfigError::new(
            "cors.allow_credentials",
            "true is refused with cors.allowed_origins = [\"*\"] (any site could act with the \
             user's credentials); list the exact origins",
        ));
    }
    let max_age = duration("cors.max_age", raw.max_age, "10m")?;
    if max_age > MAX_AGE_MAX {
        return Err(ConfigError::new("cors.max_age", "must be at most 24h"));
    }
    let allowed_headers = raw
        .allowed_headers
        .unwrap_or_default()
        .into_iter()
        .map(|name| {
            HeaderName::from_bytes(name.trim().as_bytes()).map_err(|_| {
                ConfigError::new(
                    "cors.allowed_headers",
                    format!("{name:?} is not a valid header name"),
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(CorsConfig {
        allowed_origins,
        allow_credentials,
        max_age,
        allowed_headers,
    })
}

/// An origin as browsers send it: `scheme://host[:port]`, nothing more, in the one spelling
/// a browser uses (lower-case scheme and host, no default port, no trailing slash). `*` is
/// accepted here (the caller checks its company).
fn check_origin(origin: &str) -> Result<(), String> {
    if origin == "*" {
        return Ok(());
    }
    if origin == "null" {
        return Err(
            "\"null\" is refused: sandboxed frames, file:// pages and redirects all send it, \
             so allowing it allows them all"
                .to_owned(),
        );
    }
    let expected = "an exact origin such as https://app.example.com (scheme://host[:port])";
    let url = url::Url::parse(origin).map_err(|_| format!("{origin:?} is not {expected}"))?;
    let host = url
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| format!("{origin:?} is not {expected}"))?;
    if !url.username().is_empty()
        || url.password().is_some()
        || url.query().is_some()
        || url.fragment().is_some()
        || !matches!(url.path(), "" | "/")
    {
        return Err(format!(
            "{origin:?}: an origin has no path, query or user; expected {expected}"
        ));
    }
    let canonical = match url.port() {
        Some(port) => format!("{}://{host}:{port}", url.scheme()),
        None => format!("{}://{host}", url.scheme()),
    };
    if canonical != origin {
        return Err(format!(
            "{origin:?} never matches: browsers send it as {canonical:?} (origins are compared \
             exactly)"
        ));
    }
    Ok(())
}

/// `[[routes]] cors`: `"gateway"` (default) or `"upstream"`.
pub(super) fn route_cors(key: &str, value: Option<&str>) -> Result<RouteCors, ConfigError> {
    match value {
        None | Some("gateway") => Ok(RouteCors::Gateway),
        Some("upstream") => Ok(RouteCors::Upstream),
        Some(other) => Err(ConfigError::new(
            key,
            format!("{other:?}: expected \"gateway\" or \"upstream\""),
        )),
    }
}

/// `[[routes]] token_query_param`: a query parameter name that needs no escaping.
pub(super) fn query_param(key: &str, value: Option<String>) -> Result<Option<String>, ConfigError> {
    let Some(name) = value else {
        return Ok(None);
    };
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if !ok {
        return Err(ConfigError::new(
            key,
            format!("{name:?}: use 1 to 64 letters, digits, '_', '-' or '.'"),
        ));
    }
    Ok(Some(name))
}

fn ser_headers<S: serde::Serializer>(
    value: &[HeaderName],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_seq(value.iter().map(HeaderName::as_str))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_must_be_written_as_browsers_send_them() {
        for good in [
            "https://app.example.com",
            "http://127.0.0.1:5173",
            "http://localhost:3000",
            "https://[::1]:8443",
            "capacitor://localhost",
            "*",
        ] {
            assert_eq!(check_origin(good), Ok(()), "{good}");
        }
        for (bad, says) in [
            ("https://app.example.com/", "browsers send it as"),
            ("https://App.Example.com", "\"https://app.example.com\""),
            ("https://app.example.com:443", "\"https://app.example.com\""),
            ("HTTPS://app.example.com", "browsers send it as"),
            ("https://app.example.com/path", "no path"),
            ("https://u@app.example.com", "no path, query or user"),
            ("app.example.com", "exact origin"),
            ("null", "sandboxed"),
            ("", "exact origin"),
            ("https://", "exact origin"),
        ] {
            let err = check_origin(bad).expect_err(bad);
            assert!(err.contains(says), "{bad}: {err}");
        }
    }
}
