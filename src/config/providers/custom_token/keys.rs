//! `ConfiguredKeys`: the keys as configuration names them, loaded once by config validation —
//! an HMAC secret or a PEM public key (one key per algorithm family), a JWKS file, or the
//! JWKS URL parsed for the client that will fetch it.

use std::str::FromStr;
use std::sync::Arc;

use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey};

use super::CustomTokenKey;
use super::jwk_set::JwkSet;

/// What `ConfiguredKeys::load` read; the provider builds its `Keys` from it without reading
/// anything again. Its `Debug` shows no key material.
pub enum ConfiguredKeys {
    /// One key per algorithm family: an HMAC secret, or a PEM public key.
    Fixed(Vec<DecodingKey>),
    /// A JWKS file's keys.
    Set(Arc<JwkSet>),
    /// A JWKS URL, fetched at the first login.
    Url(http::Uri),
}

impl ConfiguredKeys {
    /// Reads and parses the key file or JWKS file of `key` (a PEM key once per family of
    /// `algorithms`); a JWKS URL is only parsed, not fetched.
    pub fn load(algorithms: &[String], key: &CustomTokenKey) -> Result<Self, String> {
        match key {
            CustomTokenKey::Secret(secret) => {
                Ok(Self::Fixed(vec![DecodingKey::from_secret(secret.expose())]))
            }
            CustomTokenKey::Pem(path) => {
                let pem = std::fs::read(path)
                    .map_err(|err| format!("cannot read {}: {err}", path.display()))?;
                let mut keys: Vec<DecodingKey> = Vec::new();
                for family in algorithms.iter().filter_map(|a| family_of_name(a)) {
                    if keys.iter().any(|k| k.family() == family) {
                        continue;
                    }
                    let key = match family {
                        AlgorithmFamily::Rsa => DecodingKey::from_rsa_pem(&pem),
                        AlgorithmFamily::Ec => DecodingKey::from_ec_pem(&pem),
                        AlgorithmFamily::Ed => DecodingKey::from_ed_pem(&pem),
                        AlgorithmFamily::Hmac => continue,
                    }
                    .map_err(|_| {
                        format!(
                            "{} is not a {} public key in PEM",
                            path.display(),
                            family_label(family)
                        )
                    })?;
                    keys.push(key);
                }
                Ok(Self::Fixed(keys))
            }
            CustomTokenKey::JwksFile(path) => {
                let text = std::fs::read(path)
                    .map_err(|err| format!("cannot read {}: {err}", path.display()))?;
                let set = JwkSet::parse(&text).map_err(|r| format!("{}: {r}", path.display()))?;
                Ok(Self::Set(Arc::new(set)))
            }
            CustomTokenKey::JwksUrl(url) => jwks_url(url).map(Self::Url),
        }
    }
}

impl std::fmt::Debug for ConfiguredKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Fixed(keys) => f.debug_tuple("Fixed").field(&keys.len()).finish(),
            Self::Set(set) => f.debug_tuple("Set").field(set).finish(),
            Self::Url(url) => f.debug_tuple("Url").field(url).finish(),
        }
    }
}

/// The JWKS URL as the client takes it.
fn jwks_url(url: &url::Url) -> Result<http::Uri, String> {
    url.as_str()
        .parse()
        .map_err(|err| format!("invalid URL {url}: {err}"))
}

fn family_of_name(name: &str) -> Option<AlgorithmFamily> {
    Algorithm::from_str(name).ok().map(key_family)
}

fn family_label(family: AlgorithmFamily) -> &'static str {
    match family {
        AlgorithmFamily::Hmac => "HMAC",
        AlgorithmFamily::Rsa => "RSA",
        AlgorithmFamily::Ec => "EC",
        AlgorithmFamily::Ed => "Ed25519",
    }
}

/// The family of an algorithm (jsonwebtoken keeps its own mapping private).
pub fn key_family(alg: Algorithm) -> AlgorithmFamily {
    match alg {
        Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => AlgorithmFamily::Hmac,
        Algorithm::ES256 | Algorithm::ES384 => AlgorithmFamily::Ec,
        Algorithm::EdDSA => AlgorithmFamily::Ed,
        Algorithm::RS256
        | Algorithm::RS384
        | Algorithm::RS512
        | Algorithm::PS256
        | Algorithm::PS384
        | Algorithm::PS512 => AlgorithmFamily::Rsa,
    }
}
