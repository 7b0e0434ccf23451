use std::sync::atomic::Ordering;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};

use super::*;
use crate::config::SigningAlgorithm;

const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef-test";

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn hs_tokens() -> Tokens {
    Tokens::new(
        SigningKeySet::from_secret(SigningAlgorithm::HS256, SECRET),
        "app".into(),
        Duration::from_secs(1800),
        100,
    )
}

fn mint(tokens: &Tokens, now: i64) -> String {
    let data = serde_json::json!({});
    let request = MintRequest {
        user_id: "u1",
        session_id: "s1",
        provider: "anon-user",
        device_id: "d1",
        user_data: &data,
    };
    tokens.mint(&request, now).unwrap()
}

fn claims(now: i64) -> AccessClaims {
    AccessClaims {
        sub: "u1".into(),
        sid: "s1".into(),
        iat: now,
        exp: now + 1800,
        nbf: None,
        iss: "app".into(),
        typ: "access".into(),
        baas_device_id: "d1".into(),
        baas_provider: "anon-user".into(),
        user_data: serde_json::json!({}),
    }
}

fn forge(alg: Algorithm, kid: Option<&str>, key: &EncodingKey, claims: &AccessClaims) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    encode(&header, claims, key).unwrap()
}

fn now() -> i64 {
    crate::ids::now()
}

#[test]
fn minted_token_verifies_and_carries_app_services_claims() {
    let tokens = hs_tokens();
    let token = mint(&tokens, now());
    let claims = tokens.decode(&token).unwrap();
    assert_eq!(
        (
            claims.sub.as_str(),
            claims.sid.as_str(),
            claims.typ.as_str()
        ),
        ("u1", "s1", "access")
    );
    assert_eq!(claims.exp - claims.iat, 1800);
    let header = jsonwebtoken::decode_header(&token).unwrap();
    assert_eq!(
        header.kid.as_deref(),
        Some(tokens.keys().signing_key(now()).kid.as_str())
    );
}

#[test]
fn expired_token_is_refused() {
    let tokens = hs_tokens();
    let token = mint(&tokens, now() - 3600);
    assert!(matches!(
        tokens.authenticate(&token, now()),
        Err(TokenError::Expired)
    ));
}

#[test]
fn tampered_payload_is_refused() {
    let tokens = hs_tokens();
    let token = mint(&tokens, now());
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let mut payload: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&parts[1]).unwrap()).unwrap();
    payload["sub"] = "someone-else".into();
    parts[1] = URL_SAFE_NO_PAD.encode(payload.to_string());
    let forged = parts.join(".");
    assert!(matches!(
        tokens.authenticate(&forged, now()),
        Err(TokenError::BadSignature)
    ));
}

#[test]
fn alg_none_is_refused() {
    let tokens = hs_tokens();
    let kid = tokens.keys().signing_key(now()).kid.clone();
    let header = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"none","typ":"JWT","kid":"{kid}"}}"#));
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims(now())).unwrap());
    for token in [
        format!("{header}.{payload}."),
        format!("{header}.{payload}"),
    ] {
        assert!(tokens.authenticate(&token, now()).is_err(), "{token}");
    }
}

#[test]
fn rs256_token_is_refused_when_hs256_is_pinned() {
    let tokens = hs_tokens();
    let kid = tokens.keys().signing_key(now()).kid.clone();
    let key = EncodingKey::from_rsa_pem(&fixture("rsa_private.pem")).unwrap();
    let token = forge(Algorithm::RS256, Some(&kid), &key, &claims(now()));
    assert!(matches!(
        tokens.authenticate(&token, now()),
        Err(TokenError::BadSignature)
    ));
}

#[tokio::test]
async fn hs256_signed_with_the_public_key_is_refused_when_rs256_is_pinned() {
    let public = fixture("rsa_public.pem");
    let config = crate::config::TokensConfig {
        access_ttl: Duration::from_secs(1800),
        refresh_ttl: Duration::from_secs(3600),
        anon_user_ttl: Duration::from_secs(3600),
        algorithm: SigningAlgorithm::RS256,
        signing_key: Some(crate::config::SigningKeySource::KeyPair {
            private_pem: crate::config::Secret::new(fixture("rsa_private.pem")),
            public_pem: public.clone(),
        }),
        cache_capacity: 10,
        rotate_refresh_tokens: false,
        rotation_grace: Duration::from_secs(5),
    };
    let store = crate::store::connect("sqlite::memory:").await.unwrap();
    let keys = keys::load(&config, store.as_ref()).await.unwrap();
    let tokens = Tokens::new(keys, "app".into(), Duration::from_secs(1800), 10);
    let genuine = mint(&tokens, now());
    assert!(tokens.authenticate(&genuine, now()).is_ok());
    let kid = tokens.keys().signing_key(now()).kid.clone();
    let confused = forge(
        Algorithm::HS256,
        Some(&kid),
        &EncodingKey::from_secret(&public),
        &claims(now()),
    );
    assert!(matches!(
        tokens.authenticate(&confused, now()),
        Err(TokenError::BadSignature)
    ));
}

#[test]
fn foreign_or_missing_kid_is_refused() {
    let tokens = hs_tokens();
    let key = EncodingKey::from_secret(SECRET);
    let foreign = forge(
        Algorithm::HS256,
        Some("someone-elses-key"),
        &key,
        &claims(now()),
    );
    assert!(matches!(
        tokens.authenticate(&foreign, now()),
        Err(TokenError::UnknownKey)
    ));
    let missing = forge(Algorithm::HS256, None, &key, &claims(now()));
    assert!(matches!(
        tokens.authenticate(&missing, now()),
        Err(TokenError::UnknownKey)
    ));
}

#[test]
fn token_from_another_issuer_or_of_another_type_is_refused() {
    let tokens = hs_tokens();
    let kid = tokens.keys().signing_key(now()).kid.clone();
    let key = EncodingKey::from_secret(SECRET);
    let mut other_app = claims(now());
    other_app.iss = "other-app".into();
    assert!(
        tokens
            .authenticate(
                &forge(Algorithm::HS256, Some(&kid), &key, &other_app),
                now()
            )
            .is_err()
    );
    let mut refresh = claims(now());
    refresh.typ = "refresh".into();
    assert!(
        tokens
            .authenticate(&forge(Algorithm::HS256, Some(&kid), &key, &refresh), now())
            .is_err()
    );
}

#[test]
fn garbage_is_malformed_not_a_panic() {
    let tokens = hs_tokens();
    for garbage in [
        "",
        ".",
        "..",
        "a.b.c",
        "eyJ.eyJ.sig",
        "\u{1F600}",
        &"x".repeat(10_000),
    ] {
        assert!(tokens.authenticate(garbage, now()).is_err());
    }
}

#[test]
fn cache_hit_skips_the_signature_check_but_not_revocation() {
    let tokens = hs_tokens();
    let token = mint(&tokens, now());
    tokens.authenticate(&token, now()).unwrap();
    tokens.authenticate(&token, now()).unwrap();
    assert_eq!(tokens.stats().signature_checks.load(Ordering::Relaxed), 1);
    assert_eq!(tokens.stats().cache_hits.load(Ordering::Relaxed), 1);
    tokens.revocations().revoke(["s1"], now());
    assert!(matches!(
        tokens.authenticate(&token, now()),
        Err(TokenError::Revoked)
    ));
    assert_eq!(tokens.stats().signature_checks.load(Ordering::Relaxed), 1);
}

/// The store's path into the list (another replica's revocation) must be seen by a token whose
/// session was already checked against the list.
#[test]
fn a_revocation_applied_from_the_store_refuses_a_cached_checked_token() {
    let tokens = hs_tokens();
    let token = mint(&tokens, now());
    tokens.authenticate(&token, now()).unwrap();
    tokens.authenticate(&token, now()).unwrap();
    let unrelated = crate::store::Revocation {
        seq: 1,
        session_id: "another-session".into(),
        user_id: "u2".into(),
        revoked_at: now(),
        committed_at_ms: None,
    };
    assert_eq!(tokens.revocations().apply(&[unrelated], now()), 1);
    tokens.authenticate(&token, now()).unwrap();
    let ours = crate::store::Revocation {
        seq: 2,
        session_id: "s1".into(),
        user_id: "u1".into(),
        revoked_at: now(),
        committed_at_ms: None,
    };
    assert_eq!(tokens.revocations().apply(&[ours], now()), 1);
    assert!(matches!(
        tokens.authenticate(&token, now()),
        Err(TokenError::Revoked)
    ));
}

#[test]
fn cached_token_still_expires() {
    let tokens = hs_tokens();
    let issued = now();
    let token = mint(&tokens, issued);
    tokens.authenticate(&token, issued).unwrap();
    assert!(matches!(
        tokens.authenticate(&token, issued + 1800),
        Err(TokenError::Expired)
    ));
    assert_eq!(
        tokens.stats().signature_checks.load(Ordering::Relaxed),
        1,
        "the second call was a cache hit"
    );
}

#[test]
fn es256_and_eddsa_key_pairs_sign_and_verify() {
    for (alg, private, public) in [
        (SigningAlgorithm::ES256, "ec_private.pem", "ec_public.pem"),
        (SigningAlgorithm::EdDSA, "ed_private.pem", "ed_public.pem"),
    ] {
        let key = keys::pem_key_for_tests(alg, &fixture(private), &fixture(public));
        let tokens = Tokens::new(
            SigningKeySet::new(alg, vec![key]),
            "app".into(),
            Duration::from_secs(60),
            10,
        );
        let token = mint(&tokens, now());
        assert!(tokens.authenticate(&token, now()).is_ok(), "{alg:?}");
    }
}

#[test]
fn stale_revocation_list_fails_closed_after_the_window() {
    let tokens = hs_tokens().with_fail_open_window(Duration::from_secs(30));
    let issued = now();
    let token = mint(&tokens, issued);
    tokens.revocations().mark_synced(issued);
    assert!(
        tokens.authenticate(&token, issued + 30).is_ok(),
        "inside the window"
    );
    assert!(matches!(
        tokens.authenticate(&token, issued + 60),
        Err(TokenError::RevocationsStale)
    ));
    tokens.revocations().mark_synced(issued + 60);
    assert!(
        tokens.authenticate(&token, issued + 60).is_ok(),
        "recovers once synced"
    );
}

#[test]
fn zero_window_fails_closed_as_soon_as_the_poll_slack_is_exceeded() {
    let tokens = hs_tokens().with_fail_open_window(Duration::ZERO);
    let issued = now();
    let token = mint(&tokens, issued);
    tokens.revocations().mark_synced(issued);
    assert!(tokens.authenticate(&token, issued + 1).is_ok());
    assert!(tokens.authenticate(&token, issued + 10).is_err());
}

#[test]
fn verified_gives_back_each_id_exactly_and_header_values_only_for_valid_ones() {
    // Empty parts, a multi-byte device id and a provider that is no header value: the four
    // ids share one buffer, so every boundary must come back exactly.
    let verified = Verified::new("u1", "", "bad\nprovider", "gerät-ü", 1, 2);
    assert_eq!(verified.user_id(), "u1");
    assert_eq!(verified.session_id(), "");
    assert_eq!(verified.provider(), "bad\nprovider");
    assert_eq!(verified.device_id(), "gerät-ü");
    let [user, session, provider] = verified.header_values();
    assert_eq!(user.as_ref().map(|v| v.as_bytes()), Some(&b"u1"[..]));
    assert_eq!(session.as_ref().map(|v| v.as_bytes()), Some(&b""[..]));
    assert!(
        provider.is_none(),
        "a value with a line break is never a header value"
    );

    let ours = Verified::new("64a1f0c2e4b0a1b2c3d4e5f6", "sid", "anon-user", "", 0, 0);
    assert_eq!(ours.session_id(), "sid");
    assert_eq!(ours.provider(), "anon-user");
    assert_eq!(ours.device_id(), "");
    let values: Vec<_> = ours.header_values().iter().flatten().collect();
    assert_eq!(values, ["64a1f0c2e4b0a1b2c3d4e5f6", "sid", "anon-user"]);
}

#[test]
fn activity_is_due_once_per_token_and_second_and_never_for_an_earlier_second() {
    let verified = Verified::new("u1", "s1", "anon-user", "d", 0, 100);
    assert!(verified.first_use_in(10), "the first use is always due");
    assert!(
        !verified.first_use_in(10),
        "a second use in the same second is not"
    );
    assert!(
        !verified.first_use_in(9),
        "a request stamped a second earlier (raced on another core) is not"
    );
    assert!(verified.first_use_in(11), "the next second is due again");
    let other = Verified::new("u1", "s1", "anon-user", "d", 0, 100);
    assert!(
        other.first_use_in(11),
        "each verified token keeps its own stamp"
    );
}
