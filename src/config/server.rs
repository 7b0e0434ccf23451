//! `[server]`: the listeners, TLS, request limits and timeouts, trusted proxies; and its
//! validation.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use http::HeaderName;
use serde::Serialize;

use super::ConfigError;
use super::fields::{addr, duration, header, positive, ser_duration, ser_header};
use super::raw;

#[derive(Debug, Clone, Serialize)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub admin_listen: SocketAddr,
    pub tls: Option<TlsConfig>,
    #[serde(serialize_with = "ser_duration")]
    pub header_read_timeout: Duration,
    /// Total size of a request's header block; larger is answered 431.
    pub max_header_bytes: usize,
    /// Body size limit of the gateway's own endpoints; larger is answered 413.
    pub max_body_bytes: usize,
    #[serde(serialize_with = "ser_duration")]
    pub shutdown_grace: Duration,
    /// Proxies in front of the gateway whose forwarding headers count (see
    /// `proxy::forwarded`); `trust_forwarded_headers = true` means every address.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Kept from a trusted proxy, else generated; returned, forwarded and logged.
    #[serde(serialize_with = "ser_header")]
    pub request_id_header: HeaderName,
    /// A connection with no request in flight for this long is closed.
    #[serde(serialize_with = "ser_duration")]
    pub idle_timeout: Duration,
    /// Own endpoints: the whole body must arrive within this. Proxied bodies: the longest
    /// wait for the next piece.
    #[serde(serialize_with = "ser_duration")]
    pub body_read_timeout: Duration,
    /// Client connections open at once; `None`: derived from the file-descriptor limit.
    pub max_connections: Option<usize>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TlsConfig {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
}

pub(super) fn validate(raw: raw::RawServer) -> Result<ServerConfig, ConfigError> {
    let tls = match raw.tls {
        None => None,
        Some(tls) => Some(TlsConfig {
            cert_file: tls.cert_file.map(PathBuf::from).ok_or_else(|| {
                ConfigError::new("server.tls.cert_file", "is required with [server.tls]")
            })?,
            key_file: tls.key_file.map(PathBuf::from).ok_or_else(|| {
                ConfigError::new("server.tls.key_file", "is required with [server.tls]")
            })?,
        }),
    };
    let max_header_bytes = raw.max_header_bytes.unwrap_or(16 * 1024);
    if !(1024..=1024 * 1024).contains(&max_header_bytes) {
        return Err(ConfigError::new(
            "server.max_header_bytes",
            "must be between 1024 and 1048576",
        ));
    }
    let max_body_bytes = raw.max_body_bytes.unwrap_or(64 * 1024);
    if !(1024..=16 * 1024 * 1024).contains(&max_body_bytes) {
        return Err(ConfigError::new(
            "server.max_body_bytes",
            "must be between 1024 and 16777216",
        ));
    }
    Ok(ServerConfig {
        listen: addr("server.listen", raw.listen, "127.0.0.1:8080")?,
        admin_listen: addr("server.admin_listen", raw.admin_listen, "127.0.0.1:8081")?,
        tls,
        header_read_timeout: positive(
            duration("server.header_read_timeout", raw.header_read_timeout, "10s")?,
            "server.header_read_timeout",
        )?,
        max_header_bytes,
        max_body_bytes,
        shutdown_grace: duration("server.shutdown_grace", raw.shutdown_grace, "30s")?,
        trusted_proxies: trusted_proxies(raw.trusted_proxies, raw.trust_forwarded_headers)?,
        request_id_header: header(
            "server.request_id_header",
            raw.request_id_header,
            "x-request-id",
        )?,
        idle_timeout: positive(
            duration("server.idle_timeout", raw.idle_timeout, "60s")?,
            "server.idle_timeout",
        )?,
        body_read_timeout: positive(
            duration("server.body_read_timeout", raw.body_read_timeout, "30s")?,
            "server.body_read_timeout",
        )?,
        max_connections: match raw.max_connections {
            Some(0) => {
                return Err(ConfigError::new(
                    "server.max_connections",
                    "must be at least 1 (leave it out to derive it from the file limit)",
                ));
            }
            other => other,
        },
    })
}

/// `server.trusted_proxies` as networks (a bare address is its own /32 or /128);
/// `server.trust_forwarded_headers = true`, the older switch, trusts every address.
fn trusted_proxies(
    raw: Option<Vec<String>>,
    trust_all: Option<bool>,
) -> Result<Vec<ipnet::IpNet>, ConfigError> {
    let key = "server.trusted_proxies";
    let mut networks = Vec::new();
    for text in raw.unwrap_or_default() {
        let network = text
            .parse::<ipnet::IpNet>()
            .or_else(|_| text.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
            .map_err(|_| {
                ConfigError::new(key, format!("{text:?} is not a CIDR such as 10.0.0.0/8"))
            })?;
        networks.push(network.trunc());
    }
    if trust_all == Some(true) {
        if !networks.is_empty() {
            return Err(ConfigError::new(
                "server.trust_forwarded_headers",
                "set either this or server.trusted_proxies, not both",
            ));
        }
        networks = ["0.0.0.0/0", "::/0"]
            .iter()
            .map(|net| net.parse().expect("constant networks parse"))
            .collect();
    }
    Ok(networks)
}
