//! Unit tests of OpenID Connect login: profile claims, algorithms, interned names.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, json};

use super::id_token::accepted_algorithm;
use super::*;

fn map(value: Value) -> Map<String, Value> {
    value.as_object().cloned().unwrap_or_default()
}

#[test]
fn email_is_copied_only_when_verified() {
    let verified = profile(&map(
        json!({"email": "a@b.c", "email_verified": true, "name": "A"}),
    ));
    assert_eq!(
        Value::Object(verified),
        json!({"email": "a@b.c", "name": "A"})
    );
    let apple = profile(&map(json!({"email": "a@b.c", "email_verified": "true"})));
    assert_eq!(Value::Object(apple), json!({"email": "a@b.c"}));
    for unverified in [json!(false), json!("false"), json!(null), json!(1)] {
        let data = profile(&map(
            json!({"email": "a@b.c", "email_verified": unverified}),
        ));
        assert!(data.is_empty(), "{data:?}");
    }
    assert!(profile(&map(json!({"email": "a@b.c"}))).is_empty());
}

#[test]
fn only_asymmetric_algorithms_are_accepted() {
    let token = |header: Value| format!("{}.e30.sig", URL_SAFE_NO_PAD.encode(header.to_string()));
    assert_eq!(
        accepted_algorithm(&token(json!({"alg": "RS256"}))),
        Ok(Algorithm::RS256)
    );
    for alg in ["none", "None", "HS256", "HS512", "XX"] {
        assert_eq!(
            accepted_algorithm(&token(json!({ "alg": alg }))),
            Err(Refusal::Algorithm),
            "{alg}"
        );
    }
    assert_eq!(accepted_algorithm("%%%.e30.sig"), Err(Refusal::Malformed));
}

#[test]
fn names_are_interned_once() {
    let a = intern("oidc-interned-test");
    let b = intern(&String::from("oidc-interned-test"));
    assert!(std::ptr::eq(a, b));
    assert!(is_oidc_name("oauth2-google") && is_oidc_name("oidc-corp"));
    assert!(!is_oidc_name("anon-user"));
}
