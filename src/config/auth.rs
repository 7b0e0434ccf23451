//! `[auth]`: how many password hashes run and wait at once; and its validation.

use serde::Serialize;

use super::{ConfigError, raw};

#[derive(Debug, Clone, Serialize)]
pub struct AuthConfig {
    pub password_hash_concurrency: usize,
    /// Hashes that may wait for a slot; one more is refused at once (503 with `Retry-After`)
    /// instead of queueing behind a login storm.
    pub password_hash_queue: usize,
}

pub(super) fn validate(raw: raw::RawAuth) -> Result<AuthConfig, ConfigError> {
    let cpus = std::thread::available_parallelism().map_or(2, usize::from);
    let concurrency = raw.password_hash_concurrency.unwrap_or(cpus);
    let auth = AuthConfig {
        password_hash_concurrency: concurrency,
        password_hash_queue: raw
            .password_hash_queue
            .unwrap_or(concurrency.saturating_mul(4)),
    };
    if auth.password_hash_concurrency == 0 {
        return Err(ConfigError::new(
            "auth.password_hash_concurrency",
            "must be at least 1",
        ));
    }
    Ok(auth)
}
