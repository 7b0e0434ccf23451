//! `[[routes]]`: per-prefix authentication, upstream and token-carrying options; and their
//! validation.

use serde::Serialize;
use url::Url;

use super::fields::upstream_url;
use super::{ConfigError, RouteCors, assertion, cors, raw};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMode {
    Required,
    Optional,
    None,
}

#[derive(Debug, Clone, Serialize)]
pub struct RouteConfig {
    pub prefix: String,
    pub auth: AuthMode,
    pub strip_prefix: bool,
    pub upstream: Option<Url>,
    /// Accept the Atlas Data API credential headers (`apiKey`, `email` + `password`,
    /// `jwtTokenString`) instead of a Bearer token on this route.
    pub data_api_credentials: bool,
    /// Who answers CORS for this prefix: the gateway (default) or the upstream.
    pub cors: RouteCors,
    /// Accept the access token as a `sessiongate.bearer.<token>` entry of
    /// `Sec-WebSocket-Protocol` (browsers cannot set `Authorization` on a WebSocket).
    pub websocket_token_protocol: bool,
    /// Accept the access token in this query parameter (removed before forwarding).
    pub token_query_param: Option<String>,
    /// `aud` of this route's identity assertions; `None`: the route's upstream URL.
    pub audience: Option<String>,
    /// Close a WebSocket or streaming response when the access token that opened it expires.
    pub close_streams_at_expiry: bool,
}

pub(super) fn validate(index: usize, raw: raw::RawRoute) -> Result<RouteConfig, ConfigError> {
    let key = |field: &str| format!("routes[{index}].{field}");
    let prefix = raw
        .prefix
        .ok_or_else(|| ConfigError::new(key("prefix"), "is required"))?;
    if !prefix.starts_with('/')
        || prefix.contains("//")
        || prefix.split('/').any(|s| s == "." || s == "..")
    {
        return Err(ConfigError::new(
            key("prefix"),
            format!("{prefix:?}: must be an absolute, normalized path such as /public"),
        ));
    }
    let prefix = if prefix.len() > 1 {
        prefix.trim_end_matches('/').to_owned()
    } else {
        prefix
    };
    // Matching also reads paths leniently (case, `;params`, trailing dots and spaces; see
    // proxy::routes): a prefix must be written the one way both readings agree on.
    let lenient_safe = !prefix
        .bytes()
        .any(|b| matches!(b, b';' | b'%' | b' ' | b'\t') || b.is_ascii_uppercase())
        && !prefix.split('/').any(|s| s.ends_with('.'));
    if !lenient_safe {
        return Err(ConfigError::new(
            key("prefix"),
            format!(
                "{prefix:?}: write prefixes in lower case, without ';', '%'-escapes, spaces or \
                 segments ending in '.' (paths are matched case-insensitively and without \
                 ;parameters too)"
            ),
        ));
    }
    let auth = match raw.auth.as_deref() {
        None | Some("required") => AuthMode::Required,
        Some("optional") => AuthMode::Optional,
        Some("none") => AuthMode::None,
        Some(other) => {
            return Err(ConfigError::new(
                key("auth"),
                format!("{other:?}: expected \"required\", \"optional\" or \"none\""),
            ));
        }
    };
    let upstream = raw
        .upstream
        .map(|text| upstream_url(&key("upstream"), &text))
        .transpose()?;
    Ok(RouteConfig {
        prefix,
        auth,
        strip_prefix: raw.strip_prefix.unwrap_or(false),
        upstream,
        data_api_credentials: raw.data_api_credentials.unwrap_or(false),
        cors: cors::route_cors(&key("cors"), raw.cors.as_deref())?,
        websocket_token_protocol: raw.websocket_token_protocol.unwrap_or(false),
        token_query_param: cors::query_param(&key("token_query_param"), raw.token_query_param)?,
        audience: assertion::audience(&key("audience"), raw.audience)?,
        close_streams_at_expiry: raw.close_streams_at_expiry.unwrap_or(true),
    })
}
