//! `sessiongate config check`: validate everything `serve` would before it opens the store —
//! the config keys, the log filter, the TLS certificate and key (readable, parsed, matching),
//! a configured signing key pair, the outbound CA bundle and the upstream client certificate
//! (read by `config::load`) — warn when no admin key is set, when the system certificate store
//! is empty, or when a client certificate would never be presented, and print the effective
//! config with secrets masked (key material as `***`, the password inside any URL:
//! `postgres://user:***@host/db`), as JSON or as TOML.
//!
//! Does not open the store or bind the listeners: a check runs anywhere the config is.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;
use clap::ValueEnum;

use super::CliError;
use crate::config::{self, Config, ConfigError};
use crate::outbound::{Outbound, RootsOrigin};
use crate::{server, tokens};

/// How `config check` prints the effective config.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum Format {
    #[default]
    Json,
    /// TOML: durations in config notation (`60d`), secrets `***`, unset keys left out.
    Toml,
}

pub fn run(path: &Path, env: &BTreeMap<String, String>, format: Format) -> Result<(), CliError> {
    let config = config::load(path, env)?;
    check_files(&config)?;
    for warning in warnings(&config) {
        eprintln!("warning: {warning}");
    }
    match format {
        Format::Json => {
            let value = config.masked_json().map_err(anyhow::Error::from)?;
            let text = serde_json::to_string_pretty(&value).context("cannot print the config")?;
            println!("{text}");
        }
        // Printed as is: its SHA-256 starts with `Config::fingerprint` (`build_info`).
        Format::Toml => print!("{}", config.effective_toml().map_err(anyhow::Error::from)?),
    }
    Ok(())
}

/// What `serve` checks after loading, before it opens the store: the same functions.
fn check_files(config: &Config) -> Result<(), ConfigError> {
    if let Some(tls) = &config.server.tls {
        server::load_certified_key(&tls.cert_file, &tls.key_file).map_err(|reason| {
            ConfigError {
                key: "server.tls".to_owned(),
                reason,
            }
        })?;
    }
    tokens::keys::check_configured(&config.tokens).map_err(|err| ConfigError {
        key: "tokens.signing_key_file".to_owned(),
        reason: err.to_string(),
    })?;
    Ok(())
}

/// Valid but probably not meant: printed on stderr, exit 0.
fn warnings(config: &Config) -> Vec<String> {
    let mut warnings = Vec::new();
    if config.admin.api_key.is_none() && config.admin.keys.is_empty() {
        warnings.push(
            "admin.api_key_file: no admin key (admin.api_key_file or SESSIONGATE_ADMIN__API_KEY): \
             the admin API will refuse every call (health and metrics stay open)"
                .to_owned(),
        );
    }
    if Outbound::new(&config.outbound).roots_origin() == RootsOrigin::Bundled {
        warnings.push(
            "outbound: the system certificate store has no usable certificate (install \
             ca-certificates, or set SSL_CERT_FILE); outbound https trusts the bundled Mozilla \
             roots and outbound.ca_file"
                .to_owned(),
        );
    }
    let https_upstream = std::iter::once(&config.upstream.url)
        .chain(
            config
                .routes
                .iter()
                .filter_map(|route| route.upstream.as_ref()),
        )
        .any(|url| url.scheme() == "https");
    if config.upstream.client_identity.is_some() && !https_upstream {
        warnings.push(
            "upstream.client_cert_file: no upstream is https://, so the client certificate is \
             never presented"
                .to_owned(),
        );
    }
    warnings
}
