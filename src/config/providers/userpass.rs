//! `[providers.local_userpass]` webhooks for confirmation and password reset, and the
//! lifetime of their tokens; and their validation.

use std::time::Duration;

use serde::Serialize;
use url::Url;

use super::super::ConfigError;
use super::super::fields::{duration, ser_duration};
use super::super::raw::RawUserpass;
use super::http_url;

/// local-userpass confirmation and reset: App Services' "send an email" / "run a function"
/// become webhooks that receive the token and decide what to do with it.
#[derive(Debug, Clone, Serialize)]
pub struct UserpassConfig {
    /// Receives `{email, token, tokenId}` when a new account needs confirming (without
    /// auto-confirm) and on `confirm/send`; `confirm/call` asks it to decide.
    pub confirmation_url: Option<Url>,
    /// Receives `{email, token, tokenId}` on `reset/send`; on `reset/call` it receives
    /// `{email, token, tokenId, arguments}` and answers `{"status": "success"|"pending"|"fail"}`.
    pub reset_url: Option<Url>,
    /// Lifetime of confirmation and reset tokens.
    #[serde(serialize_with = "ser_duration")]
    pub token_ttl: Duration,
    #[serde(serialize_with = "ser_duration")]
    pub webhook_timeout: Duration,
}

pub(super) fn validate(raw: RawUserpass) -> Result<UserpassConfig, ConfigError> {
    let key = "providers.local_userpass";
    let config = UserpassConfig {
        confirmation_url: raw
            .confirmation_url
            .map(|u| http_url(&format!("{key}.confirmation_url"), &u))
            .transpose()?,
        reset_url: raw
            .reset_url
            .map(|u| http_url(&format!("{key}.reset_url"), &u))
            .transpose()?,
        token_ttl: duration(&format!("{key}.token_ttl"), raw.token_ttl, "30m")?,
        webhook_timeout: duration(
            &format!("{key}.webhook_timeout"),
            raw.webhook_timeout,
            "10s",
        )?,
    };
    if raw.auto_confirm == Some(false) && config.confirmation_url.is_none() {
        return Err(ConfigError::new(
            format!("{key}.confirmation_url"),
            "is required when auto_confirm = false (nobody could confirm an account)",
        ));
    }
    Ok(config)
}
