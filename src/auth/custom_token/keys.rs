//! `Keys`: the keys that verify custom tokens, by source — a fixed key per algorithm family
//! (an HMAC secret or a PEM public key), a JWKS file read at start, or a JWKS URL fetched on
//! first use and cached. Files are read once, by config validation (`config::ConfiguredKeys`);
//! a JWKS document's keys are a `config::JwkSet`; a JWKS URL is a `RemoteJwks` (`remote`).
//!
//! JWKS URL policy: the set is fetched at the first login, kept for `MAX_AGE` (then the next
//! login fetches it again, and keeps the old set if that fails), and fetched again when a
//! token names an unknown `kid` — at most once per `KID_REFETCH_INTERVAL`, whatever the
//! tokens ask. A successful fetch replaces the whole set: a key the issuer removed stops
//! verifying. Fetches are serialized; logins that waited use what the fetch brought.
//!
//! # Security
//!
//! Keys come from configuration only. A token's `jku`, `jwk`, `x5u` and `x5c` headers are
//! never read, so a token cannot name the key (or the URL of the key) that verifies it. A key
//! verifies only algorithms of its own family, and only its JWK `alg` when it states one.
//!
//! Does not check claims; `custom_token` does.

mod remote;

use std::sync::Arc;

use jsonwebtoken::{Algorithm, DecodingKey};

pub use remote::RemoteJwks;

use super::Refusal;
use crate::config::{ConfiguredKeys, JwkSet, key_family as family};
use crate::outbound::Fetcher;

/// The provider's verification keys.
pub enum Keys {
    /// One key per algorithm family: an HMAC secret, or a PEM public key.
    Fixed(Vec<DecodingKey>),
    /// A JWKS file, read at start.
    Set(Arc<JwkSet>),
    /// A JWKS URL.
    Remote(Box<RemoteJwks>),
}

impl Keys {
    /// The keys config validation loaded; a JWKS URL is fetched with `fetcher` at the first
    /// login.
    pub fn new(configured: &ConfiguredKeys, fetcher: Fetcher) -> Self {
        match configured {
            ConfiguredKeys::Fixed(keys) => Keys::Fixed(keys.clone()),
            ConfiguredKeys::Set(set) => Keys::Set(set.clone()),
            ConfiguredKeys::Url(url) => {
                Keys::Remote(Box::new(RemoteJwks::new(url.clone(), fetcher)))
            }
        }
    }

    /// The key that verifies a token of `alg` naming `kid`.
    pub async fn select(&self, alg: Algorithm, kid: Option<&str>) -> Result<DecodingKey, Refusal> {
        match self {
            Keys::Fixed(keys) => keys
                .iter()
                .find(|k| k.family() == family(alg))
                .cloned()
                .ok_or(Refusal::Algorithm),
            Keys::Set(set) => Ok(set.select(alg, kid)?),
            Keys::Remote(remote) => remote.select(alg, kid).await,
        }
    }
}

#[cfg(test)]
mod tests;
