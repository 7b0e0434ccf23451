//! Assertions made here are verified with jsonwebtoken (not ring, which signs them) against
//! the published JWKS.

use std::collections::BTreeMap;
use std::path::Path;

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;

use super::*;
use crate::store::{self, Store};

fn config(extra: &str) -> Config {
    let text = format!(
        "[app]\nid = \"app-1\"\n[upstream]\nurl = \"http://127.0.0.1:9\"\n\
         [identity_headers]\nassertion = \"X-Sessiongate-Assertion\"\n{extra}"
    );
    crate::config::from_toml_str(&text, &BTreeMap::new(), Path::new("."))
        .expect("test config loads")
}

fn caller(session: &str, exp: i64) -> Verified {
    Verified::new("u1", session, "anon-user", "d", 0, exp)
}

async fn ring(store: &dyn Store, now: i64) -> Arc<KeyRing> {
    let ring = Arc::new(KeyRing::default());
    ring.replace(keys::load(store, Duration::ZERO, now).await.unwrap());
    ring
}

fn verify(token: &HeaderValue, jwks: &[u8], audience: &str) -> Value {
    let set: JwkSet = serde_json::from_slice(jwks).unwrap();
    let token = token.to_str().unwrap();
    let kid = jsonwebtoken::decode_header(token).unwrap().kid.unwrap();
    let jwk = set.find(&kid).expect("the signing key is published");
    let mut validation = Validation::new(Algorithm::ES256);
    validation.set_audience(&[audience]);
    validation.set_issuer(&["app-1"]);
    validation.validate_exp = false;
    jsonwebtoken::decode::<Value>(token, &DecodingKey::from_jwk(jwk).unwrap(), &validation)
        .expect("verifies")
        .claims
}

#[tokio::test]
async fn an_assertion_verifies_against_the_jwks_with_its_claims() {
    let store = store::connect("sqlite::memory:").await.unwrap();
    let now = ids::now();
    let keys = ring(store.as_ref(), now).await;
    let assertions = Assertions::new(&config(""), keys.clone()).unwrap();
    let value = assertions
        .value(&caller("s1", now + 1800), &Arc::from("orders"), now)
        .unwrap();
    let claims = verify(&value, &keys.current().jwks(), "orders");
    assert_eq!(claims["sub"], "u1");
    assert_eq!(claims["sid"], "s1");
    assert_eq!(claims["provider"], "anon-user");
    assert_eq!(claims["iat"], now);
    assert_eq!(claims["exp"], now + 60);
    assert_eq!(claims["jti"].as_str().unwrap().len(), 32);
}

#[tokio::test]
async fn an_assertion_never_outlives_the_access_token() {
    let store = store::connect("sqlite::memory:").await.unwrap();
    let now = ids::now();
    let keys = ring(store.as_ref(), now).await;
    let assertions = Assertions::new(&config(""), keys.clone()).unwrap();
    let value = assertions
        .value(&caller("s1", now + 10), &Arc::from("a"), now)
        .unwrap();
    assert_eq!(verify(&value, &keys.current().jwks(), "a")["exp"], now + 10);
    // A later token of the same session is not served the shorter assertion's jti forever,
    // and an earlier-expiring one never gets a cached assertion that outlives it.
    let cached = assertions
        .value(&caller("s1", now + 5), &Arc::from("a"), now)
        .unwrap();
    assert_eq!(verify(&cached, &keys.current().jwks(), "a")["exp"], now + 5);
}

#[tokio::test]
async fn the_cache_reuses_per_session_audience_and_window_only() {
    let store = store::connect("sqlite::memory:").await.unwrap();
    // The start of a 30 s reuse window.
    let now = 1_800_000_000;
    let keys = ring(store.as_ref(), now).await;
    let assertions = Assertions::new(&config(""), keys.clone()).unwrap();
    let c = caller("s1", now + 1800);
    let a = Arc::from("a");
    let first = assertions.value(&c, &a, now).unwrap();
    assert_eq!(assertions.value(&c, &a, now + 29).unwrap(), first);
    assert_ne!(
        assertions.value(&c, &a, now + 30).unwrap(),
        first,
        "next window"
    );
    assert_ne!(assertions.value(&c, &Arc::from("b"), now).unwrap(), first);
    assert_ne!(
        assertions
            .value(&caller("s2", now + 1800), &a, now)
            .unwrap(),
        first
    );
    // Data API credential callers share one session id: never each other's assertion.
    let other_user = Verified::new("u2", "s1", "anon-user", "d", 0, now + 1800);
    let theirs = assertions.value(&other_user, &a, now).unwrap();
    assert_ne!(theirs, first);
    assert_eq!(verify(&theirs, &keys.current().jwks(), "a")["sub"], "u2");
    let uncached = Assertions::new(&config("assertion_cache = false"), keys).unwrap();
    assert_ne!(
        uncached.value(&c, &a, now).unwrap(),
        uncached.value(&c, &a, now).unwrap()
    );
}

#[tokio::test]
async fn keys_are_created_once_rotated_with_a_lead_and_expired_after_retain() {
    let store = store::connect("sqlite::memory:").await.unwrap();
    let now = ids::now();
    let first = keys::load(store.as_ref(), Duration::ZERO, now)
        .await
        .unwrap();
    assert_eq!(first.keys().len(), 1);
    let again = keys::load(store.as_ref(), Duration::ZERO, now)
        .await
        .unwrap();
    assert_eq!(
        again.keys()[0].kid,
        first.keys()[0].kid,
        "loaded, not created again"
    );
    let (kid, active_from) = keys::rotate(store.as_ref(), now).await.unwrap();
    assert_eq!(active_from, now + 120);
    let rotated = keys::load(store.as_ref(), Duration::ZERO, now)
        .await
        .unwrap();
    assert_eq!(rotated.keys().len(), 2);
    assert_eq!(rotated.signing_key(now).unwrap().kid, first.keys()[0].kid);
    assert_eq!(rotated.signing_key(active_from).unwrap().kid, kid);
    let later = active_from + i64::try_from(keys::RETAIN.as_secs()).unwrap();
    let expired = keys::load(store.as_ref(), Duration::ZERO, later)
        .await
        .unwrap();
    assert_eq!(expired.keys().len(), 1);
    assert_eq!(expired.keys()[0].kid, kid);
    // The access-token keys never see assertion keys, nor the other way round.
    assert!(
        store
            .signing_keys()
            .await
            .unwrap()
            .iter()
            .all(|k| k.algorithm == keys::ALGORITHM_TAG)
    );
}

#[tokio::test]
async fn automatic_rotation_adds_one_successor_however_many_replicas_ask() {
    let store = store::connect("sqlite::memory:").await.unwrap();
    let now = ids::now();
    keys::load(store.as_ref(), Duration::from_secs(3600), now)
        .await
        .unwrap();
    let later = now + 3600;
    let a = keys::load(store.as_ref(), Duration::from_secs(3600), later)
        .await
        .unwrap();
    let b = keys::load(store.as_ref(), Duration::from_secs(3600), later)
        .await
        .unwrap();
    assert_eq!(a.keys().len(), 2);
    assert_eq!(b.keys().len(), 2, "the successor was not added twice");
}
