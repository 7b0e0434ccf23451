//! Login provider settings: which providers are enabled and how the external ones are wired
//! (custom-token keys and claims, the custom-function webhook, local-userpass webhooks).
//!
//! Does not fetch JWKS or call webhooks; the providers in `auth` do, with these settings.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;
use url::Url;

use super::raw::{RawCustomFunction, RawCustomToken, RawProviders, RawUserpass};
use super::{ConfigError, Secret, duration, ser_duration};

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
}

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

/// Where the keys that verify external JWTs come from.
#[derive(Debug, Clone, Serialize)]
pub enum CustomTokenKey {
    /// HMAC secret (HS256/384/512), read from `key_file`.
    Secret(Secret),
    /// PEM public key (RS256, ES256, EdDSA, …), read from `key_file`.
    Pem(PathBuf),
    /// A JWKS document on disk, read at start.
    JwksFile(PathBuf),
    /// A JWKS URL: fetched at start, cached, re-fetched (rate-limited) on an unknown `kid`.
    JwksUrl(Url),
}

/// One claim copied into the user's data (App Services' "metadata fields").
#[derive(Debug, Clone, Serialize)]
pub struct MetadataField {
    /// Dotted path in the token's claims, e.g. `email` or `user_data.name`.
    pub claim: String,
    /// Name in the user's `data`.
    pub field: String,
    /// Login fails when a required claim is missing.
    pub required: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct CustomTokenConfig {
    /// Accepted `alg` values; a token with any other is refused before a key is used.
    pub algorithms: Vec<String>,
    pub key: CustomTokenKey,
    /// The token's `aud` must contain one of these.
    pub audience: Vec<String>,
    /// When set, the token's `iss` must equal it.
    pub issuer: Option<String>,
    /// Clock skew allowed on `exp` and `nbf`.
    #[serde(serialize_with = "ser_duration")]
    pub leeway: Duration,
    pub metadata: Vec<MetadataField>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CustomFunctionConfig {
    /// Receives the login body as JSON; answers `{"id": …, "name"?, "email"?, "data"?}` (200)
    /// or an error (`{"error": …}`, non-2xx) whose message reaches the client.
    pub url: Url,
    #[serde(serialize_with = "ser_duration")]
    pub timeout: Duration,
}

const ALGORITHMS: &[&str] = &[
    "HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256",
    "ES384", "EdDSA",
];

pub fn validate(raw: RawProviders) -> Result<ProvidersConfig, ConfigError> {
    Ok(ProvidersConfig {
        anon_user: raw.anon_user.enabled.unwrap_or(true),
        local_userpass: raw.local_userpass.enabled.unwrap_or(true),
        local_userpass_auto_confirm: raw.local_userpass.auto_confirm.unwrap_or(true),
        api_key: raw.api_key.enabled.unwrap_or(true),
        grant: raw.grant.enabled.unwrap_or(true),
        userpass: validate_userpass(raw.local_userpass)?,
        custom_token: validate_custom_token(raw.custom_token)?,
        custom_function: validate_custom_function(raw.custom_function)?,
    })
}

fn validate_userpass(raw: RawUserpass) -> Result<UserpassConfig, ConfigError> {
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

fn validate_custom_token(raw: RawCustomToken) -> Result<Option<CustomTokenConfig>, ConfigError> {
    let key = "providers.custom_token";
    if !raw.enabled.unwrap_or(false) {
        return Ok(None);
    }
    let algorithms = raw.algorithms.unwrap_or_else(|| vec!["RS256".to_owned()]);
    if algorithms.is_empty() {
        return Err(ConfigError::new(
            format!("{key}.algorithms"),
            "must name at least one algorithm",
        ));
    }
    if let Some(bad) = algorithms
        .iter()
        .find(|a| !ALGORITHMS.contains(&a.as_str()))
    {
        return Err(ConfigError::new(
            format!("{key}.algorithms"),
            format!("{bad:?}: expected one of {}", ALGORITHMS.join(", ")),
        ));
    }
    let symmetric = algorithms.iter().filter(|a| a.starts_with("HS")).count();
    if symmetric != 0 && symmetric != algorithms.len() {
        return Err(ConfigError::new(
            format!("{key}.algorithms"),
            "mixes HMAC and public-key algorithms; one key source cannot serve both",
        ));
    }
    let sources = [
        raw.key_file.is_some(),
        raw.jwks_file.is_some(),
        raw.jwks_url.is_some(),
    ];
    if sources.iter().filter(|s| **s).count() != 1 {
        return Err(ConfigError::new(
            key,
            "set exactly one of key_file, jwks_file, jwks_url",
        ));
    }
    let key_source = if let Some(path) = raw.key_file {
        if symmetric > 0 {
            CustomTokenKey::Secret(
                Secret::from_file(Path::new(&path))
                    .map_err(|r| ConfigError::new(format!("{key}.key_file"), r))?,
            )
        } else {
            readable(&format!("{key}.key_file"), &path)?;
            CustomTokenKey::Pem(PathBuf::from(path))
        }
    } else if symmetric > 0 {
        return Err(ConfigError::new(
            format!("{key}.key_file"),
            "HMAC algorithms need key_file (a JWKS holds public keys)",
        ));
    } else if let Some(path) = raw.jwks_file {
        readable(&format!("{key}.jwks_file"), &path)?;
        CustomTokenKey::JwksFile(PathBuf::from(path))
    } else {
        let url = raw.jwks_url.unwrap_or_default();
        CustomTokenKey::JwksUrl(http_url(&format!("{key}.jwks_url"), &url)?)
    };
    let audience = raw.audience.unwrap_or_default();
    if audience.is_empty() || audience.iter().any(String::is_empty) {
        return Err(ConfigError::new(
            format!("{key}.audience"),
            "is required (the aud values your issuer puts in tokens for this app)",
        ));
    }
    let mut metadata = Vec::with_capacity(raw.metadata.len());
    for (index, field) in raw.metadata.into_iter().enumerate() {
        let name = |f: &str| format!("{key}.metadata[{index}].{f}");
        let claim = field
            .claim
            .filter(|c| !c.is_empty())
            .ok_or_else(|| ConfigError::new(name("claim"), "is required"))?;
        let target = field
            .field
            .filter(|f| !f.is_empty())
            .unwrap_or_else(|| claim.rsplit('.').next().unwrap_or(&claim).to_owned());
        metadata.push(MetadataField {
            claim,
            field: target,
            required: field.required.unwrap_or(false),
        });
    }
    let config = CustomTokenConfig {
        algorithms,
        key: key_source,
        audience,
        issuer: raw.issuer.filter(|i| !i.is_empty()),
        leeway: duration(&format!("{key}.leeway"), raw.leeway, "60s")?,
        metadata,
    };
    // A key file that holds no usable key stops start-up here, not at the first login.
    let source = match config.key {
        CustomTokenKey::Secret(_) | CustomTokenKey::Pem(_) => Some("key_file"),
        CustomTokenKey::JwksFile(_) => Some("jwks_file"),
        CustomTokenKey::JwksUrl(_) => None,
    };
    if let Some(source) = source {
        crate::auth::custom_token::check_keys(&config)
            .map_err(|reason| ConfigError::new(format!("{key}.{source}"), reason))?;
    }
    Ok(Some(config))
}

fn validate_custom_function(
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

fn readable(key: &str, path: &str) -> Result<(), ConfigError> {
    std::fs::metadata(path)
        .map(|_| ())
        .map_err(|err| ConfigError::new(key, format!("cannot read {path}: {err}")))
}

fn http_url(key: &str, text: &str) -> Result<Url, ConfigError> {
    super::url(key, text)
}
