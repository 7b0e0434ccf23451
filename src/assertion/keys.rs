//! Assertion signing keys: ES256 (P-256) key pairs the gateway generates and keeps in the
//! store (the `signing_keys` table, algorithm `assertion:ES256`), so that every replica signs
//! with keys every replica publishes on `/.well-known/jwks.json`.
//!
//! Rotation overlap: a rotated key is published at once but signs only `KEY_LEAD` later, longer
//! than a verifier may cache the JWKS (`JWKS_MAX_AGE`) plus a replica's key reload; a
//! superseded key stays published for `RETAIN` (the longest assertion lifetime plus the clock
//! leeway) after its successor took over, then leaves the store.
//!
//! Does not build assertions (`assertion` does) and never hands out a private key: only the
//! JWKS (public halves) and key ids leave this module.
//!
//! # Security
//! The private keys live in the store like the generated access-token keys: whoever can read
//! the store can sign assertions. They never reach a log line (`AssertionKey` has no `Debug`
//! of its key), the config check output or the admin API (ids and times only).

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::config::ASSERTION_TTL_MAX;
use crate::ids;
use crate::store::{SigningKeyRecord, Store, StoreError};
use crate::tokens::CLOCK_LEEWAY;

/// The `signing_keys.algorithm` of assertion keys; the access-token keys never match it.
pub const ALGORITHM_TAG: &str = "assertion:ES256";
/// How long a verifier may cache the JWKS (`Cache-Control: max-age`).
pub const JWKS_MAX_AGE: Duration = Duration::from_secs(60);
/// How long after a rotation the new key starts signing: the JWKS cache age, a replica's key
/// reload (5 s) and clock skew between replicas, with room to spare.
pub const KEY_LEAD: Duration = Duration::from_secs(120);
/// How long a superseded key stays published after its successor started signing.
pub const RETAIN: Duration =
    Duration::from_secs(ASSERTION_TTL_MAX.as_secs() + CLOCK_LEEWAY.as_secs());

/// One key pair: its id, when it signs from, and the precomputed JOSE header part.
pub struct AssertionKey {
    pub kid: String,
    pub active_from: i64,
    pub created_at: i64,
    pair: EcdsaKeyPair,
    /// base64url of `{"alg":"ES256","typ":"JWT","kid":…}`.
    header: String,
}

impl AssertionKey {
    fn from_record(record: &SigningKeyRecord) -> Option<Self> {
        let pair = EcdsaKeyPair::from_pkcs8(
            &ECDSA_P256_SHA256_FIXED_SIGNING,
            &record.secret,
            &SystemRandom::new(),
        )
        .ok()?;
        let header = json!({"alg": "ES256", "typ": "JWT", "kid": record.kid});
        Some(Self {
            kid: record.kid.clone(),
            active_from: record.active_from,
            created_at: record.created_at,
            pair,
            header: URL_SAFE_NO_PAD.encode(header.to_string()),
        })
    }

    /// A compact JWS of `claims` (JSON bytes): `header.claims.signature`, ES256 with the
    /// fixed-size `r || s` signature that JWS requires.
    pub fn sign(&self, claims: &[u8]) -> Result<String, ring::error::Unspecified> {
        let mut token = String::with_capacity(self.header.len() + claims.len() * 4 / 3 + 92);
        token.push_str(&self.header);
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(claims, &mut token);
        let signature = self.pair.sign(&SystemRandom::new(), token.as_bytes())?;
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(signature.as_ref(), &mut token);
        Ok(token)
    }

    /// The public half as a JWK (RFC 7517/7518).
    fn jwk(&self) -> serde_json::Value {
        // An uncompressed P-256 point: 0x04 || x (32 bytes) || y (32 bytes).
        let point = self.pair.public_key().as_ref();
        json!({
            "kty": "EC",
            "crv": "P-256",
            "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
            "y": URL_SAFE_NO_PAD.encode(&point[33..65]),
            "kid": self.kid,
            "use": "sig",
            "alg": "ES256",
        })
    }
}

/// The published keys, ordered by `active_from` (then `kid`, so every replica picks the same
/// signer), and their JWKS document.
pub struct KeySet {
    keys: Vec<AssertionKey>,
    jwks: Bytes,
}

impl KeySet {
    pub fn new(mut keys: Vec<AssertionKey>) -> Self {
        keys.sort_by(|a, b| (a.active_from, &a.kid).cmp(&(b.active_from, &b.kid)));
        let jwks = json!({"keys": keys.iter().map(AssertionKey::jwk).collect::<Vec<_>>()});
        Self {
            keys,
            jwks: Bytes::from(jwks.to_string()),
        }
    }

    /// The key that signs at `now`: the newest already active, else (only right after a
    /// first start raced by a clock step) the oldest; `None` when there are no keys.
    pub fn signing_key(&self, now: i64) -> Option<&AssertionKey> {
        self.keys
            .iter()
            .rev()
            .find(|k| k.active_from <= now)
            .or_else(|| self.keys.first())
    }

    pub fn keys(&self) -> &[AssertionKey] {
        &self.keys
    }

    /// `{"keys": [...]}`: every published public key.
    pub fn jwks(&self) -> Bytes {
        self.jwks.clone()
    }
}

/// The current key set of this process, replaced whole on every reload.
pub struct KeyRing {
    current: ArcSwap<KeySet>,
}

impl Default for KeyRing {
    fn default() -> Self {
        Self {
            current: ArcSwap::from_pointee(KeySet::new(Vec::new())),
        }
    }
}

impl KeyRing {
    pub fn current(&self) -> Arc<KeySet> {
        self.current.load_full()
    }

    pub fn replace(&self, set: KeySet) {
        self.current.store(Arc::new(set));
    }
}

/// Reads the assertion keys from the store and keeps them current: creates the first key on
/// first start, adds a successor once the newest key is `rotation` old (zero: never), and
/// deletes keys superseded for longer than `RETAIN`. Returns the published set.
pub async fn load(store: &dyn Store, rotation: Duration, now: i64) -> Result<KeySet, StoreError> {
    let mut records = stored(store).await?;
    if records.is_empty() {
        // Nobody can have cached a JWKS without it: the first key signs at once.
        insert(store, ids::object_id(), now, now).await?;
        // Another replica may have inserted its own at the same moment: both are published,
        // and every replica signs with the same one (`KeySet` order).
        records = stored(store).await?;
    }
    if let Some(newest) = records.iter().max_by_key(|r| (r.created_at, r.active_from)) {
        let age = now.saturating_sub(newest.created_at);
        if !rotation.is_zero() && age >= secs(rotation) {
            // Replicas rotating at the same moment derive the same kid from the same
            // predecessor: the store keeps the first insert, the others change nothing.
            insert(store, successor_kid(&newest.kid), now, now + secs(KEY_LEAD)).await?;
            records = stored(store).await?;
        }
    }
    let (published, expired) = split_expired(records, now);
    for kid in expired {
        // Best effort: a key left behind is filtered out again at the next reload.
        if let Err(err) = store.delete_signing_key(&kid).await {
            tracing::warn!(kid, error = %err, "expired assertion key not deleted; retrying later");
        }
    }
    let keys = published
        .iter()
        .filter_map(|record| {
            let key = AssertionKey::from_record(record);
            if key.is_none() {
                tracing::error!(
                    kid = record.kid,
                    "stored assertion key is unreadable; skipped"
                );
            }
            key
        })
        .collect();
    Ok(KeySet::new(keys))
}

/// Adds a generated key that is published at once and signs from `KEY_LEAD` on. Returns its
/// `kid` and `active_from`.
pub async fn rotate(store: &dyn Store, now: i64) -> Result<(String, i64), StoreError> {
    let kid = ids::object_id();
    let active_from = now + secs(KEY_LEAD);
    insert(store, kid.clone(), now, active_from).await?;
    Ok((kid, active_from))
}

async fn stored(store: &dyn Store) -> Result<Vec<SigningKeyRecord>, StoreError> {
    Ok(store
        .signing_keys()
        .await?
        .into_iter()
        .filter(|k| k.algorithm == ALGORITHM_TAG)
        .collect())
}

async fn insert(
    store: &dyn Store,
    kid: String,
    created_at: i64,
    active_from: i64,
) -> Result<(), StoreError> {
    let pkcs8 =
        EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
            .expect("the operating system's random source is available");
    store
        .insert_signing_key(&SigningKeyRecord {
            kid,
            algorithm: ALGORITHM_TAG.to_owned(),
            secret: pkcs8.as_ref().to_vec(),
            created_at,
            active_from,
        })
        .await
}

/// The records still published at `now`, and the kids of those superseded for longer than
/// `RETAIN` (their last assertion has expired on every clock).
fn split_expired(
    mut records: Vec<SigningKeyRecord>,
    now: i64,
) -> (Vec<SigningKeyRecord>, Vec<String>) {
    records.sort_by(|a, b| (a.active_from, &a.kid).cmp(&(b.active_from, &b.kid)));
    // The key that signs now, and every key after it, stay; before it, a key stays while its
    // successor has signed for less than RETAIN.
    let activations: Vec<i64> = records.iter().map(|r| r.active_from).collect();
    let mut published = Vec::new();
    let mut expired = Vec::new();
    for (i, record) in records.into_iter().enumerate() {
        let gone = activations
            .get(i + 1)
            .is_some_and(|&next| next <= now && next.saturating_add(secs(RETAIN)) <= now);
        if gone {
            expired.push(record.kid);
        } else {
            published.push(record);
        }
    }
    (published, expired)
}

fn successor_kid(kid: &str) -> String {
    let digest = Sha256::new()
        .chain_update(b"sessiongate assertion successor\0")
        .chain_update(kid.as_bytes())
        .finalize();
    hex::encode(&digest[..12])
}

fn secs(duration: Duration) -> i64 {
    i64::try_from(duration.as_secs()).unwrap_or(i64::MAX / 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(kid: &str, active_from: i64) -> SigningKeyRecord {
        let pkcs8 =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
                .unwrap();
        SigningKeyRecord {
            kid: kid.into(),
            algorithm: ALGORITHM_TAG.into(),
            secret: pkcs8.as_ref().to_vec(),
            created_at: active_from,
            active_from,
        }
    }

    fn set(records: &[SigningKeyRecord]) -> KeySet {
        KeySet::new(
            records
                .iter()
                .filter_map(AssertionKey::from_record)
                .collect(),
        )
    }

    #[test]
    fn a_rotated_key_is_published_before_it_signs() {
        let keys = set(&[record("old", 0), record("next", 1_000)]);
        assert_eq!(keys.signing_key(999).unwrap().kid, "old");
        assert_eq!(keys.signing_key(1_000).unwrap().kid, "next");
        let jwks: serde_json::Value = serde_json::from_slice(&keys.jwks()).unwrap();
        let kids: Vec<&str> = jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap())
            .collect();
        assert_eq!(kids, ["old", "next"]);
    }

    #[test]
    fn superseded_keys_stay_published_until_their_last_assertion_expired() {
        let records = || vec![record("old", 0), record("new", 1_000)];
        let retain = secs(RETAIN);
        let (published, expired) = split_expired(records(), 1_000 + retain - 1);
        assert_eq!(published.len(), 2);
        assert!(expired.is_empty());
        let (published, expired) = split_expired(records(), 1_000 + retain);
        assert_eq!(
            published.iter().map(|r| r.kid.as_str()).collect::<Vec<_>>(),
            ["new"]
        );
        assert_eq!(expired, ["old"]);
        // A key rotated in but not signing yet never pushes out the one that signs.
        let (published, _) = split_expired(records(), 999);
        assert_eq!(published.len(), 2);
    }

    #[test]
    fn the_jwks_holds_public_halves_only() {
        let keys = set(&[record("k1", 0)]);
        let jwks: serde_json::Value = serde_json::from_slice(&keys.jwks()).unwrap();
        let jwk = jwks["keys"][0].as_object().unwrap();
        let mut fields: Vec<&str> = jwk.keys().map(String::as_str).collect();
        fields.sort_unstable();
        assert_eq!(fields, ["alg", "crv", "kid", "kty", "use", "x", "y"]);
        assert_eq!(
            URL_SAFE_NO_PAD
                .decode(jwk["x"].as_str().unwrap())
                .unwrap()
                .len(),
            32
        );
    }

    #[test]
    fn successor_kids_agree_across_replicas_and_differ_from_the_predecessor() {
        assert_eq!(successor_kid("a"), successor_kid("a"));
        assert_ne!(successor_kid("a"), "a");
        assert_ne!(successor_kid("a"), successor_kid("b"));
    }
}
