//! `[providers.custom_token]`: accepted algorithms, the key source, audience, issuer and the
//! claims copied into user data; and their validation, which loads the keys once.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use url::Url;

use super::super::fields::{duration, ser_duration};
use super::super::raw::RawCustomToken;
use super::super::{ConfigError, Secret};
use super::http_url;

mod jwk_set;
mod keys;

pub use jwk_set::{JwkSet, KeyMiss};
pub use keys::{ConfiguredKeys, key_family};

/// Where the keys that verify external JWTs come from.
#[derive(Debug, Clone, Serialize)]
pub enum CustomTokenKey {
    /// HMAC secret (HS256/384/512), read from `key_file`.
    Secret(Secret),
    /// PEM public key (RS256, ES256, EdDSA, …), read from `key_file`.
    Pem(PathBuf),
    /// A JWKS document on disk, read at start.
    JwksFile(PathBuf),
    /// A JWKS URL: fetched at the first login, cached, re-fetched (rate-limited) on an unknown
    /// `kid`.
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
    /// The keys of `key` as validation loaded them (files are read once); the provider
    /// verifies with these. Not printed.
    #[serde(skip)]
    pub keys: Arc<ConfiguredKeys>,
    /// The token's `aud` must contain one of these.
    pub audience: Vec<String>,
    /// When set, the token's `iss` must equal it.
    pub issuer: Option<String>,
    /// Clock skew allowed on `exp` and `nbf`.
    #[serde(serialize_with = "ser_duration")]
    pub leeway: Duration,
    pub metadata: Vec<MetadataField>,
}

const ALGORITHMS: &[&str] = &[
    "HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256",
    "ES384", "EdDSA",
];

pub(super) fn validate(raw: RawCustomToken) -> Result<Option<CustomTokenConfig>, ConfigError> {
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
    let issuer = raw.issuer.filter(|i| !i.is_empty());
    let leeway = duration(&format!("{key}.leeway"), raw.leeway, "60s")?;
    // A key file that holds no usable key stops start-up here, not at the first login; the
    // provider verifies with what is loaded here.
    let source = match key_source {
        CustomTokenKey::Secret(_) | CustomTokenKey::Pem(_) => "key_file",
        CustomTokenKey::JwksFile(_) => "jwks_file",
        CustomTokenKey::JwksUrl(_) => "jwks_url",
    };
    let keys = ConfiguredKeys::load(&algorithms, &key_source)
        .map_err(|reason| ConfigError::new(format!("{key}.{source}"), reason))?;
    Ok(Some(CustomTokenConfig {
        algorithms,
        key: key_source,
        keys: Arc::new(keys),
        audience,
        issuer,
        leeway,
        metadata,
    }))
}

fn readable(key: &str, path: &str) -> Result<(), ConfigError> {
    std::fs::metadata(path)
        .map(|_| ())
        .map_err(|err| ConfigError::new(key, format!("cannot read {path}: {err}")))
}
