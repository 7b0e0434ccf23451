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

mod entry;
#[cfg(test)]
mod tests;

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use self::entry::read_entry;
use super::Auth;
use crate::auth::AuthError;
use crate::store::{ImportOutcome, ImportUser};

pub use self::entry::is_supported_hash;

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
    pub error: AuthError,
    pub report: Box<ImportReport>,
}

impl From<AuthError> for ImportRefused {
    fn from(error: AuthError) -> Self {
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

/// Reads every entry; `Err` lists every malformed one (and every value used twice in the
/// batch), so one run shows everything to fix.
fn read_batch(body: &[u8], now: i64) -> Result<Vec<ImportUser>, ImportRefused> {
    let entries: Vec<&RawValue> = serde_json::from_slice(body).map_err(|err| {
        AuthError::bad_request(format!(
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
        error: AuthError::import_refused(true, bad.len()),
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
            .map_err(AuthError::from)?;
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
            error: AuthError::import_refused(false, report.refused.len()),
            report: Box::new(report),
        })
    }
}
