//! `[tokens]`: access and refresh token lifetimes, the signing algorithm and key source, the
//! verified-token cache and refresh rotation; and their validation.

use std::path::Path;
use std::time::Duration;

use serde::Serialize;

use super::fields::{duration, ser_duration, ser_text};
use super::{ConfigError, Secret, format_duration, raw, secret};

/// App Services bounds for the refresh token lifetime: 30 minutes ..= 180 days.
pub const REFRESH_TTL_MIN: Duration = Duration::from_secs(1_800);
pub const REFRESH_TTL_MAX: Duration = Duration::from_secs(15_552_000);

/// Longest `tokens.rotation_grace`.
const ROTATION_GRACE_MAX: Duration = Duration::from_secs(60);

/// Which JWT algorithm signs and verifies access tokens. Pinned: a token's own `alg` header
/// never chooses it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum SigningAlgorithm {
    HS256,
    HS384,
    HS512,
    RS256,
    ES256,
    EdDSA,
}

impl SigningAlgorithm {
    pub fn is_symmetric(self) -> bool {
        matches!(self, Self::HS256 | Self::HS384 | Self::HS512)
    }

    fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "HS256" => Self::HS256,
            "HS384" => Self::HS384,
            "HS512" => Self::HS512,
            "RS256" => Self::RS256,
            "ES256" => Self::ES256,
            "EdDSA" => Self::EdDSA,
            _ => return None,
        })
    }
}

/// Where the signing key comes from when it is not generated and kept in the store.
#[derive(Debug, Clone, Serialize)]
pub enum SigningKeySource {
    /// An HMAC secret (file or `SESSIONGATE_TOKENS__SIGNING_KEY`).
    Secret(Secret),
    /// A PEM private key and the matching PEM public key.
    KeyPair {
        private_pem: Secret,
        #[serde(serialize_with = "ser_text")]
        public_pem: Vec<u8>,
    },
}

#[derive(Debug, Clone, Serialize)]
pub struct TokensConfig {
    #[serde(serialize_with = "ser_duration")]
    pub access_ttl: Duration,
    #[serde(serialize_with = "ser_duration")]
    pub refresh_ttl: Duration,
    #[serde(serialize_with = "ser_duration")]
    pub anon_user_ttl: Duration,
    pub algorithm: SigningAlgorithm,
    /// `None`: an HMAC key is generated on first start and kept in the store.
    pub signing_key: Option<SigningKeySource>,
    pub cache_capacity: u64,
    /// Every refresh returns a new refresh token; reuse of a rotated-out one is theft.
    pub rotate_refresh_tokens: bool,
    /// How long a rotated-out refresh token still gets its successor (concurrent refreshes).
    #[serde(serialize_with = "ser_duration")]
    pub rotation_grace: Duration,
}

pub(super) fn validate(raw: raw::RawTokens) -> Result<TokensConfig, ConfigError> {
    let access_ttl = duration("tokens.access_ttl", raw.access_ttl, "30m")?;
    if access_ttl < Duration::from_secs(1) || access_ttl > Duration::from_secs(86_400) {
        return Err(ConfigError::new(
            "tokens.access_ttl",
            "must be between 1s and 24h",
        ));
    }
    let refresh_ttl = duration("tokens.refresh_ttl", raw.refresh_ttl, "60d")?;
    if refresh_ttl < REFRESH_TTL_MIN {
        return Err(ConfigError::new(
            "tokens.refresh_ttl",
            format!("{} is below the minimum 30m", format_duration(refresh_ttl)),
        ));
    }
    if refresh_ttl > REFRESH_TTL_MAX {
        return Err(ConfigError::new(
            "tokens.refresh_ttl",
            format!("{} is above the maximum 180d", format_duration(refresh_ttl)),
        ));
    }
    let anon_user_ttl = duration("tokens.anon_user_ttl", raw.anon_user_ttl, "90d")?;
    let algorithm_text = raw.algorithm.unwrap_or_else(|| "HS256".to_owned());
    let algorithm = SigningAlgorithm::parse(&algorithm_text).ok_or_else(|| {
        ConfigError::new(
            "tokens.algorithm",
            format!("{algorithm_text:?}: expected HS256, HS384, HS512, RS256, ES256 or EdDSA"),
        )
    })?;
    let signing_key = signing_key(
        algorithm,
        raw.signing_key,
        raw.signing_key_file,
        raw.verifying_key_file,
    )?;
    let cache_capacity = raw.cache_capacity.unwrap_or(100_000);
    if cache_capacity == 0 {
        return Err(ConfigError::new(
            "tokens.cache_capacity",
            "must be at least 1",
        ));
    }
    let rotation_grace = duration("tokens.rotation_grace", raw.rotation_grace, "5s")?;
    if rotation_grace > ROTATION_GRACE_MAX {
        return Err(ConfigError::new(
            "tokens.rotation_grace",
            "must be at most 1m (a rotated-out token is a stolen one after it)",
        ));
    }
    Ok(TokensConfig {
        access_ttl,
        refresh_ttl,
        anon_user_ttl,
        algorithm,
        signing_key,
        cache_capacity,
        rotate_refresh_tokens: raw.rotate_refresh_tokens.unwrap_or(false),
        rotation_grace,
    })
}

fn signing_key(
    algorithm: SigningAlgorithm,
    env_secret: Option<String>,
    file: Option<String>,
    verifying_file: Option<String>,
) -> Result<Option<SigningKeySource>, ConfigError> {
    let (private, source) = match (env_secret, file) {
        (Some(secret), _) if !secret.trim().is_empty() => {
            (Some(Secret::new(secret.trim())), "tokens.signing_key")
        }
        (_, Some(path)) => (
            Some(
                Secret::from_file(Path::new(&path))
                    .map_err(|reason| ConfigError::new("tokens.signing_key_file", reason))?,
            ),
            "tokens.signing_key_file",
        ),
        _ => (None, "tokens.signing_key_file"),
    };
    if algorithm.is_symmetric() {
        if let Some(secret) = &private {
            secret::check_hmac_secret(secret.expose()).map_err(|reason| {
                ConfigError::new(
                    source,
                    format!("not usable as a {algorithm:?} secret: {reason}"),
                )
            })?;
        }
        return Ok(private.map(SigningKeySource::Secret));
    }
    let private_pem = private.ok_or_else(|| {
        ConfigError::new(
            "tokens.signing_key_file",
            format!("is required with algorithm {algorithm:?} (a PEM private key)"),
        )
    })?;
    let path = verifying_file.ok_or_else(|| {
        ConfigError::new(
            "tokens.verifying_key_file",
            format!("is required with algorithm {algorithm:?} (a PEM public key)"),
        )
    })?;
    let public_pem = std::fs::read(&path).map_err(|err| {
        ConfigError::new(
            "tokens.verifying_key_file",
            format!("cannot read {path}: {err}"),
        )
    })?;
    Ok(Some(SigningKeySource::KeyPair {
        private_pem,
        public_pem,
    }))
}
