//! Signing keys: the configured key, or HMAC keys generated on first start and kept in the
//! store so every replica signs and verifies with the same set.
//!
//! Does not rotate keys on a schedule.

use std::collections::HashMap;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Validation};
use sha2::{Digest, Sha256};

use crate::config::{SigningAlgorithm, SigningKeySource, TokensConfig};
use crate::ids;
use crate::store::{SigningKeyRecord, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("tokens.signing_key_file: {0}")]
    BadKey(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One key: its id, and the halves that sign and verify.
pub struct SigningKey {
    pub kid: String,
    pub encoding: EncodingKey,
    pub decoding: DecodingKey,
}

/// Every key that verifies, the one that signs, and the pinned validation rules.
pub struct KeySet {
    algorithm: Algorithm,
    active: usize,
    keys: Vec<SigningKey>,
    by_kid: HashMap<String, usize>,
    validation: Validation,
}

impl KeySet {
    /// Builds a key set from keys, the last being the one that signs.
    pub fn new(algorithm: SigningAlgorithm, keys: Vec<SigningKey>) -> Self {
        assert!(!keys.is_empty(), "a key set has at least one key");
        let algorithm = jwt_algorithm(algorithm);
        let mut validation = Validation::new(algorithm);
        validation.leeway = 0;
        validation.validate_aud = false;
        validation.set_required_spec_claims(&["exp", "iat", "sub", "iss"]);
        let by_kid = keys
            .iter()
            .enumerate()
            .map(|(i, k)| (k.kid.clone(), i))
            .collect();
        Self {
            algorithm,
            active: keys.len() - 1,
            keys,
            by_kid,
            validation,
        }
    }

    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    pub fn active(&self) -> &SigningKey {
        &self.keys[self.active]
    }

    pub fn find(&self, kid: &str) -> Option<&SigningKey> {
        self.by_kid.get(kid).map(|&i| &self.keys[i])
    }

    pub fn validation(&self) -> &Validation {
        &self.validation
    }

    /// An HMAC key set from a secret; the `kid` is derived from the secret's digest.
    pub fn from_secret(algorithm: SigningAlgorithm, secret: &[u8]) -> Self {
        let kid = derive_kid(secret);
        Self::new(algorithm, vec![hmac_key(kid, secret)])
    }
}

/// Loads the keys the config names, or the store's generated keys (creating one on first start).
pub async fn load(config: &TokensConfig, store: &dyn Store) -> Result<KeySet, KeyError> {
    match &config.signing_key {
        Some(SigningKeySource::Secret(secret)) => {
            Ok(KeySet::from_secret(config.algorithm, secret.expose()))
        }
        Some(SigningKeySource::KeyPair {
            private_pem,
            public_pem,
        }) => {
            let key = pem_key(config.algorithm, private_pem.expose(), public_pem)?;
            Ok(KeySet::new(config.algorithm, vec![key]))
        }
        None => load_generated(config.algorithm, store).await,
    }
}

async fn load_generated(
    algorithm: SigningAlgorithm,
    store: &dyn Store,
) -> Result<KeySet, KeyError> {
    let name = format!("{algorithm:?}");
    let mut records: Vec<SigningKeyRecord> = store
        .signing_keys()
        .await?
        .into_iter()
        .filter(|k| k.algorithm == name)
        .collect();
    if records.is_empty() {
        let secret: [u8; 64] = ids::random_bytes();
        let record = SigningKeyRecord {
            kid: ids::object_id(),
            algorithm: name.clone(),
            secret: secret.to_vec(),
            created_at: ids::now(),
        };
        store.insert_signing_key(&record).await?;
        // Another replica may have inserted its own key at the same moment; everyone signs
        // with the newest of the stored keys and verifies with all of them.
        records = store
            .signing_keys()
            .await?
            .into_iter()
            .filter(|k| k.algorithm == name)
            .collect();
    }
    let keys = records
        .into_iter()
        .map(|r| hmac_key(r.kid, &r.secret))
        .collect();
    Ok(KeySet::new(algorithm, keys))
}

fn hmac_key(kid: String, secret: &[u8]) -> SigningKey {
    SigningKey {
        kid,
        encoding: EncodingKey::from_secret(secret),
        decoding: DecodingKey::from_secret(secret),
    }
}

fn pem_key(
    algorithm: SigningAlgorithm,
    private_pem: &[u8],
    public_pem: &[u8],
) -> Result<SigningKey, KeyError> {
    let bad = |err: jsonwebtoken::errors::Error| {
        KeyError::BadKey(format!("not a usable {algorithm:?} PEM key: {err}"))
    };
    let (encoding, decoding) = match algorithm {
        SigningAlgorithm::RS256 => (
            EncodingKey::from_rsa_pem(private_pem).map_err(bad)?,
            DecodingKey::from_rsa_pem(public_pem).map_err(bad)?,
        ),
        SigningAlgorithm::ES256 => (
            EncodingKey::from_ec_pem(private_pem).map_err(bad)?,
            DecodingKey::from_ec_pem(public_pem).map_err(bad)?,
        ),
        SigningAlgorithm::EdDSA => (
            EncodingKey::from_ed_pem(private_pem).map_err(bad)?,
            DecodingKey::from_ed_pem(public_pem).map_err(bad)?,
        ),
        SigningAlgorithm::HS256 | SigningAlgorithm::HS384 | SigningAlgorithm::HS512 => {
            return Err(KeyError::BadKey(
                "HMAC algorithms take a secret, not a PEM key pair".to_owned(),
            ));
        }
    };
    Ok(SigningKey {
        kid: derive_kid(public_pem),
        encoding,
        decoding,
    })
}

/// A key id derived from key material: stable across restarts and replicas, reveals nothing.
fn derive_kid(material: &[u8]) -> String {
    let digest = Sha256::new()
        .chain_update(b"sessiongate kid\0")
        .chain_update(material)
        .finalize();
    hex::encode(&digest[..12])
}

fn jwt_algorithm(algorithm: SigningAlgorithm) -> Algorithm {
    match algorithm {
        SigningAlgorithm::HS256 => Algorithm::HS256,
        SigningAlgorithm::HS384 => Algorithm::HS384,
        SigningAlgorithm::HS512 => Algorithm::HS512,
        SigningAlgorithm::RS256 => Algorithm::RS256,
        SigningAlgorithm::ES256 => Algorithm::ES256,
        SigningAlgorithm::EdDSA => Algorithm::EdDSA,
    }
}

/// Builds a key from PEM halves (tests of other modules).
#[cfg(test)]
pub fn pem_key_for_tests(
    algorithm: SigningAlgorithm,
    private_pem: &[u8],
    public_pem: &[u8],
) -> SigningKey {
    pem_key(algorithm, private_pem, public_pem).expect("test fixture keys are valid")
}
