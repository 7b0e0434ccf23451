//! `[providers.custom_function]`: the login webhook and its deadline; and their validation.

use std::time::Duration;

use serde::Serialize;
use url::Url;

use super::super::ConfigError;
use super::super::fields::{duration, ser_duration};
use super::super::raw::RawCustomFunction;
use super::http_url;

#[derive(Debug, Clone, Serialize)]
pub struct CustomFunctionConfig {
    /// Receives the login body as JSON; answers `{"id": …, "name"?, "email"?, "data"?}` (200)
    /// or an error (`{"error": …}`, non-2xx) whose message reaches the client.
    pub url: Url,
    #[serde(serialize_with = "ser_duration")]
    pub timeout: Duration,
}

pub(super) fn validate(
    raw: RawCustomFunction,
) -> Result<Option<CustomFunctionConfig>, ConfigError> {
    let key = "providers.custom_function";
    if !raw.enabled.unwrap_or(false) {
        return Ok(None);
    }
    let url = raw.url.ok_or_else(|| {
        ConfigError::new(
            format!("{key}.url"),
            "is required when the provider is enabled",
        )
    })?;
    Ok(Some(CustomFunctionConfig {
        url: http_url(&format!("{key}.url"), &url)?,
        timeout: duration(&format!("{key}.timeout"), raw.timeout, "5s")?,
    }))
}
