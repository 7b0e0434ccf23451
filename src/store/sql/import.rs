//! `SqlStore::import`: users brought over with their own ids (`Store::import_users`).
//!
//! One transaction: what the store already holds is read in chunks (`IN` lists), each entry
//! is decided against it, and the new users are written with multi-row `INSERT`s — only when
//! no entry was refused. Does not validate entries (the caller did) or hash anything.

use std::collections::{BTreeSet, HashMap};

use sqlx::{AnyConnection, Row};

use super::{Dialect, SqlStore, flag, is_unique_violation};
use crate::store::{ImportOutcome, ImportUser, StoreError};

/// Values per `IN (…)` list.
const LOOKUP_CHUNK: usize = 500;
/// Rows per multi-row `INSERT` (at most 6 parameters each: far below both backends' limits).
const INSERT_CHUNK: usize = 200;
/// Advisory lock taken by imports on PostgreSQL, so two imports queue.
const IMPORT_LOCK: i64 = 7_366_128;

/// A user the store holds, as an import compares it.
#[derive(Debug)]
struct Existing {
    user_type: String,
    data: serde_json::Value,
    disabled: bool,
    created_at: i64,
    /// (provider_type, external_id) of every identity.
    identities: BTreeSet<(String, String)>,
    email: Option<String>,
}

/// What the store holds that an import can collide with.
#[derive(Default)]
struct Held {
    users: HashMap<String, Existing>,
    /// (provider_type, external_id) → user id.
    identity_owners: HashMap<(String, String), String>,
    /// identity row id → user id.
    identity_ids: HashMap<String, String>,
    /// email → user id.
    emails: HashMap<String, String>,
}

/// `$first, $first+1, …` for `count` values.
fn placeholders(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|n| format!("${n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl SqlStore {
    pub(super) async fn import(
        &self,
        users: &[ImportUser],
    ) -> Result<Vec<ImportOutcome>, StoreError> {
        let mut tx = self.pool.begin().await?;
        self.lock_for_import(&mut tx).await?;
        let held = self.held(&mut tx, users).await?;
        let outcomes: Vec<ImportOutcome> = users.iter().map(|user| decide(user, &held)).collect();
        if outcomes
            .iter()
            .any(|o| matches!(o, ImportOutcome::Refused(_)))
        {
            tx.rollback().await?;
            return Ok(outcomes);
        }
        let created: Vec<&ImportUser> = users
            .iter()
            .zip(&outcomes)
            .filter(|(_, outcome)| **outcome == ImportOutcome::Created)
            .map(|(user, _)| user)
            .collect();
        insert_users(&mut tx, &created)
            .await
            .map_err(|err| match err {
                // A login created one of these identities or emails since they were read.
                StoreError::Unavailable(ref cause) if is_unique_violation(cause) => {
                    StoreError::Conflict("identity")
                }
                other => other,
            })?;
        tx.commit().await?;
        Ok(outcomes)
    }

    /// Imports run one at a time. SQLite: a write first, so the transaction holds the write
    /// lock before it reads (it cannot fail to upgrade a read snapshot later).
    async fn lock_for_import(&self, conn: &mut AnyConnection) -> Result<(), StoreError> {
        match self.dialect {
            Dialect::Postgres => sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(IMPORT_LOCK),
            Dialect::Sqlite => sqlx::query("UPDATE users SET disabled = disabled WHERE id = ''"),
        }
        .execute(&mut *conn)
        .await?;
        Ok(())
    }

    /// Everything the store holds under the ids, identities and emails of `users`.
    async fn held(
        &self,
        conn: &mut AnyConnection,
        users: &[ImportUser],
    ) -> Result<Held, StoreError> {
        let mut held = Held::default();
        let ids: Vec<&str> = users.iter().map(|u| u.user.id.as_str()).collect();
        for chunk in ids.chunks(LOOKUP_CHUNK) {
            let list = placeholders(1, chunk.len());
            let query_sql = format!(
                "SELECT id, user_type, data, disabled, created_at FROM users WHERE id IN ({list})"
            );
            let mut query = sqlx::query(&query_sql);
            for id in chunk {
                query = query.bind(*id);
            }
            for row in query.fetch_all(&mut *conn).await? {
                let data: String = row.try_get("data")?;
                let disabled: i64 = row.try_get("disabled")?;
                held.users.insert(
                    row.try_get("id")?,
                    Existing {
                        user_type: row.try_get("user_type")?,
                        data: serde_json::from_str(&data)
                            .map_err(|err| StoreError::Corrupt(format!("users.data: {err}")))?,
                        disabled: disabled != 0,
                        created_at: row.try_get("created_at")?,
                        identities: BTreeSet::new(),
                        email: None,
                    },
                );
            }
        }
        let found: Vec<String> = held.users.keys().cloned().collect();
        for chunk in found.chunks(LOOKUP_CHUNK) {
            let list = placeholders(1, chunk.len());
            let identities_sql = format!(
                "SELECT user_id, provider_type, external_id FROM identities WHERE user_id IN ({list})"
            );
            let mut identities = sqlx::query(&identities_sql);
            let accounts_sql =
                format!("SELECT user_id, email FROM local_accounts WHERE user_id IN ({list})");
            let mut accounts = sqlx::query(&accounts_sql);
            for id in chunk {
                identities = identities.bind(id.as_str());
                accounts = accounts.bind(id.as_str());
            }
            for row in identities.fetch_all(&mut *conn).await? {
                let user_id: String = row.try_get("user_id")?;
                if let Some(user) = held.users.get_mut(&user_id) {
                    user.identities
                        .insert((row.try_get("provider_type")?, row.try_get("external_id")?));
                }
            }
            for row in accounts.fetch_all(&mut *conn).await? {
                let user_id: String = row.try_get("user_id")?;
                if let Some(user) = held.users.get_mut(&user_id) {
                    user.email = Some(row.try_get("email")?);
                }
            }
        }
        // Identities by provider, so the (provider_type, external_id) index serves the look-up.
        let mut by_provider: HashMap<&str, Vec<&str>> = HashMap::new();
        for identity in users.iter().flat_map(|u| &u.identities) {
            by_provider
                .entry(identity.provider_type.as_str())
                .or_default()
                .push(identity.external_id.as_str());
        }
        for (provider_type, external_ids) in by_provider {
            for chunk in external_ids.chunks(LOOKUP_CHUNK) {
                let list = placeholders(2, chunk.len());
                let query_sql = format!(
                    "SELECT user_id, external_id FROM identities WHERE provider_type = $1 AND external_id IN ({list})"
                );
                let mut query = sqlx::query(&query_sql).bind(provider_type);
                for external_id in chunk {
                    query = query.bind(*external_id);
                }
                for row in query.fetch_all(&mut *conn).await? {
                    held.identity_owners.insert(
                        (provider_type.to_owned(), row.try_get("external_id")?),
                        row.try_get("user_id")?,
                    );
                }
            }
        }
        let identity_ids: Vec<&str> = users
            .iter()
            .flat_map(|u| &u.identities)
            .map(|i| i.id.as_str())
            .collect();
        for chunk in identity_ids.chunks(LOOKUP_CHUNK) {
            let list = placeholders(1, chunk.len());
            let query_sql = format!("SELECT id, user_id FROM identities WHERE id IN ({list})");
            let mut query = sqlx::query(&query_sql);
            for id in chunk {
                query = query.bind(*id);
            }
            for row in query.fetch_all(&mut *conn).await? {
                held.identity_ids
                    .insert(row.try_get("id")?, row.try_get("user_id")?);
            }
        }
        let emails: Vec<&str> = users
            .iter()
            .filter_map(|u| u.account.as_ref())
            .map(|a| a.email.as_str())
            .collect();
        for chunk in emails.chunks(LOOKUP_CHUNK) {
            let list = placeholders(1, chunk.len());
            let query_sql =
                format!("SELECT email, user_id FROM local_accounts WHERE email IN ({list})");
            let mut query = sqlx::query(&query_sql);
            for email in chunk {
                query = query.bind(*email);
            }
            for row in query.fetch_all(&mut *conn).await? {
                held.emails
                    .insert(row.try_get("email")?, row.try_get("user_id")?);
            }
        }
        Ok(held)
    }
}

/// What to do with one entry, given what the store holds.
fn decide(user: &ImportUser, held: &Held) -> ImportOutcome {
    let id = &user.user.id;
    if let Some(existing) = held.users.get(id) {
        let differs = differences(user, existing);
        return if differs.is_empty() {
            ImportOutcome::Skipped
        } else {
            ImportOutcome::Refused(format!(
                "user {id} exists with a different {}; it was not changed",
                differs.join(", ")
            ))
        };
    }
    for identity in &user.identities {
        let key = (identity.provider_type.clone(), identity.external_id.clone());
        if let Some(owner) = held.identity_owners.get(&key) {
            return ImportOutcome::Refused(format!(
                "identity {} {:?} belongs to user {owner}",
                identity.provider_type, identity.external_id
            ));
        }
        if let Some(owner) = held.identity_ids.get(&identity.id) {
            return ImportOutcome::Refused(format!(
                "identity id {:?} is taken by an identity of user {owner}",
                identity.id
            ));
        }
    }
    if let Some(owner) = user
        .account
        .as_ref()
        .and_then(|account| held.emails.get(&account.email))
    {
        return ImportOutcome::Refused(format!("email is registered to user {owner}"));
    }
    ImportOutcome::Created
}

/// The fields in which the store's user differs from the entry (the password is the user's
/// own once imported, and not compared).
fn differences(user: &ImportUser, existing: &Existing) -> Vec<&'static str> {
    let identities: BTreeSet<(String, String)> = user
        .identities
        .iter()
        .map(|i| (i.provider_type.clone(), i.external_id.clone()))
        .collect();
    let email = user.account.as_ref().map(|a| &a.email);
    [
        (user.user.user_type != existing.user_type, "type"),
        (user.user.created_at != existing.created_at, "creation_date"),
        (user.disabled != existing.disabled, "disabled"),
        (user.user.data != existing.data, "data"),
        (identities != existing.identities, "identities"),
        (email != existing.email.as_ref(), "email"),
    ]
    .into_iter()
    .filter_map(|(differs, field)| differs.then_some(field))
    .collect()
}

/// Writes users, identities and accounts with multi-row `INSERT`s.
async fn insert_users(conn: &mut AnyConnection, users: &[&ImportUser]) -> Result<(), StoreError> {
    for chunk in users.chunks(INSERT_CHUNK) {
        let rows = values(chunk.len(), 5);
        let query_sql =
            format!("INSERT INTO users (id, user_type, data, disabled, created_at) VALUES {rows}");
        let mut query = sqlx::query(&query_sql);
        for user in chunk {
            query = query
                .bind(user.user.id.as_str())
                .bind(user.user.user_type.as_str())
                .bind(user.user.data.to_string())
                .bind(flag(user.disabled))
                .bind(user.user.created_at);
        }
        query.execute(&mut *conn).await?;
    }
    let identities: Vec<(&ImportUser, &crate::store::NewIdentity)> = users
        .iter()
        .flat_map(|user| user.identities.iter().map(move |i| (*user, i)))
        .collect();
    for chunk in identities.chunks(INSERT_CHUNK) {
        let rows = values(chunk.len(), 6);
        let query_sql = format!(
            "INSERT INTO identities (id, user_id, provider_type, provider_id, external_id, created_at) VALUES {rows}"
        );
        let mut query = sqlx::query(&query_sql);
        for (user, identity) in chunk {
            query = query
                .bind(identity.id.as_str())
                .bind(identity.user_id.as_str())
                .bind(identity.provider_type.as_str())
                .bind(identity.provider_id.as_str())
                .bind(identity.external_id.as_str())
                .bind(user.user.created_at);
        }
        query.execute(&mut *conn).await?;
    }
    let accounts: Vec<&crate::store::LocalAccount> =
        users.iter().filter_map(|u| u.account.as_ref()).collect();
    for chunk in accounts.chunks(INSERT_CHUNK) {
        let rows = values(chunk.len(), 5);
        let query_sql = format!(
            "INSERT INTO local_accounts (email, user_id, password_hash, confirmed, password_reset_required) VALUES {rows}"
        );
        let mut query = sqlx::query(&query_sql);
        for account in chunk {
            query = query
                .bind(account.email.as_str())
                .bind(account.user_id.as_str())
                .bind(account.password_hash.as_str())
                .bind(flag(account.confirmed))
                .bind(flag(account.password_reset_required));
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

/// `($1, …, $width), ($width+1, …)` for `rows` rows.
fn values(rows: usize, width: usize) -> String {
    (0..rows)
        .map(|row| format!("({})", placeholders(row * width + 1, width)))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_number_rows_in_order() {
        assert_eq!(placeholders(2, 3), "$2, $3, $4");
        assert_eq!(values(2, 3), "($1, $2, $3), ($4, $5, $6)");
    }
}
