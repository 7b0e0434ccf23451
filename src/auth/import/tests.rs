use serde_json::json;

use serde_json::Value;

use super::*;

const BCRYPT: &str = "$2b$04$EGdrhbKUv8Oc9vGiXX0HQOxSg445d458Muh7DAHskb6QbtCvdxcie";

fn read(value: Value) -> Result<ImportUser, String> {
    let text = value.to_string();
    let raw: &RawValue = serde_json::from_str(&text).unwrap();
    read_entry(raw, 1_700_000_000)
}

#[test]
fn an_app_services_email_user_keeps_id_and_needs_a_reset() {
    let user = read(json!({
        "_id": "651fa006b15a534c69b119ef",
        "identities": [{"id": "651fa00670520a4a104be176", "provider_type": "local-userpass",
            "provider_id": "631ee3eb123b64e8db254720", "provider_data": {"email": "K2@k.com"}}],
        "data": {"email": "k2@k.com"},
        "type": "normal",
        "creation_date": 1_696_571_398,
        "last_authentication_date": 1_696_571_398,
        "disabled": false
    }))
    .unwrap();
    assert_eq!(user.user.id, "651fa006b15a534c69b119ef");
    assert_eq!(user.user.created_at, 1_696_571_398);
    assert_eq!(user.identities[0].id, "651fa00670520a4a104be176");
    assert_eq!(user.identities[0].external_id, "k2@k.com");
    let account = user.account.unwrap();
    assert!(account.password_reset_required);
    assert!(account.password_hash.is_empty());
    assert!(account.confirmed);
}

#[test]
fn other_providers_are_found_by_their_identity_id() {
    let user = read(json!({
        "_id": "5e43ddcc636ee106eaa12bda",
        "identities": [{"id": "google-sub-1", "provider_type": "oauth2-google"},
                       {"id": "ext-7", "provider_type": "custom-token"}],
    }))
    .unwrap();
    let found: Vec<_> = user
        .identities
        .iter()
        .map(|i| (i.provider_type.as_str(), i.external_id.as_str()))
        .collect();
    assert_eq!(
        found,
        [("oauth2-google", "google-sub-1"), ("custom-token", "ext-7")]
    );
    assert_eq!(user.user.created_at, 1_700_000_000);
    assert!(user.account.is_none());
}

#[test]
fn malformed_entries_say_which_field() {
    let cases = [
        (json!({"_id": "not-hex", "identities": []}), "_id"),
        (json!({"identities": []}), "_id"),
        (
            json!({"_id": "651FA006B15A534C69B119EF", "identities": [{"id": "a", "provider_type": "anon-user"}]}),
            "_id",
        ),
        (
            json!({"_id": "651fa006b15a534c69b119ef", "identities": []}),
            "identities",
        ),
        (
            json!({"_id": "651fa006b15a534c69b119ef", "identities": [{"id": 5, "provider_type": "anon-user"}]}),
            "identities[0].id",
        ),
        (
            json!({"_id": "651fa006b15a534c69b119ef", "type": "admin", "identities": [{"id": "a", "provider_type": "anon-user"}]}),
            "type",
        ),
        (
            json!({"_id": "651fa006b15a534c69b119ef", "identities": [{"id": "a", "provider_type": "local-userpass"}]}),
            "email",
        ),
        (
            json!({"_id": "651fa006b15a534c69b119ef", "password_hash": BCRYPT, "identities": [{"id": "a", "provider_type": "anon-user"}]}),
            "password_hash",
        ),
        (
            json!({"_id": "651fa006b15a534c69b119ef", "creation_date": 1.5, "identities": [{"id": "a", "provider_type": "anon-user"}]}),
            "creation_date",
        ),
    ];
    for (entry, field) in cases {
        let reason = read(entry.clone()).map(|_| ()).unwrap_err();
        assert!(reason.contains(field), "{entry}: {reason}");
    }
}

#[test]
fn only_argon2id_and_bcrypt_hashes_are_accepted_and_never_echoed() {
    assert!(is_supported_hash(BCRYPT));
    assert!(is_supported_hash(&BCRYPT.replacen("$2b$", "$2y$", 1)));
    assert!(is_supported_hash(
        "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaA"
    ));
    for bad in [
        "$argon2i$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
        "$2x$04$EGdrhbKUv8Oc9vGiXX0HQOxSg445d458Muh7DAHskb6QbtCvdxcie",
        "$2b$99$EGdrhbKUv8Oc9vGiXX0HQOxSg445d458Muh7DAHskb6QbtCvdxcie",
        "$2b$04$short",
        "plaintext-password",
        "",
    ] {
        assert!(!is_supported_hash(bad), "{bad}");
    }
    let secret = "$pbkdf2-sha256$29000$c2FsdA$aGFzaA";
    let reason = read(json!({
        "_id": "651fa006b15a534c69b119ef", "password_hash": secret,
        "identities": [{"id": "a", "provider_type": "local-userpass", "provider_data": {"email": "a@b.c"}}],
    }))
    .map(|_| ())
    .unwrap_err();
    assert!(!reason.contains(secret), "{reason}");
}

#[test]
fn a_batch_lists_every_bad_entry_and_duplicates() {
    let body = json!([
        {"_id": "651fa006b15a534c69b119e1", "identities": [{"id": "x", "provider_type": "custom-token"}]},
        {"_id": "bad", "identities": [{"id": "y", "provider_type": "custom-token"}]},
        {"_id": "651fa006b15a534c69b119e1", "identities": [{"id": "z", "provider_type": "custom-token"}]},
        {"_id": "651fa006b15a534c69b119e3", "identities": [{"id": "x", "provider_type": "custom-token"}]},
        7
    ])
    .to_string();
    let refused = read_batch(body.as_bytes(), 0).unwrap_err();
    let indexes: Vec<usize> = refused.report.refused.iter().map(|e| e.index).collect();
    assert_eq!(indexes, [1, 2, 3, 4]);
    assert_eq!(refused.report.refused[0].id.as_deref(), Some("bad"));
    assert!(
        refused.report.refused[1]
            .reason
            .as_deref()
            .unwrap()
            .contains("entry 0"),
        "{:?}",
        refused.report.refused[1]
    );
    let answered = crate::error::ApiError::from(refused.error);
    assert_eq!(answered.status, http::StatusCode::BAD_REQUEST);
    assert!(read_batch(b"{\"_id\": 1}", 0).is_err());
    assert!(read_batch(b"[]", 0).unwrap().is_empty());
}
