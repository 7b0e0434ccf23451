use std::time::Duration;

use jsonwebtoken::{EncodingKey, Header, encode};
use serde_json::json;

use super::*;
use crate::config::{ConfiguredKeys, CustomTokenKey, Secret};
use crate::error::{ApiError, ErrorCode};
use http::StatusCode;

const SECRET: &[u8] = b"custom-token-test-secret-0123456789";

fn config(metadata: Vec<MetadataField>) -> CustomTokenConfig {
    let algorithms = vec!["HS256".to_owned()];
    let key = CustomTokenKey::Secret(Secret::new(SECRET));
    CustomTokenConfig {
        keys: Arc::new(ConfiguredKeys::load(&algorithms, &key).unwrap()),
        algorithms,
        key,
        audience: vec!["my-app".to_owned()],
        issuer: Some("https://issuer.example".to_owned()),
        leeway: Duration::from_secs(5),
        metadata,
    }
}

async fn provider(metadata: Vec<MetadataField>) -> CustomTokenProvider {
    let store = crate::store::connect("sqlite::memory:").await.unwrap();
    let fetcher = crate::outbound::Outbound::new(&Default::default()).fetcher(None);
    CustomTokenProvider::new(&config(metadata), store, fetcher)
}

fn claims() -> Value {
    json!({
        "sub": "user-1",
        "aud": "my-app",
        "iss": "https://issuer.example",
        "exp": crate::ids::now() + 600,
        "email": "ada@example.com",
        "user_data": {"name": "Ada", "plan": null},
        "https://example.com/roles": ["admin"],
    })
}

fn sign(claims: &Value) -> String {
    encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(SECRET),
    )
    .unwrap()
}

fn field(claim: &str, field: &str, required: bool) -> MetadataField {
    MetadataField {
        claim: claim.to_owned(),
        field: field.to_owned(),
        required,
    }
}

fn with(mut claims: Value, name: &str, value: Value) -> Value {
    claims[name] = value;
    claims
}

fn without(mut claims: Value, name: &str) -> Value {
    claims.as_object_mut().unwrap().remove(name);
    claims
}

#[tokio::test]
async fn valid_token_yields_sub_and_mapped_metadata() {
    let provider = provider(vec![
        field("email", "email", true),
        field("user_data.name", "name", false),
        field("user_data.plan", "plan", false),
        field("https://example.com/roles", "roles", false),
        field("user_data.missing", "missing", false),
    ])
    .await;
    let (sub, data) = provider.authenticate(&sign(&claims())).await.unwrap();
    assert_eq!(sub, "user-1");
    assert_eq!(
        Value::Object(data),
        json!({"email": "ada@example.com", "name": "Ada", "roles": ["admin"]})
    );
}

#[tokio::test]
async fn each_failed_check_names_itself() {
    let provider = provider(vec![field("user_data.phone", "phone", true)]).await;
    let now = crate::ids::now();
    let cases = [
        (with(claims(), "aud", json!("other")), Refusal::Audience),
        (with(claims(), "aud", json!(["x", "y"])), Refusal::Audience),
        (
            without(claims(), "aud"),
            Refusal::MissingClaim("aud".into()),
        ),
        (with(claims(), "exp", json!(now - 60)), Refusal::Expired),
        (
            without(claims(), "exp"),
            Refusal::MissingClaim("exp".into()),
        ),
        (
            with(claims(), "nbf", json!(now + 600)),
            Refusal::NotYetValid,
        ),
        (with(claims(), "iss", json!("evil")), Refusal::Issuer),
        (
            without(claims(), "iss"),
            Refusal::MissingClaim("iss".into()),
        ),
        (
            without(claims(), "sub"),
            Refusal::MissingClaim("sub".into()),
        ),
        (
            with(claims(), "sub", json!("")),
            Refusal::MissingClaim("sub".into()),
        ),
        (
            with(claims(), "sub", json!(7)),
            Refusal::MissingClaim("sub".into()),
        ),
        (claims(), Refusal::MissingClaim("user_data.phone".into())),
    ];
    for (claims, expected) in cases {
        let refused = provider.authenticate(&sign(&claims)).await.unwrap_err();
        assert_eq!(refused, expected, "{claims}");
    }
}

#[tokio::test]
async fn leeway_covers_small_clock_skew() {
    let provider = provider(Vec::new()).await;
    let now = crate::ids::now();
    let token = sign(&with(
        with(claims(), "exp", json!(now - 2)),
        "nbf",
        json!(now + 2),
    ));
    assert!(provider.authenticate(&token).await.is_ok());
}

#[tokio::test]
async fn algorithm_is_checked_on_the_raw_header_first() {
    let provider = provider(Vec::new()).await;
    let body = URL_SAFE_NO_PAD.encode(claims().to_string());
    for alg in ["none", "None", "NONE", "HS384", "RS256", ""] {
        let header = URL_SAFE_NO_PAD.encode(json!({"alg": alg, "typ": "JWT"}).to_string());
        let token = format!("{header}.{body}.");
        assert_eq!(
            provider.verify(&token).await.unwrap_err(),
            Refusal::Algorithm,
            "{alg}"
        );
    }
    let header = URL_SAFE_NO_PAD.encode(json!({"typ": "JWT"}).to_string());
    assert_eq!(
        provider
            .verify(&format!("{header}.{body}.sig"))
            .await
            .unwrap_err(),
        Refusal::Algorithm
    );
}

#[tokio::test]
async fn tampering_and_garbage_are_refused() {
    let provider = provider(Vec::new()).await;
    let token = sign(&claims());
    let mut parts: Vec<&str> = token.split('.').collect();
    let forged = URL_SAFE_NO_PAD.encode(with(claims(), "sub", json!("admin")).to_string());
    parts[1] = &forged;
    assert_eq!(
        provider.verify(&parts.join(".")).await.unwrap_err(),
        Refusal::BadSignature
    );
    let other_key = encode(
        &Header::new(Algorithm::HS256),
        &claims(),
        &EncodingKey::from_secret(b"another-secret-another-secret-00"),
    )
    .unwrap();
    assert_eq!(
        provider.verify(&other_key).await.unwrap_err(),
        Refusal::BadSignature
    );
    for garbage in [
        "",
        "a.b",
        "a.b.c.d.e",
        "!!.??.**",
        &"a".repeat(MAX_TOKEN_BYTES + 1),
    ] {
        assert_eq!(
            provider.verify(garbage).await.unwrap_err(),
            Refusal::Malformed,
            "{garbage:.20}"
        );
    }
}

#[tokio::test]
async fn crit_header_is_refused() {
    let provider = provider(Vec::new()).await;
    let mut header = Header::new(Algorithm::HS256);
    header.crit = Some(vec!["exp".to_owned()]);
    let token = encode(&header, &claims(), &EncodingKey::from_secret(SECRET)).unwrap();
    assert_eq!(
        provider.verify(&token).await.unwrap_err(),
        Refusal::Malformed
    );
}

#[test]
fn refusals_are_401_auth_error_except_missing_keys() {
    let api = ApiError::from(Refusal::Expired);
    assert_eq!(
        (api.status, api.code, api.message.as_str()),
        (
            StatusCode::UNAUTHORIZED,
            ErrorCode::AuthError,
            "token expired"
        )
    );
    let api = ApiError::from(Refusal::KeysUnavailable);
    assert_eq!(api.status, StatusCode::BAD_GATEWAY);
}

#[test]
fn claim_path_prefers_the_whole_name_then_walks_objects() {
    let claims = claims();
    let claims = claims.as_object().unwrap();
    assert_eq!(claim_at(claims, "user_data.name"), Some(&json!("Ada")));
    assert_eq!(
        claim_at(claims, "https://example.com/roles"),
        Some(&json!(["admin"]))
    );
    assert_eq!(claim_at(claims, "email.x"), None);
    assert_eq!(claim_at(claims, "user_data.name.first"), None);
    assert_eq!(claim_at(claims, "nope"), None);
}

#[test]
fn unusable_key_files_are_reported_before_start() {
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut config = config(Vec::new());
    config.algorithms = vec!["RS256".to_owned()];
    config.key = CustomTokenKey::Pem(fixtures.join("rsa_public.pem"));
    assert!(ConfiguredKeys::load(&config.algorithms, &config.key).is_ok());
    config.key = CustomTokenKey::Pem(fixtures.join("ec_public.pem"));
    let reason = ConfiguredKeys::load(&config.algorithms, &config.key).unwrap_err();
    assert!(reason.contains("not a RSA public key"), "{reason}");
    config.algorithms = vec!["ES256".to_owned()];
    assert!(ConfiguredKeys::load(&config.algorithms, &config.key).is_ok());

    let dir = tempfile::tempdir().unwrap();
    let jwks = dir.path().join("jwks.json");
    std::fs::write(&jwks, r#"{"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}"#).unwrap();
    config.key = CustomTokenKey::JwksFile(jwks.clone());
    let reason = ConfiguredKeys::load(&config.algorithms, &config.key).unwrap_err();
    assert!(reason.contains("no usable signature key"), "{reason}");
    std::fs::write(&jwks, "not json").unwrap();
    assert!(ConfiguredKeys::load(&config.algorithms, &config.key).is_err());
}

#[tokio::test]
async fn the_provider_verifies_with_the_keys_config_validation_loaded() {
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let dir = tempfile::tempdir().unwrap();
    let pem = dir.path().join("ec_public.pem");
    std::fs::copy(fixtures.join("ec_public.pem"), &pem).unwrap();
    let text = format!(
        "[app]\nid = \"myapp-abcde\"\n[providers.custom_token]\nenabled = true\n\
         algorithms = [\"ES256\"]\nkey_file = {pem:?}\naudience = [\"my-app\"]\n"
    );
    let config = crate::config::from_toml_str(&text, &Default::default(), dir.path()).unwrap();
    // The file is gone by the time the provider is built: it must not be read again.
    std::fs::remove_file(&pem).unwrap();
    let store = crate::store::connect("sqlite::memory:").await.unwrap();
    let fetcher = crate::outbound::Outbound::new(&Default::default()).fetcher(None);
    let custom = config.providers.custom_token.as_ref().unwrap();
    let provider = CustomTokenProvider::new(custom, store, fetcher);
    let private = std::fs::read(fixtures.join("ec_private.pem")).unwrap();
    let token = encode(
        &Header::new(Algorithm::ES256),
        &claims(),
        &EncodingKey::from_ec_pem(&private).unwrap(),
    )
    .unwrap();
    assert!(provider.verify(&token).await.is_ok());
}
