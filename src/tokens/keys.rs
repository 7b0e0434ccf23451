//! Signing keys: the configured key, or HMAC keys generated on first start and kept in the
//! store so every replica signs and verifies with the same set.
//!
//! Rotation adds a key that starts signing only after `KEY_PROPAGATION`, so every replica has
//! loaded it (reloads run every few seconds) before any token signed with it exists. Old keys
//! keep verifying until the last token they signed has expired, then drop out of the set.
//! Retirement (`retire`: a compromised key) removes a key from the store at once.

mod pem;

use std::collections::HashMap;
use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Validation};
use sha2::{Digest, Sha256};

use self::pem::pem_key;
#[cfg(test)]
pub use self::pem::pem_key_for_tests;
use super::signer::Signer;
use crate::config::{SigningAlgorithm, SigningKeySource, TokensConfig};
use crate::ids;
use crate::store::{SigningKeyRecord, Store, StoreError};

/// How far in the future a rotated key starts signing.
pub const KEY_PROPAGATION: Duration = Duration::from_secs(15);

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("tokens.signing_key_file: {0}")]
    BadKey(String),
    /// Rotation was asked for a key that comes from configuration.
    #[error("the signing key is configured, not generated: rotate it in the configuration")]
    Configured,
    /// Retirement named a key the store does not hold.
    #[error("no signing key {0}")]
    NotFound(String),
    /// Retirement named the key that signs now, and no newer key would take over.
    #[error("key {0} signs now and no newer key would take over: rotate first, then retire it")]
    StillSigning(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One key: its id, when it starts signing, and the halves that sign and verify.
pub struct SigningKey {
    pub kid: String,
    pub active_from: i64,
    pub encoding: Signer,
    pub decoding: DecodingKey,
}

/// Every key that verifies, ordered by `active_from`, and the pinned validation rules.
pub struct SigningKeySet {
    algorithm: Algorithm,
    keys: Vec<SigningKey>,
    by_kid: HashMap<String, usize>,
    validation: Validation,
}

impl SigningKeySet {
    /// Builds a key set. The newest key whose `active_from` has come signs.
    pub fn new(algorithm: SigningAlgorithm, mut keys: Vec<SigningKey>) -> Self {
        assert!(!keys.is_empty(), "a key set has at least one key");
        keys.sort_by_key(|k| k.active_from);
        let algorithm = jwt_algorithm(algorithm);
        let mut validation = Validation::new(algorithm);
        validation.leeway = 0;
        // `exp`, `iat` and `nbf` are checked against the caller's clock in `access::verify`.
        validation.validate_exp = false;
        validation.validate_aud = false;
        validation.set_required_spec_claims(&["exp", "iat", "sub", "iss"]);
        let by_kid = keys
            .iter()
            .enumerate()
            .map(|(i, k)| (k.kid.clone(), i))
            .collect();
        Self {
            algorithm,
            keys,
            by_kid,
            validation,
        }
    }

    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The key that signs at `now`: the newest already active, else the oldest.
    pub fn signing_key(&self, now: i64) -> &SigningKey {
        self.keys
            .iter()
            .rev()
            .find(|k| k.active_from <= now)
            .unwrap_or(&self.keys[0])
    }

    pub fn find(&self, kid: &str) -> Option<&SigningKey> {
        self.by_kid.get(kid).map(|&i| &self.keys[i])
    }

    pub fn kids(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().map(|k| k.kid.as_str())
    }

    pub fn validation(&self) -> &Validation {
        &self.validation
    }

    /// An HMAC key set from a secret; the `kid` is derived from the secret's digest.
    pub fn from_secret(algorithm: SigningAlgorithm, secret: &[u8]) -> Self {
        Self::new(algorithm, vec![hmac_key(derive_kid(secret), 0, secret)])
    }
}

/// Loads the keys the config names, or the store's generated keys (creating one on first start).
pub async fn load(config: &TokensConfig, store: &dyn Store) -> Result<SigningKeySet, KeyError> {
    match &config.signing_key {
        Some(SigningKeySource::Secret(secret)) => Ok(SigningKeySet::from_secret(
            config.algorithm,
            secret.expose(),
        )),
        Some(SigningKeySource::KeyPair {
            private_pem,
            public_pem,
        }) => {
            let key = pem_key(config.algorithm, private_pem.expose(), public_pem)?;
            Ok(SigningKeySet::new(config.algorithm, vec![key]))
        }
        None => {
            let mut records = stored(config.algorithm, store).await?;
            if records.is_empty() {
                insert_generated(config.algorithm, store, ids::now()).await?;
                // Another replica may have inserted its own key at the same moment; everyone
                // signs with the newest active one and verifies with all of them.
                records = stored(config.algorithm, store).await?;
            }
            Ok(from_records(
                config.algorithm,
                records,
                ids::now(),
                config.access_ttl,
            ))
        }
    }
}

/// Checks, without a store, that a configured key pair is usable (`config check`); the
/// store's generated keys and a configured secret need nothing more than `config::load`.
pub fn check_configured(config: &TokensConfig) -> Result<(), KeyError> {
    if let Some(SigningKeySource::KeyPair {
        private_pem,
        public_pem,
    }) = &config.signing_key
    {
        pem_key(config.algorithm, private_pem.expose(), public_pem)?;
    }
    Ok(())
}

/// Adds a generated key that starts signing after `KEY_PROPAGATION`; returns its `kid`.
pub async fn rotate(config: &TokensConfig, store: &dyn Store) -> Result<String, KeyError> {
    if config.signing_key.is_some() {
        return Err(KeyError::Configured);
    }
    let active_from =
        ids::now().saturating_add(i64::try_from(KEY_PROPAGATION.as_secs()).unwrap_or(0));
    insert_generated(config.algorithm, store, active_from).await
}

/// Removes `kid` from the store's keys at once (a compromised key); other replicas are woken
/// to reload (`Store::delete_signing_key`). The caller reloads this replica's keys.
///
/// # Security
/// Refused for the key that signs now unless a newer key (rotated, perhaps not yet active)
/// remains to take over: otherwise the gateway would fall back to an older, superseded key
/// or have none. A key that is not signing yet, or already superseded, may always go (as long
/// as one key remains). Tokens of the retired key are refused as soon as a replica has
/// reloaded; cached ones are evicted by `Tokens::replace_keys`.
pub async fn retire(
    config: &TokensConfig,
    store: &dyn Store,
    kid: &str,
    now: i64,
) -> Result<(), KeyError> {
    if config.signing_key.is_some() {
        return Err(KeyError::Configured);
    }
    let records = stored(config.algorithm, store).await?;
    let retired = records
        .iter()
        .find(|r| r.kid == kid)
        .ok_or_else(|| KeyError::NotFound(kid.to_owned()))?;
    let successor = records
        .iter()
        .any(|r| r.kid != kid && r.active_from > retired.active_from);
    let others = records.iter().any(|r| r.kid != kid);
    if !others || (retired.active_from <= now && !successor) {
        return Err(KeyError::StillSigning(kid.to_owned()));
    }
    if !store.delete_signing_key(kid).await? {
        return Err(KeyError::NotFound(kid.to_owned()));
    }
    Ok(())
}

async fn stored(
    algorithm: SigningAlgorithm,
    store: &dyn Store,
) -> Result<Vec<SigningKeyRecord>, StoreError> {
    let name = format!("{algorithm:?}");
    Ok(store
        .signing_keys()
        .await?
        .into_iter()
        .filter(|k| k.algorithm == name)
        .collect())
}

async fn insert_generated(
    algorithm: SigningAlgorithm,
    store: &dyn Store,
    active_from: i64,
) -> Result<String, KeyError> {
    let secret: [u8; 64] = ids::random_bytes();
    let record = SigningKeyRecord {
        kid: ids::object_id(),
        algorithm: format!("{algorithm:?}"),
        secret: secret.to_vec(),
        created_at: ids::now(),
        active_from,
    };
    store.insert_signing_key(&record).await?;
    Ok(record.kid)
}

/// The verifying set: every key except those superseded so long ago that no token they signed
/// can still be valid.
fn from_records(
    algorithm: SigningAlgorithm,
    records: Vec<SigningKeyRecord>,
    now: i64,
    access_ttl: Duration,
) -> SigningKeySet {
    let ttl = i64::try_from(access_ttl.as_secs())
        .unwrap_or(i64::MAX / 2)
        .saturating_add(60);
    let activations: Vec<i64> = records.iter().map(|r| r.active_from).collect();
    let keys = records
        .iter()
        .enumerate()
        .filter(|&(i, _)| {
            // Superseded when the next key became active; kept while its tokens may live.
            activations
                .get(i + 1)
                .is_none_or(|&next| next > now || next.saturating_add(ttl) > now)
        })
        .map(|(_, r)| hmac_key(r.kid.clone(), r.active_from, &r.secret))
        .collect();
    SigningKeySet::new(algorithm, keys)
}

/// Re-reads generated keys from the store (rotation by another replica). `None` when the keys
/// come from configuration.
pub async fn reload(
    config: &TokensConfig,
    store: &dyn Store,
) -> Result<Option<SigningKeySet>, KeyError> {
    if config.signing_key.is_some() {
        return Ok(None);
    }
    let records = stored(config.algorithm, store).await?;
    if records.is_empty() {
        return Ok(None);
    }
    Ok(Some(from_records(
        config.algorithm,
        records,
        ids::now(),
        config.access_ttl,
    )))
}

fn hmac_key(kid: String, active_from: i64, secret: &[u8]) -> SigningKey {
    SigningKey {
        kid,
        active_from,
        encoding: EncodingKey::from_secret(secret).into(),
        decoding: DecodingKey::from_secret(secret),
    }
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

#[cfg(test)]
mod tests;
