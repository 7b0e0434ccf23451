//! Unit tests that try to break the token rules: lifetime cap, future `iat`/`nbf`, `crit` and
//! nested-JWT headers, identities that are not header values, key removal vs. the cache, and
//! the revocation retention bound.

use std::sync::atomic::Ordering;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{Value, json};

use super::*;
use crate::config::SigningAlgorithm;

const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef-test";
const OTHER_SECRET: &[u8] = b"fedcba9876543210fedcba9876543210-other";
const TTL: i64 = 1800;
const LEEWAY: i64 = 60;

fn now() -> i64 {
    crate::ids::now()
}

fn tokens_with(keys: SigningKeySet) -> Tokens {
    Tokens::new(keys, "app".into(), Duration::from_secs(1800), 100)
}

fn hs_tokens() -> Tokens {
    tokens_with(SigningKeySet::from_secret(SigningAlgorithm::HS256, SECRET))
}

fn kid_of(secret: &[u8]) -> String {
    SigningKeySet::from_secret(SigningAlgorithm::HS256, secret)
        .signing_key(0)
        .kid
        .clone()
}

fn claims(iat: i64, exp: i64) -> Value {
    json!({
        "sub": "u1", "sid": "s1", "iat": iat, "exp": exp, "iss": "app", "typ": "access",
        "baas_device_id": "d1", "baas_provider": "anon-user", "user_data": {}
    })
}

/// A token with exactly this header and payload JSON, HS256-signed with `secret`.
fn raw_token(header: &Value, payload: &Value, secret: &[u8]) -> String {
    let message = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(payload.to_string())
    );
    let signature = jsonwebtoken::crypto::sign(
        message.as_bytes(),
        &EncodingKey::from_secret(secret),
        Algorithm::HS256,
    )
    .unwrap();
    format!("{message}.{signature}")
}

fn token(payload: &Value) -> String {
    let header = json!({"alg": "HS256", "typ": "JWT", "kid": kid_of(SECRET)});
    raw_token(&header, payload, SECRET)
}

fn refused(tokens: &Tokens, token: &str) -> TokenError {
    let err = tokens
        .authenticate(token, now())
        .expect_err("token must be refused");
    assert_eq!(tokens.cache_entries(), 0, "a refused token is never cached");
    err
}

#[test]
fn lifetime_longer_than_access_ttl_plus_leeway_is_refused() {
    let tokens = hs_tokens();
    let t = now();
    for (iat, exp) in [
        (t - 10, t - 10 + TTL + LEEWAY + 1),
        (t - 10 * 86_400, t + 86_400),
        (t, t + 100 * 365 * 86_400),
        (t, 1 << 53),
        (i64::MIN / 2, t + 60),
    ] {
        assert!(
            matches!(
                refused(&tokens, &token(&claims(iat, exp))),
                TokenError::LifetimeTooLong
            ),
            "iat {iat} exp {exp}"
        );
    }
    let at_cap = token(&claims(t - 10, t - 10 + TTL + LEEWAY));
    assert!(tokens.authenticate(&at_cap, t).is_ok());
}

#[test]
fn iat_or_nbf_in_the_future_beyond_the_leeway_is_refused() {
    let tokens = hs_tokens();
    let t = now();
    let future_iat = token(&claims(t + LEEWAY + 5, t + LEEWAY + 600));
    assert!(matches!(
        refused(&tokens, &future_iat),
        TokenError::NotYetValid
    ));
    let mut future_nbf = claims(t, t + 600);
    future_nbf["nbf"] = json!(t + LEEWAY + 5);
    assert!(matches!(
        refused(&tokens, &token(&future_nbf)),
        TokenError::NotYetValid
    ));
    let mut skewed = claims(t + LEEWAY, t + 600);
    skewed["nbf"] = json!(t + LEEWAY);
    assert!(
        tokens.authenticate(&token(&skewed), t).is_ok(),
        "within the leeway"
    );
}

#[test]
fn crit_or_nested_jwt_headers_are_refused() {
    let tokens = hs_tokens();
    let t = now();
    let kid = kid_of(SECRET);
    for extra in [
        json!({"crit": ["exp"]}),
        json!({"crit": []}),
        json!({"crit": null}),
        json!({"crit": "b64", "b64": false}),
        json!({"cty": "JWT"}),
        json!({"cty": "jwt"}),
        json!({"cty": "application/JWT"}),
        json!({"cty": 1}),
    ] {
        let mut header = json!({"alg": "HS256", "typ": "JWT", "kid": kid});
        for (name, value) in extra.as_object().unwrap() {
            header[name] = value.clone();
        }
        let forged = raw_token(&header, &claims(t, t + 600), SECRET);
        let err = refused(&tokens, &forged);
        assert!(
            matches!(err, TokenError::UnsupportedHeader | TokenError::Malformed),
            "{header}: {err:?}"
        );
    }
}

#[test]
fn identity_that_is_not_a_header_value_is_refused_before_caching() {
    let tokens = hs_tokens();
    let t = now();
    for field in ["sub", "sid", "baas_provider"] {
        for bad in [
            "a\r\nX-User-Id: admin",
            "a\n",
            "a\0",
            "a\u{7f}",
            "a b",
            "é",
            "\t",
        ] {
            let mut payload = claims(t, t + 600);
            payload[field] = json!(bad);
            assert!(
                matches!(
                    refused(&tokens, &token(&payload)),
                    TokenError::UnsafeIdentity
                ),
                "{field} = {bad:?}"
            );
        }
    }
    for field in ["sub", "sid"] {
        let mut payload = claims(t, t + 600);
        payload[field] = json!("");
        assert!(matches!(
            refused(&tokens, &token(&payload)),
            TokenError::UnsafeIdentity
        ));
    }
}

#[test]
fn replacing_the_key_set_evicts_cached_tokens_of_removed_keys_only() {
    let both = || {
        let mut keys = Vec::new();
        for (secret, active_from) in [(SECRET, 0), (OTHER_SECRET, 1)] {
            let set = SigningKeySet::from_secret(SigningAlgorithm::HS256, secret);
            let key = set.signing_key(0);
            keys.push(keys::SigningKey {
                kid: key.kid.clone(),
                active_from,
                encoding: EncodingKey::from_secret(secret).into(),
                decoding: jsonwebtoken::DecodingKey::from_secret(secret),
            });
        }
        SigningKeySet::new(SigningAlgorithm::HS256, keys)
    };
    let tokens = tokens_with(both());
    let t = now();
    let kept = token(&claims(t, t + 600));
    let header = json!({"alg": "HS256", "kid": kid_of(OTHER_SECRET)});
    let doomed = raw_token(&header, &claims(t, t + 600), OTHER_SECRET);
    tokens.authenticate(&kept, t).unwrap();
    tokens.authenticate(&doomed, t).unwrap();
    tokens.authenticate(&doomed, t).unwrap();
    assert_eq!(tokens.stats().cache_hits.load(Ordering::Relaxed), 1);

    tokens.replace_keys(SigningKeySet::from_secret(SigningAlgorithm::HS256, SECRET));
    assert!(matches!(
        tokens.authenticate(&doomed, t),
        Err(TokenError::UnknownKey)
    ));
    let checks = tokens.stats().signature_checks.load(Ordering::Relaxed);
    tokens.authenticate(&kept, t).unwrap();
    assert_eq!(
        tokens.stats().signature_checks.load(Ordering::Relaxed),
        checks,
        "a token of a key still in the set stays cached"
    );
}

/// For every TTL, every token the rules accept at some moment after its session's revocation
/// is refused as revoked at that moment: the entry outlives the token.
#[test]
fn revocation_retention_covers_every_token_the_rules_accept() {
    for ttl in [1, 60, 1800, 86_400] {
        let tokens = Tokens::new(
            SigningKeySet::from_secret(SigningAlgorithm::HS256, SECRET),
            "app".into(),
            Duration::from_secs(ttl),
            10,
        );
        let ttl = i64::try_from(ttl).unwrap();
        let revoked_at = now();
        // Minted at most a leeway after the revocation (clock skew between replicas), with
        // the longest lifetime the cap lets through.
        let iat = revoked_at + LEEWAY;
        let exp = iat + ttl + LEEWAY;
        let longest = token(&claims(iat, exp));
        tokens.revocations().revoke(["s1"], revoked_at);
        for at in [revoked_at, iat, exp - 1] {
            tokens.revocations().purge(at);
            assert!(
                matches!(tokens.authenticate(&longest, at), Err(TokenError::Revoked)),
                "ttl {ttl}: accepted at {at} (revoked at {revoked_at}, exp {exp})"
            );
        }
        // Longer-lived tokens are not accepted at all, so nothing needs remembering for them.
        let longer = token(&claims(iat - 1, exp));
        assert!(matches!(
            tokens.authenticate(&longer, iat),
            Err(TokenError::LifetimeTooLong)
        ));
    }
}
