//! The validated configuration and `load()`: TOML file, then environment overlay, then checks.
//!
//! One submodule per section holds its typed settings and the checks that produce them;
//! `validate` puts the sections together in order. Does not bind sockets or open the store;
//! `app` does that with a `Config` that is known good.

mod admin;
mod app;
mod assertion;
mod auth;
mod cors;
mod duration;
mod effective;
mod env;
mod events;
mod fields;
mod file;
mod log;
mod login_limits;
mod outbound;
mod providers;
mod raw;
mod routes;
mod secret;
mod server;
mod sessions;
mod store;
mod tokens;
mod upstream;
mod validate;

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

pub use admin::{AdminConfig, DEFAULT_ADMIN_KEY_NAME, NamedAdminKey};
pub use app::AppConfig;
pub use assertion::{ASSERTION_TTL_MAX, AssertionConfig};
pub use auth::AuthConfig;
pub use cors::{CorsConfig, RouteCors};
pub use duration::{format as format_duration, parse as parse_duration};
pub use effective::RenderError;
pub use env::PREFIX as ENV_PREFIX;
pub use events::EventsConfig;
pub use log::{LogConfig, LogFormat};
pub use login_limits::LoginLimitsConfig;
pub use outbound::{ClientIdentity, OutboundConfig};
pub use providers::{
    APPLE_ISSUER, ConfiguredKeys, CustomFunctionConfig, CustomTokenConfig, CustomTokenKey,
    GOOGLE_ISSUER, JwkSet, KeyMiss, MetadataField, OidcConfig, ProvidersConfig, UserpassConfig,
    key_family,
};
pub use routes::{AuthMode, RouteConfig};
pub use secret::{Secret, mask_json, mask_urls};
pub use server::{ServerConfig, TlsConfig};
pub use sessions::{OnLimit, SessionCap, SessionsConfig};
pub use store::StoreConfig;
pub use tokens::{
    REFRESH_TTL_MAX, REFRESH_TTL_MIN, SigningAlgorithm, SigningKeySource, TokensConfig,
};
pub use upstream::{IdentityHeaders, ProxyConfig, UpstreamConfig};

use raw::RawConfig;

/// Default config path of `serve` and `config check`.
pub const DEFAULT_PATH: &str = "config/sessiongate.toml";

/// A config key that is missing, malformed or out of range. Displays as one line naming the key.
#[derive(Debug, thiserror::Error)]
#[error("{key}: {reason}")]
pub struct ConfigError {
    pub key: String,
    pub reason: String,
}

impl ConfigError {
    fn new(key: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            reason: reason.into(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Config {
    pub server: ServerConfig,
    pub app: AppConfig,
    pub store: StoreConfig,
    pub tokens: TokensConfig,
    pub upstream: UpstreamConfig,
    /// Trust for every outbound HTTPS connection (upstream, webhooks, JWKS URL).
    pub outbound: OutboundConfig,
    pub admin: AdminConfig,
    pub identity_headers: IdentityHeaders,
    /// `identity_headers.assertion*`: the signed identity assertion for the upstream.
    pub assertion: AssertionConfig,
    pub proxy: ProxyConfig,
    /// Browser apps on other origins (client listener only).
    pub cors: CorsConfig,
    /// Limits on a user's sessions.
    pub sessions: SessionsConfig,
    /// The session lifecycle webhook.
    pub events: EventsConfig,
    pub routes: Vec<RouteConfig>,
    pub providers: ProvidersConfig,
    pub auth: AuthConfig,
    /// Brute-force and credential-stuffing protection (`[login_limits]`).
    pub login_limits: LoginLimitsConfig,
    pub log: LogConfig,
}

/// Reads `path`, overlays `SESSIONGATE_*` from `env`, validates. A missing file is an error
/// naming the path; so is every bad key.
pub fn load(path: &Path, env: &BTreeMap<String, String>) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|err| {
        ConfigError::new("config", format!("cannot read {}: {err}", path.display()))
    })?;
    from_toml_str(&text, env, path.parent().unwrap_or(Path::new(".")))
}

/// Like `load` for config text already in memory. Relative file paths in the config are
/// resolved against the working directory, as a shell user would expect.
pub fn from_toml_str(
    text: &str,
    env: &BTreeMap<String, String>,
    _config_dir: &Path,
) -> Result<Config, ConfigError> {
    let mut table: toml::Table =
        toml::from_str(text).map_err(|err| file::toml_error(text, &err))?;
    file::refuse_inline_secrets(&table)?;
    env::overlay(&mut table, env).map_err(|msg| {
        let (key, reason) = msg
            .split_once(": ")
            .unwrap_or(("environment", msg.as_str()));
        ConfigError::new(key, reason)
    })?;
    let raw: RawConfig =
        serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(|err| {
            ConfigError::new(
                err.path().to_string(),
                file::first_line(&err.inner().to_string()),
            )
        })?;
    validate::validate(raw)
}

#[cfg(test)]
mod tests;
