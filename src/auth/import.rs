//! Users brought over from App Services with their ids: the JSON array its Admin API's
//! `GET users` answers, read entry by entry into `ImportUser`s, then written in one store
//! transaction (`Store::import_users`), with a report of what was created, skipped, refused.
//!
//! | export field | kept as |
//! | --- | --- |
//! | `_id` | the user id (24 lowercase hex digits, else the entry is refused) |
//! | `identities[].id`, `provider_type` | an identity the provider finds by that id: `sub` of `custom-token` / `oauth2-*`, the webhook's id of `custom-function`, the key id of `api-key`; `local-userpass` is found by its email (`provider_data.email`, else `data.email`) |
//! | `type`, `disabled`, `data`, `creation_date` | as they are (`type` defaults to `normal`, `creation_date` to now) |
//! | `password_hash` (not App Services': other systems) | argon2id or bcrypt (`$2a$`, `$2b$`, `$2y$`) PHC string, verified at login and rehashed to argon2id then |
//!
//! An email/password user without `password_hash` gets an account that must be reset before
//! its first login (`PasswordResetRequired`). Unknown fields (`last_authentication_date`,
//! `identities[].provider_id`) are ignored.
//!
//! # Security
//! A refused entry's reason never repeats a `password_hash`; reasons go to the admin caller
//! only, never to logs.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::Auth;
use super::userpass::{self, normalize_email};
use crate::error::ApiError;
use crate::store::{ImportOutcome, ImportUser, LocalAccount, NewIdentity, NewUser};

/// Longest provider type name accepted.
const MAX_PROVIDER_LEN: usize = 64;
/// Longest identity id accepted.
const MAX_IDENTITY_ID_LEN: usize = 512;

/// One entry of the export, as App Services writes it (plus `password_hash`).
#[derive(Deserialize)]
struct ExportedUser {
    #[serde(rename = "_id")]
    id: String,
    #[serde(default)]
    identities: Vec<ExportedIdentity>,
    #[serde(rename = "type", default)]
    user_type: Option<String>,
    #[serde(default)]
    disabled: Option<bool>,
    #[serde(default)]
    data: Option<Map<String, Value>>,
    #[serde(default, deserialize_with = "crate::web::whole_number")]
    creation_date: Option<i64>,
    #[serde(default)]
    password_hash: Option<String>,
}

#[derive(Deserialize)]
struct ExportedIdentity {
    id: String,
    provider_type: String,
    #[serde(default)]
    provider_data: Option<Map<String, Value>>,
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReportEntry {
    /// Position in the array, from 0.
    pub index: usize,
    /// The entry's `_id`, when it has a readable one.
    #[serde(rename = "_id", skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// What an import did: every entry is in exactly one list. When anything is refused, nothing
/// was written and `created` is empty.
#[derive(Debug, Default, Serialize)]
pub struct ImportReport {
    pub created: Vec<ReportEntry>,
    pub skipped: Vec<ReportEntry>,
    pub refused: Vec<ReportEntry>,
}

/// A refused import: the error and the report that says why.
#[derive(Debug)]
pub struct ImportRefused {
    pub error: ApiError,
    pub report: Box<ImportReport>,
}

impl From<ApiError> for ImportRefused {
    fn from(error: ApiError) -> Self {
        Self {
            error,
            report: Box::default(),
        }
    }
}

fn refused(index: usize, id: Option<&str>, reason: impl Into<String>) -> ReportEntry {
    ReportEntry {
        index,
        id: id.map(str::to_owned),
        reason: Some(reason.into()),
    }
}

/// Whether `hash` is a PHC string this gateway verifies: argon2id, or bcrypt `$2a$`, `$2b$`,
/// `$2y$` with a cost of 4..=31.
pub fn is_supported_hash(hash: &str) -> bool {
    if hash.starts_with("$argon2id$") {
        return argon2::password_hash::PasswordHash::new(hash)
            .is_ok_and(|parsed| parsed.algorithm.as_str() == "argon2id");
    }
    let Some(rest) = ["$2a$", "$2b$", "$2y$"]
        .iter()
        .find_map(|prefix| hash.strip_prefix(prefix))
    else {
        return false;
    };
    // NN$ + 22 characters of salt + 31 of hash, in bcrypt's base64 alphabet.
    let (cost, digest) = rest.split_at_checked(3).unwrap_or(("", ""));
    let cost_ok = cost
        .strip_suffix('$')
        .and_then(|c| c.parse::<u32>().ok())
        .is_some_and(|c| (4..=31).contains(&c));
    cost_ok
        && digest.len() == 53
        && digest
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'/')
}

/// Reads one entry into an `ImportUser`, or the reason it is malformed.
fn read_entry(raw: &RawValue, now: i64) -> Result<ImportUser, String> {
    let mut deserializer = serde_json::Deserializer::from_str(raw.get());
    let entry: ExportedUser =
        serde_path_to_error::deserialize(&mut deserializer).map_err(|err| {
            match err.path().to_string().as_str() {
                "." => err.inner().to_string(),
                path => format!("{path}: {}", err.inner()),
            }
        })?;
    let user_id = entry.id;
    if !crate::ids::is_object_id(&user_id) || user_id.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err("_id: must be an ObjectId of 24 lowercase hex digits".to_owned());
    }
    let user_type = entry.user_type.unwrap_or_else(|| "normal".to_owned());
    if !matches!(user_type.as_str(), "normal" | "server") {
        return Err(format!(
            "type: {user_type:?} is neither \"normal\" nor \"server\""
        ));
    }
    let created_at = entry.creation_date.unwrap_or(now);
    if created_at < 0 {
        return Err("creation_date: must be seconds since 1970, not negative".to_owned());
    }
    if entry.identities.is_empty() {
        return Err("identities: a user needs at least one identity to log in with".to_owned());
    }
    let data = entry.data.unwrap_or_default();
    let mut identities = Vec::with_capacity(entry.identities.len());
    let mut email = None;
    for (position, identity) in entry.identities.into_iter().enumerate() {
        let at = format!("identities[{position}]");
        let provider = identity.provider_type;
        let provider_ok = !provider.is_empty()
            && provider.len() <= MAX_PROVIDER_LEN
            && provider
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !provider_ok {
            return Err(format!(
                "{at}.provider_type: {provider:?} is not a provider name"
            ));
        }
        if identity.id.is_empty()
            || identity.id.len() > MAX_IDENTITY_ID_LEN
            || identity.id.chars().any(char::is_control)
        {
            return Err(format!(
                "{at}.id: must be 1..={MAX_IDENTITY_ID_LEN} printable characters"
            ));
        }
        let external_id = if provider == userpass::NAME {
            if email.is_some() {
                return Err(format!(
                    "{at}: a user has at most one local-userpass identity"
                ));
            }
            let given = identity
                .provider_data
                .as_ref()
                .and_then(|d| d.get("email"))
                .or_else(|| data.get("email"))
                .and_then(Value::as_str)
                .ok_or_else(|| {
                    format!(
                        "{at}: a local-userpass identity needs provider_data.email or data.email"
                    )
                })?;
            let normalized =
                normalize_email(given).map_err(|_| format!("{at}: the email is not valid"))?;
            email = Some(normalized.clone());
            normalized
        } else {
            identity.id.clone()
        };
        identities.push(NewIdentity {
            id: identity.id,
            user_id: user_id.clone(),
            provider_id: provider.clone(),
            provider_type: provider,
            external_id,
        });
    }
    let account = match (email, entry.password_hash) {
        (None, Some(_)) => {
            return Err(
                "password_hash: only a user with a local-userpass identity has one".to_owned(),
            );
        }
        (None, None) => None,
        (Some(_), Some(hash)) if !is_supported_hash(&hash) => {
            return Err(
                "password_hash: not a supported PHC string (argon2id, or bcrypt $2a$/$2b$/$2y$)"
                    .to_owned(),
            );
        }
        (Some(email), hash) => Some(LocalAccount {
            email,
            user_id: user_id.clone(),
            password_reset_required: hash.is_none(),
            password_hash: hash.unwrap_or_default(),
            // App Services' `GET users` lists confirmed users only.
            confirmed: true,
        }),
    };
    Ok(ImportUser {
        user: NewUser {
            id: user_id,
            user_type,
            data: Value::Object(data),
            created_at,
        },
        disabled: entry.disabled.unwrap_or(false),
        identities,
        account,
    })
}

/// Reads every entry; `Err` lists every malformed one (and every value used twice in the
/// batch), so one run shows everything to fix.
fn read_batch(body: &[u8], now: i64) -> Result<Vec<ImportUser>, ImportRefused> {
    let entries: Vec<&RawValue> = serde_json::from_slice(body).map_err(|err| {
        ApiError::bad_request(format!(
            "expected a JSON array of users (the App Services Admin API `GET users` answer): {err}"
        ))
    })?;
    let mut users = Vec::with_capacity(entries.len());
    let mut bad = Vec::new();
    // Each value that must be unique → the index that used it first.
    let mut first: HashMap<String, usize> = HashMap::new();
    for (index, raw) in entries.iter().enumerate() {
        let user = match read_entry(raw, now) {
            Ok(user) => user,
            Err(reason) => {
                bad.push(refused(index, readable_id(raw).as_deref(), reason));
                continue;
            }
        };
        let mut keys = vec![(format!("user {}", user.user.id), "_id")];
        for identity in &user.identities {
            keys.push((
                format!(
                    "provider {} {}",
                    identity.provider_type, identity.external_id
                ),
                "identity",
            ));
            keys.push((format!("identity id {}", identity.id), "identity id"));
        }
        let duplicate = keys.into_iter().find_map(|(key, what)| {
            let earlier = *first.entry(key).or_insert(index);
            (earlier != index).then_some((what, earlier))
        });
        if let Some((what, earlier)) = duplicate {
            bad.push(refused(
                index,
                Some(&user.user.id),
                format!("{what} already used by entry {earlier} of this batch"),
            ));
            continue;
        }
        users.push(user);
    }
    if bad.is_empty() {
        return Ok(users);
    }
    Err(ImportRefused {
        error: ApiError::import_refused(true, bad.len()),
        report: Box::new(ImportReport {
            refused: bad,
            ..ImportReport::default()
        }),
    })
}

/// The `_id` of an entry that did not read, if it has a string one (for the report).
fn readable_id(raw: &RawValue) -> Option<String> {
    #[derive(Deserialize)]
    struct JustId {
        #[serde(rename = "_id")]
        id: String,
    }
    serde_json::from_str::<JustId>(raw.get())
        .ok()
        .map(|j| j.id)
        .filter(|id| id.len() <= 64)
}

impl Auth {
    /// Imports the App Services `GET users` export in `body` (see the module table): every
    /// entry created or skipped, or nothing written and the report says why.
    pub async fn import_users(&self, body: &[u8]) -> Result<ImportReport, ImportRefused> {
        let users = read_batch(body, crate::ids::now())?;
        let outcomes = self
            .store()
            .import_users(&users)
            .await
            .map_err(ApiError::from)?;
        let mut report = ImportReport::default();
        for (index, (user, outcome)) in users.iter().zip(outcomes).enumerate() {
            let id = Some(user.user.id.clone());
            match outcome {
                ImportOutcome::Created => report.created.push(ReportEntry {
                    index,
                    id,
                    reason: None,
                }),
                ImportOutcome::Skipped => report.skipped.push(ReportEntry {
                    index,
                    id,
                    reason: Some("exists and identical".to_owned()),
                }),
                ImportOutcome::Refused(reason) => report.refused.push(ReportEntry {
                    index,
                    id,
                    reason: Some(reason),
                }),
            }
        }
        if report.refused.is_empty() {
            tracing::info!(
                created = report.created.len(),
                skipped = report.skipped.len(),
                "users imported"
            );
            return Ok(report);
        }
        // Nothing was written: what would have been created is not reported as created.
        let would_create = std::mem::take(&mut report.created).len();
        tracing::info!(
            refused = report.refused.len(),
            would_create,
            "user import refused"
        );
        Err(ImportRefused {
            error: ApiError::import_refused(false, report.refused.len()),
            report: Box::new(report),
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

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
        assert_eq!(refused.error.status, http::StatusCode::BAD_REQUEST);
        assert!(read_batch(b"{\"_id\": 1}", 0).is_err());
        assert!(read_batch(b"[]", 0).unwrap().is_empty());
    }
}
