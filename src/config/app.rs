//! `[app]`: the App ID and the location the client API reports; and its validation.

use serde::Serialize;
use url::Url;

use super::ConfigError;
use super::fields::url;
use super::raw;

#[derive(Debug, Clone, Serialize)]
pub struct AppConfig {
    pub id: String,
    /// `None`: the location endpoint answers with the scheme and `Host` of each request.
    pub public_url: Option<Url>,
    pub deployment_model: String,
    pub location: String,
}

pub(super) fn validate(raw: raw::RawApp) -> Result<AppConfig, ConfigError> {
    let id = raw
        .id
        .ok_or_else(|| ConfigError::new("app.id", "is required (the <App ID> clients use)"))?;
    let id_ok = !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
    if !id_ok {
        return Err(ConfigError::new(
            "app.id",
            format!("{id:?}: use letters, digits, '-', '_' or '.'"),
        ));
    }
    let public_url = raw
        .public_url
        .map(|text| url("app.public_url", &text))
        .transpose()?;
    Ok(AppConfig {
        id,
        public_url,
        deployment_model: raw.deployment_model.unwrap_or_else(|| "GLOBAL".to_owned()),
        location: raw.location.unwrap_or_else(|| "US-VA".to_owned()),
    })
}
