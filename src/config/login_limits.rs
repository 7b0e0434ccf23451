//! `[login_limits]`: how many failed logins (and registrations, confirmation/reset sends and
//! refreshes) an account, a client address and the pair of both may have per window, and how
//! long a key that went over is blocked. Checked at load so a zero limit or a block longer
//! than its maximum stops start-up naming the key.
//!
//! Does not count anything; `crate::throttle` does, with the store.

use std::time::Duration;

use serde::Serialize;

use super::fields::{duration, ser_duration};
use super::{ConfigError, format_duration, raw::RawLoginLimits};

/// Longest `window`, `block`, `max_block` and `forget_after` (a day; longer only locks people
/// out for longer).
const LONGEST: Duration = Duration::from_secs(86_400);
/// Longest `known_client_ttl`.
const KNOWN_CLIENT_TTL_MAX: Duration = Duration::from_secs(365 * 86_400);

/// `[login_limits]`: brute-force and credential-stuffing protection.
#[derive(Debug, Clone, Serialize)]
pub struct LoginLimitsConfig {
    /// `false`: nothing is counted or refused (the hash pool's queue bound still sheds storms).
    pub enabled: bool,
    /// Failures are counted in fixed windows of this length, per key.
    #[serde(serialize_with = "ser_duration")]
    pub window: Duration,
    /// Failed logins per window for one account from one client address (the strict limit).
    pub per_account_and_client: u32,
    /// Failed logins per window for one account from every address together (the loose one;
    /// known clients are exempt from it).
    pub per_account: u32,
    /// Failures per window from one client address over every account.
    pub per_client: u32,
    /// Confirmation and reset sends (`confirm/send`, `confirm/call`, `reset/send`,
    /// `reset/call`) per window for one email.
    pub sends_per_account: u32,
    /// How long a key that went over its limit is refused at first; each further trip doubles it.
    #[serde(serialize_with = "ser_duration")]
    pub block: Duration,
    /// The longest block the doubling reaches.
    #[serde(serialize_with = "ser_duration")]
    pub max_block: Duration,
    /// A key without a failure for this long starts again at `block`.
    #[serde(serialize_with = "ser_duration")]
    pub forget_after: Duration,
    /// A client address that logged in to an account stays "known" to it this long: it keeps
    /// its own tries while the account's loose limit is tripped by others.
    #[serde(serialize_with = "ser_duration")]
    pub known_client_ttl: Duration,
}

pub(super) fn validate(raw: RawLoginLimits) -> Result<LoginLimitsConfig, ConfigError> {
    let bounded = |key: &str, value: Option<String>, default: &str, max: Duration| {
        let value = duration(key, value, default)?;
        if value < Duration::from_secs(1) || value > max {
            return Err(ConfigError::new(
                key,
                format!(
                    "{} is outside 1s..={}",
                    format_duration(value),
                    format_duration(max)
                ),
            ));
        }
        Ok(value)
    };
    let limit = |key: &str, value: Option<u32>, default: u32| {
        let value = value.unwrap_or(default);
        if value == 0 {
            return Err(ConfigError::new(
                key,
                "must be at least 1 (enabled = false turns the limits off)",
            ));
        }
        Ok(value)
    };
    let config = LoginLimitsConfig {
        enabled: raw.enabled.unwrap_or(true),
        window: bounded("login_limits.window", raw.window, "15m", LONGEST)?,
        per_account_and_client: limit(
            "login_limits.per_account_and_client",
            raw.per_account_and_client,
            10,
        )?,
        per_account: limit("login_limits.per_account", raw.per_account, 100)?,
        per_client: limit("login_limits.per_client", raw.per_client, 100)?,
        sends_per_account: limit("login_limits.sends_per_account", raw.sends_per_account, 5)?,
        block: bounded("login_limits.block", raw.block, "1m", LONGEST)?,
        max_block: bounded("login_limits.max_block", raw.max_block, "1h", LONGEST)?,
        forget_after: bounded(
            "login_limits.forget_after",
            raw.forget_after,
            "24h",
            LONGEST,
        )?,
        known_client_ttl: bounded(
            "login_limits.known_client_ttl",
            raw.known_client_ttl,
            "30d",
            KNOWN_CLIENT_TTL_MAX,
        )?,
    };
    if config.max_block < config.block {
        return Err(ConfigError::new(
            "login_limits.max_block",
            format!(
                "{} is shorter than login_limits.block ({})",
                format_duration(config.max_block),
                format_duration(config.block)
            ),
        ));
    }
    if config.per_account < config.per_account_and_client {
        return Err(ConfigError::new(
            "login_limits.per_account",
            "must be at least login_limits.per_account_and_client (the per-account limit is \
             the loose one)",
        ));
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::Path;

    use super::*;

    fn load(extra: &str, env: &[(&str, &str)]) -> Result<LoginLimitsConfig, ConfigError> {
        let env: BTreeMap<String, String> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let text = format!("[app]\nid = \"myapp-abcde\"\n{extra}");
        super::super::from_toml_str(&text, &env, Path::new(".")).map(|c| c.login_limits)
    }

    #[test]
    fn limits_are_on_by_default_with_sane_values() {
        let limits = load("", &[]).expect("defaults");
        assert!(limits.enabled);
        assert_eq!(limits.per_account_and_client, 10);
        assert_eq!(limits.per_account, 100);
        assert_eq!(limits.block, Duration::from_secs(60));
        assert_eq!(limits.max_block, Duration::from_secs(3600));
    }

    #[test]
    fn bad_values_stop_start_up_naming_the_key() {
        let key = |extra: &str| load(extra, &[]).expect_err("refused").key;
        assert_eq!(
            key("[login_limits]\nper_client = 0"),
            "login_limits.per_client"
        );
        assert_eq!(
            key("[login_limits]\nblock = \"2h\"\nmax_block = \"1h\""),
            "login_limits.max_block"
        );
        assert_eq!(
            key("[login_limits]\nwindow = \"0s\""),
            "login_limits.window"
        );
        assert_eq!(
            key("[login_limits]\nper_account = 5\nper_account_and_client = 6"),
            "login_limits.per_account"
        );
        assert_eq!(
            key("[login_limits]\nlockout = true"),
            "login_limits.lockout"
        );
    }

    #[test]
    fn the_environment_overrides_a_limit() {
        let limits = load("", &[("SESSIONGATE_LOGIN_LIMITS__ENABLED", "false")]).expect("env");
        assert!(!limits.enabled);
    }
}
