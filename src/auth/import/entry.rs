//! One entry of an App Services `GET users` export read into an `ImportUser`, or the reason
//! it is malformed (see the table in `auth::import`).

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::auth::userpass::{self, normalize_email};
use crate::store::{ImportUser, LocalAccount, NewIdentity, NewUser};

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
pub(super) fn read_entry(raw: &RawValue, now: i64) -> Result<ImportUser, String> {
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
