use std::sync::Arc;
use std::time::{Duration, Instant};

use jsonwebtoken::Algorithm;
use jsonwebtoken::jwk::Jwk;

use super::remote::{Cache, KID_REFETCH_INTERVAL, MAX_AGE, Plan, RETRY_AFTER_FAILURE};
use super::*;
use crate::config::KeyMiss;

const EC_PRIVATE: &[u8] = include_bytes!("../../../../tests/fixtures/ec_private.pem");

/// The EC test key as a JWK, with an optional `kid` and `alg`.
fn jwk(kid: Option<&str>, alg: Option<&str>) -> serde_json::Value {
    let private = jsonwebtoken::EncodingKey::from_ec_pem(EC_PRIVATE).unwrap();
    let mut jwk = Jwk::from_encoding_key(&private, Algorithm::ES256).unwrap();
    jwk.common.key_algorithm = None;
    let mut value = serde_json::to_value(jwk).unwrap();
    if let Some(kid) = kid {
        value["kid"] = kid.into();
    }
    if let Some(alg) = alg {
        value["alg"] = alg.into();
    }
    value
}

fn set(keys: Vec<serde_json::Value>) -> JwkSet {
    JwkSet::parse(serde_json::json!({ "keys": keys }).to_string().as_bytes()).unwrap()
}

#[test]
fn select_by_kid_checks_family_and_stated_alg() {
    let keys = set(vec![jwk(Some("a"), Some("ES256")), jwk(Some("b"), None)]);
    assert!(keys.select(Algorithm::ES256, Some("a")).is_ok());
    assert_eq!(
        keys.select(Algorithm::ES384, Some("a")).unwrap_err(),
        KeyMiss::Algorithm
    );
    assert!(keys.select(Algorithm::ES384, Some("b")).is_ok());
    assert_eq!(
        keys.select(Algorithm::RS256, Some("b")).unwrap_err(),
        KeyMiss::Algorithm
    );
    assert_eq!(
        keys.select(Algorithm::ES256, Some("zzz")).unwrap_err(),
        KeyMiss::UnknownKey
    );
}

#[test]
fn without_kid_only_a_single_fitting_key_is_used() {
    let one = set(vec![jwk(Some("a"), None)]);
    assert!(one.select(Algorithm::ES256, None).is_ok());
    let two = set(vec![jwk(Some("a"), None), jwk(Some("b"), None)]);
    assert_eq!(
        two.select(Algorithm::ES256, None).unwrap_err(),
        KeyMiss::UnknownKey
    );
}

#[test]
fn jwks_skips_encryption_symmetric_and_unknown_keys() {
    let mut enc = jwk(Some("enc"), None);
    enc["use"] = "enc".into();
    let parsed = set(vec![
        enc,
        serde_json::json!({"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"}),
        serde_json::json!({"kty": "XYZ", "kid": "future"}),
        jwk(Some("oaep"), Some("RSA-OAEP")),
        jwk(Some("ok"), None),
    ]);
    assert_eq!(parsed.len(), 1);
    assert_eq!(
        parsed.select(Algorithm::HS256, Some("hmac")).unwrap_err(),
        KeyMiss::UnknownKey
    );
    assert!(JwkSet::parse(br#"{"keys": []}"#).is_err());
    assert!(JwkSet::parse(b"[]").is_err());
}

#[test]
fn remote_plan_fetches_first_then_caches_until_stale() {
    let start = Instant::now();
    let mut cache = Cache::default();
    assert!(matches!(cache.plan(start), Plan::Fetch));
    // A failed first fetch: unavailable for a while, then tried again.
    cache.attempted_at = Some(start);
    assert!(matches!(cache.plan(start), Plan::Unavailable));
    assert!(matches!(
        cache.plan(start + RETRY_AFTER_FAILURE),
        Plan::Fetch
    ));
    cache.keys = Some(Arc::new(set(vec![jwk(Some("a"), None)])));
    assert!(matches!(
        cache.plan(start + MAX_AGE - Duration::from_secs(1)),
        Plan::Use(_)
    ));
    assert!(matches!(cache.plan(start + MAX_AGE), Plan::Fetch));
}

#[test]
fn unknown_kid_refetch_is_rate_limited() {
    let start = Instant::now();
    let mut cache = Cache::default();
    assert!(cache.may_refetch_for_kid(start));
    cache.kid_refetch_at = Some(start);
    assert!(!cache.may_refetch_for_kid(start + Duration::from_secs(29)));
    assert!(cache.may_refetch_for_kid(start + KID_REFETCH_INTERVAL));
}
