//! `JwkSet`: the verification keys of a JWKS document (file or URL), and which of them
//! verifies a token of a given `alg` and `kid`.

use std::str::FromStr;

use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::Deserialize;

use super::keys::key_family as family;

/// Verification keys of a JWKS document.
#[derive(Debug)]
pub struct JwkSet {
    keys: Vec<SetKey>,
}

struct SetKey {
    kid: Option<String>,
    /// The JWK's `alg`, when it states one.
    alg: Option<Algorithm>,
    key: DecodingKey,
}

impl std::fmt::Debug for SetKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SetKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

impl SetKey {
    fn fits(&self, alg: Algorithm) -> bool {
        self.key.family() == family(alg) && self.alg.is_none_or(|own| own == alg)
    }
}

/// Why a `JwkSet` has no key for a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyMiss {
    /// No key of that `kid` (or, without one, not exactly one key for the algorithm).
    UnknownKey,
    /// The named key does not serve the token's algorithm.
    Algorithm,
}

#[derive(Deserialize)]
struct RawSet {
    keys: Vec<serde_json::Value>,
}

impl JwkSet {
    /// Reads a JWKS document, keeping the public signature keys it can use (RSA, EC,
    /// Ed25519) and skipping the rest (encryption keys, symmetric keys, unknown types).
    /// A document without one usable key is an error.
    pub fn parse(bytes: &[u8]) -> Result<Self, String> {
        let raw: RawSet =
            serde_json::from_slice(bytes).map_err(|err| format!("not a JWKS document: {err}"))?;
        let keys: Vec<SetKey> = raw.keys.into_iter().filter_map(usable_key).collect();
        if keys.is_empty() {
            return Err("no usable signature key in the JWKS".to_owned());
        }
        Ok(Self { keys })
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Never true for a parsed set (`parse` refuses one without a usable key).
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// With a `kid`: the key of that id (`UnknownKey` if none, `Algorithm` if it does not
    /// serve `alg`). Without: the one key that serves `alg`, if there is exactly one.
    pub fn select(&self, alg: Algorithm, kid: Option<&str>) -> Result<DecodingKey, KeyMiss> {
        let found = match kid {
            Some(kid) => {
                let mut named = self
                    .keys
                    .iter()
                    .filter(|k| k.kid.as_deref() == Some(kid))
                    .peekable();
                if named.peek().is_none() {
                    return Err(KeyMiss::UnknownKey);
                }
                named.find(|k| k.fits(alg)).ok_or(KeyMiss::Algorithm)?
            }
            None => {
                let mut fitting = self.keys.iter().filter(|k| k.fits(alg));
                match (fitting.next(), fitting.next()) {
                    (Some(only), None) => only,
                    _ => return Err(KeyMiss::UnknownKey),
                }
            }
        };
        Ok(found.key.clone())
    }
}

fn usable_key(value: serde_json::Value) -> Option<SetKey> {
    let jwk: Jwk = serde_json::from_value(value).ok()?;
    if matches!(
        jwk.common.public_key_use,
        Some(PublicKeyUse::Encryption | PublicKeyUse::Other(_))
    ) || matches!(jwk.algorithm, AlgorithmParameters::OctetKey(_))
    {
        return None;
    }
    let alg = match jwk.common.key_algorithm {
        // A stated alg that is not a signature algorithm (RSA-OAEP, unknown): not ours.
        Some(stated) => Some(Algorithm::from_str(&stated.to_string()).ok()?),
        None => None,
    };
    let key = DecodingKey::from_jwk(&jwk).ok()?;
    Some(SetKey {
        kid: jwk.common.key_id,
        alg,
        key,
    })
}
