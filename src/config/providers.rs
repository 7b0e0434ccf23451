//! Login provider settings: which providers are enabled and how the external ones are wired
//! (custom-token keys and claims, the custom-function webhook, local-userpass webhooks, the
//! OpenID Connect issuers); one submodule per provider kind.
//!
//! Does not fetch JWKS or call webhooks; the providers in `auth` do, with these settings.

mod custom_function;
mod custom_token;
mod oidc;
mod userpass;

use serde::Serialize;
use url::Url;

pub use custom_function::CustomFunctionConfig;
pub use custom_token::{
    ConfiguredKeys, CustomTokenConfig, CustomTokenKey, JwkSet, KeyMiss, MetadataField, key_family,
};
pub use oidc::{APPLE_ISSUER, GOOGLE_ISSUER, OidcConfig};
pub use userpass::UserpassConfig;

use super::ConfigError;
use super::raw::RawProviders;

#[derive(Debug, Clone, Serialize)]
pub struct ProvidersConfig {
    pub anon_user: bool,
    pub local_userpass: bool,
    pub local_userpass_auto_confirm: bool,
    pub api_key: bool,
    /// Exchange of one-time grants minted by the admin API.
    pub grant: bool,
    pub userpass: UserpassConfig,
    /// `None`: the custom-token provider is disabled.
    pub custom_token: Option<CustomTokenConfig>,
    /// `None`: the custom-function provider is disabled.
    pub custom_function: Option<CustomFunctionConfig>,
    /// The enabled OpenID Connect providers: `oauth2-google`, `oauth2-apple` and every
    /// `[[providers.oidc]]` (`oidc-<name>`), in that order.
    pub oidc: Vec<OidcConfig>,
}

pub fn validate(raw: RawProviders) -> Result<ProvidersConfig, ConfigError> {
    Ok(ProvidersConfig {
        anon_user: raw.anon_user.enabled.unwrap_or(true),
        local_userpass: raw.local_userpass.enabled.unwrap_or(true),
        local_userpass_auto_confirm: raw.local_userpass.auto_confirm.unwrap_or(true),
        api_key: raw.api_key.enabled.unwrap_or(true),
        grant: raw.grant.enabled.unwrap_or(true),
        userpass: userpass::validate(raw.local_userpass)?,
        custom_token: custom_token::validate(raw.custom_token)?,
        custom_function: custom_function::validate(raw.custom_function)?,
        oidc: oidc::validate(raw.oauth2_google, raw.oauth2_apple, raw.oidc)?,
    })
}

fn http_url(key: &str, text: &str) -> Result<Url, ConfigError> {
    super::fields::url(key, text)
}

#[cfg(test)]
mod tests;
