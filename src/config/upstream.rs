//! `[upstream]`, `[identity_headers]` (the header names) and `[proxy]`: where proxied requests
//! go and what the upstream is told; and their validation.

use std::time::Duration;

use http::HeaderName;
use serde::Serialize;
use url::Url;

use super::fields::{duration, header, ser_duration, ser_header, upstream_url};
use super::{ClientIdentity, ConfigError, outbound, raw};

#[derive(Debug, Clone, Serialize)]
pub struct UpstreamConfig {
    pub url: Url,
    #[serde(serialize_with = "ser_duration")]
    pub connect_timeout: Duration,
    /// Time allowed until the upstream's response headers arrive; past it: 504.
    #[serde(serialize_with = "ser_duration")]
    pub timeout: Duration,
    #[serde(serialize_with = "ser_duration")]
    pub pool_idle_timeout: Duration,
    /// Presented to the upstream over https (mutual TLS); `None`: no client certificate.
    #[serde(flatten)]
    pub client_identity: Option<ClientIdentity>,
}

#[derive(Debug, Clone, Serialize)]
pub struct IdentityHeaders {
    #[serde(serialize_with = "ser_header")]
    pub user_id: HeaderName,
    #[serde(serialize_with = "ser_header")]
    pub session_id: HeaderName,
    #[serde(serialize_with = "ser_header")]
    pub provider: HeaderName,
}

#[derive(Debug, Clone, Serialize)]
pub struct ProxyConfig {
    /// Forward the client's `Authorization` / `Session` header upstream (default: removed).
    pub forward_credentials: bool,
}

pub(super) fn validate(raw: raw::RawUpstream) -> Result<UpstreamConfig, ConfigError> {
    let url_text = raw
        .url
        .unwrap_or_else(|| "http://127.0.0.1:9000".to_owned());
    Ok(UpstreamConfig {
        url: upstream_url("upstream.url", &url_text)?,
        connect_timeout: duration("upstream.connect_timeout", raw.connect_timeout, "5s")?,
        timeout: duration("upstream.timeout", raw.timeout, "30s")?,
        pool_idle_timeout: duration("upstream.pool_idle_timeout", raw.pool_idle_timeout, "4s")?,
        client_identity: outbound::client_identity(raw.client_cert_file, raw.client_key_file)?,
    })
}

pub(super) fn identity_headers(
    raw: raw::RawIdentityHeaders,
) -> Result<IdentityHeaders, ConfigError> {
    Ok(IdentityHeaders {
        user_id: header("identity_headers.user_id", raw.user_id, "x-user-id")?,
        session_id: header(
            "identity_headers.session_id",
            raw.session_id,
            "x-session-id",
        )?,
        provider: header("identity_headers.provider", raw.provider, "x-user-provider")?,
    })
}
