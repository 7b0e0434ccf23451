//! `Live`: the running gateway's current `State`, and config reload.
//!
//! A reload gets a config that `config::load` already validated, prepares everything that can
//! fail (the TLS certificate), builds a new `State` and swaps it in whole: a request runs to its
//! end on the state it started with, the next one sees the new one. Keys that cannot change
//! while the process runs (listen addresses, the store, signing keys, …) keep their running
//! value and are reported, never silently ignored.

use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use serde::Serialize;

use super::Durable;
use crate::config::{Config, ConfigError, SigningKeySource};
use crate::server::{self, ServerCert};
use crate::state::State;
use crate::telemetry::{self, LevelChange};

/// The gateway's current `State`, replaced whole by `reload`.
pub struct Live {
    current: ArcSwap<State>,
    durable: Durable,
    /// The client listener's certificate, when it serves TLS.
    cert: Option<Arc<ServerCert>>,
    /// One reload at a time (two SIGHUPs in a row apply in order).
    reloading: Mutex<()>,
}

/// What a reload applied.
#[derive(Debug)]
pub struct Reloaded {
    /// Keys whose new value differs from the running one and needs a restart; the running
    /// value stays in force.
    pub restart_needed: Vec<&'static str>,
    /// Whether `log.level` was applied (`SESSIONGATE_LOG`, when set, keeps deciding).
    pub log_level: LevelChange,
    /// Whether the TLS certificate was read again.
    pub certificate_reloaded: bool,
}

/// Why a reload was refused (the running config keeps serving).
pub type ReloadError = ConfigError;

impl Live {
    pub(super) fn new(state: State, durable: Durable, cert: Option<Arc<ServerCert>>) -> Self {
        Self {
            current: ArcSwap::from_pointee(state),
            durable,
            cert,
            reloading: Mutex::new(()),
        }
    }

    /// The state a new request uses.
    pub fn current(&self) -> Arc<State> {
        self.current.load_full()
    }

    /// Applies `config` (loaded and validated by `config::load`) to the running gateway, or
    /// changes nothing and says which key is wrong.
    pub fn reload(&self, mut config: Config) -> Result<Reloaded, ReloadError> {
        let _one_at_a_time = self
            .reloading
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let running = self.current();
        let restart_needed = hold_restart_only(&running.config, &mut config);
        // Everything that can fail happens before anything changes.
        let certificate = match (&self.cert, &config.server.tls) {
            (Some(_), Some(tls)) => Some(
                server::load_certified_key(&tls.cert_file, &tls.key_file).map_err(|reason| {
                    ConfigError {
                        key: "server.tls".to_owned(),
                        reason,
                    }
                })?,
            ),
            _ => None,
        };
        let level = config.log.level.clone();
        let fingerprint = config.fingerprint();
        let admin_key = running.admin_key.reloaded(&config.admin);
        let state = State::build(config, &self.durable, admin_key);
        let log_level = telemetry::set_level(&level).map_err(|reason| ConfigError {
            key: "log.level".to_owned(),
            reason,
        })?;
        let certificate_reloaded = certificate.is_some();
        if let (Some(slot), Some(certificate)) = (&self.cert, certificate) {
            slot.replace(certificate);
        }
        self.current.store(Arc::new(state));
        crate::metrics::set_build_info(&fingerprint);
        Ok(Reloaded {
            restart_needed,
            log_level,
            certificate_reloaded,
        })
    }
}

/// Keeps the running value of every key that only takes effect at start, and names those
/// whose new value differs.
fn hold_restart_only(running: &Config, new: &mut Config) -> Vec<&'static str> {
    let mut held = Vec::new();
    macro_rules! hold {
        ($key:literal, $($field:ident).+) => {
            if differs(&running.$($field).+, &new.$($field).+) {
                held.push($key);
                new.$($field).+ = running.$($field).+.clone();
            }
        };
    }
    hold!("server.listen", server.listen);
    hold!("server.admin_listen", server.admin_listen);
    hold!("server.header_read_timeout", server.header_read_timeout);
    hold!("server.idle_timeout", server.idle_timeout);
    hold!("server.max_header_bytes", server.max_header_bytes);
    hold!("server.max_connections", server.max_connections);
    hold!("server.shutdown_grace", server.shutdown_grace);
    hold!("store", store);
    hold!("app.id", app.id);
    hold!("tokens.access_ttl", tokens.access_ttl);
    hold!("tokens.algorithm", tokens.algorithm);
    hold!("tokens.cache_capacity", tokens.cache_capacity);
    hold!("log.format", log.format);
    hold!("identity_headers.assertion", assertion);
    // Turning TLS on or off changes the listener's scheme; new files for it reload.
    if running.server.tls.is_some() != new.server.tls.is_some() {
        held.push("server.tls");
        new.server.tls = running.server.tls.clone();
    }
    // Secrets serialize masked: compare what they hold.
    if signing_key_bytes(&running.tokens.signing_key) != signing_key_bytes(&new.tokens.signing_key)
    {
        held.push("tokens.signing_key");
        new.tokens.signing_key = running.tokens.signing_key.clone();
    }
    held
}

fn differs<T: Serialize>(running: &T, new: &T) -> bool {
    serde_json::to_value(running).ok() != serde_json::to_value(new).ok()
}

fn signing_key_bytes(source: &Option<SigningKeySource>) -> Option<Vec<u8>> {
    source.as_ref().map(|source| match source {
        SigningKeySource::Secret(secret) => secret.expose().to_vec(),
        SigningKeySource::KeyPair {
            private_pem,
            public_pem,
        } => [private_pem.expose(), public_pem].concat(),
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::Path;

    use super::*;

    fn config(extra: &str) -> Config {
        let text = format!(
            "[app]\nid = \"app-1\"\n[upstream]\nurl = \"http://127.0.0.1:9\"\n\
             [store]\nurl = \"sqlite::memory:\"\n{extra}"
        );
        crate::config::from_toml_str(&text, &BTreeMap::new(), Path::new("."))
            .expect("test config loads")
    }

    #[test]
    fn live_keys_change_and_restart_keys_are_held_and_named() {
        let running = config("[server]\nlisten = \"127.0.0.1:1000\"\n");
        let mut new = config(
            "[server]\nlisten = \"127.0.0.1:2000\"\ntrusted_proxies = [\"10.0.0.0/8\"]\n\
             [tokens]\naccess_ttl = \"5m\"\n",
        );
        let held = hold_restart_only(&running, &mut new);
        assert_eq!(held, ["server.listen", "tokens.access_ttl"]);
        assert_eq!(new.server.listen, running.server.listen);
        assert_eq!(new.tokens.access_ttl, running.tokens.access_ttl);
        assert_eq!(new.server.trusted_proxies.len(), 1, "a live key is applied");
    }

    #[test]
    fn a_new_signing_secret_is_noticed_though_it_prints_masked() {
        let env = |key: &str| {
            BTreeMap::from([(
                "SESSIONGATE_TOKENS__SIGNING_KEY".to_owned(),
                format!("{key}-0123456789abcdefghijklmnopqrstuvwxyz"),
            )])
        };
        let text = "[app]\nid = \"app-1\"\n[upstream]\nurl = \"http://127.0.0.1:9\"\n\
                    [store]\nurl = \"sqlite::memory:\"\n";
        let load = |key: &str| {
            crate::config::from_toml_str(text, &env(key), Path::new(".")).expect("loads")
        };
        let running = load("a");
        let mut same = load("a");
        assert!(hold_restart_only(&running, &mut same).is_empty());
        let mut rotated = load("b");
        assert_eq!(
            hold_restart_only(&running, &mut rotated),
            ["tokens.signing_key"]
        );
        assert_eq!(
            signing_key_bytes(&rotated.tokens.signing_key),
            signing_key_bytes(&running.tokens.signing_key)
        );
    }
}
