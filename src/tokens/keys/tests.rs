//! Unit tests of signing keys: rotation windows and PEM key pairs.

use super::*;

fn record(kid: &str, active_from: i64) -> SigningKeyRecord {
    SigningKeyRecord {
        kid: kid.into(),
        algorithm: "HS256".into(),
        secret: vec![1; 64],
        created_at: 0,
        active_from,
    }
}

#[test]
fn newest_active_key_signs_and_future_keys_only_verify() {
    let set = from_records(
        SigningAlgorithm::HS256,
        vec![record("old", 0), record("next", 1_000)],
        500,
        Duration::from_secs(60),
    );
    assert_eq!(set.signing_key(500).kid, "old");
    assert!(set.find("next").is_some(), "a key verifies before it signs");
    assert_eq!(set.signing_key(1_000).kid, "next");
}

#[test]
fn superseded_keys_verify_until_their_tokens_have_expired() {
    let ttl = Duration::from_secs(1800);
    let keys = || vec![record("old", 0), record("new", 10_000)];
    let set = from_records(SigningAlgorithm::HS256, keys(), 10_000 + 1800, ttl);
    assert!(set.find("old").is_some());
    let set = from_records(SigningAlgorithm::HS256, keys(), 10_000 + 1800 + 61, ttl);
    assert!(set.find("old").is_none());
    assert!(set.find("new").is_some());
}

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|err| panic!("{path}: {err}"))
}

#[test]
fn rs256_key_pairs_sign_with_ring_and_must_belong_together() {
    let pair = |private: &str, public: &str| {
        pem_key(SigningAlgorithm::RS256, &fixture(private), &fixture(public))
    };
    let key = pair("rsa_private.pem", "rsa_public.pem").unwrap();
    assert!(
        matches!(key.encoding, Signer::Rs256(_)),
        "not the rsa crate"
    );
    let Err(KeyError::BadKey(reason)) = pair("rsa2_private.pem", "rsa_public.pem") else {
        panic!("a private key of another pair was accepted");
    };
    assert!(reason.contains("does not belong"), "{reason}");
}
