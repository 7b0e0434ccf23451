//! Users and their identities in the store: creation, lookup, linking, listing, disable,
//! delete and the purge of anonymous users, plus the user-row lock that orders every
//! transaction touching a user (`lock_user`).

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::{Dialect, SqlStore, flag, is_unique_violation};
use crate::store::{NewIdentity, NewUser, Store, StoreError, User, UserQuery, rows};

/// Columns selected for a `User` (identities are read separately).
const USER_COLUMNS: &str = "id, user_type, data, disabled, created_at, last_login_at";

/// Inserts an identity inside `conn`'s transaction. `Conflict("identity")` if it is taken.
pub(super) async fn insert_identity(
    conn: &mut AnyConnection,
    identity: &NewIdentity,
    created_at: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO identities (id, user_id, provider_type, provider_id, external_id, created_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&identity.id)
    .bind(&identity.user_id)
    .bind(&identity.provider_type)
    .bind(&identity.provider_id)
    .bind(&identity.external_id)
    .bind(created_at)
    .execute(&mut *conn)
    .await
    .map_err(|err| {
        if is_unique_violation(&err) {
            StoreError::Conflict("identity")
        } else {
            err.into()
        }
    })?;
    Ok(())
}

/// Inserts a new user and its first identity inside `conn`'s transaction.
pub(super) async fn insert_user_and_identity(
    conn: &mut AnyConnection,
    user: &NewUser,
    identity: &NewIdentity,
) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO users (id, user_type, data, created_at) VALUES ($1, $2, $3, $4)")
        .bind(&user.id)
        .bind(&user.user_type)
        .bind(user.data.to_string())
        .bind(user.created_at)
        .execute(&mut *conn)
        .await?;
    insert_identity(conn, identity, user.created_at).await
}

impl SqlStore {
    /// `Store::create_user`.
    pub(super) async fn user_create(
        &self,
        user: &NewUser,
        identity: &NewIdentity,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        insert_user_and_identity(&mut tx, user, identity).await?;
        tx.commit().await?;
        Ok(())
    }

    /// `Store::find_identity`.
    pub(super) async fn identity_owner(
        &self,
        provider_type: &str,
        external_id: &str,
    ) -> Result<Option<String>, StoreError> {
        let row = sqlx::query(
            "SELECT user_id FROM identities WHERE provider_type = $1 AND external_id = $2",
        )
        .bind(provider_type)
        .bind(external_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| r.try_get("user_id")).transpose()?)
    }

    /// `Store::add_identity`.
    pub(super) async fn identity_add(&self, identity: &NewIdentity) -> Result<(), StoreError> {
        let mut conn = self.pool.acquire().await?;
        insert_identity(&mut conn, identity, crate::ids::now()).await
    }

    /// `Store::adopt_pending_user`.
    pub(super) async fn user_adopt_pending(
        &self,
        pending_user_id: &str,
        into_user_id: &str,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        for statement in [
            "UPDATE identities SET user_id = $1 WHERE user_id = $2",
            "UPDATE local_accounts SET user_id = $1 WHERE user_id = $2",
        ] {
            sqlx::query(statement)
                .bind(into_user_id)
                .bind(pending_user_id)
                .execute(&mut *tx)
                .await?;
        }
        // The guard is re-checked by the DELETE itself: a login that happened meanwhile
        // leaves the row in place and the whole move is rolled back.
        let deleted = sqlx::query(
            "DELETE FROM users WHERE id = $1 AND last_login_at IS NULL AND user_type = 'normal'",
        )
        .bind(pending_user_id)
        .execute(&mut *tx)
        .await?;
        if deleted.rows_affected() == 0 {
            tx.rollback().await?;
            return Ok(false);
        }
        tx.commit().await?;
        Ok(true)
    }

    /// `Store::update_user_data`.
    pub(super) async fn user_set_data(
        &self,
        user_id: &str,
        data: &serde_json::Value,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE users SET data = $1 WHERE id = $2")
            .bind(data.to_string())
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// `Store::find_user`.
    pub(super) async fn user_find(&self, user_id: &str) -> Result<Option<User>, StoreError> {
        let row = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"))
            .bind(user_id)
            .fetch_optional(&self.pool)
            .await?;
        match row {
            Some(row) => Ok(Some(self.user_with_identities(&row).await?)),
            None => Ok(None),
        }
    }

    /// `Store::record_login`.
    pub(super) async fn user_record_login(&self, user_id: &str, at: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE users SET last_login_at = $1 WHERE id = $2")
            .bind(at)
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// `Store::list_users`.
    pub(super) async fn users_list(&self, query: &UserQuery) -> Result<Vec<User>, StoreError> {
        // Optional filters as `$n IS NULL OR …`, so one statement serves every combination.
        let rows = sqlx::query(&format!(
            "SELECT {USER_COLUMNS} FROM users u
             WHERE ($1 IS NULL OR u.id > $1)
               AND ($2 IS NULL OR EXISTS (SELECT 1 FROM identities i WHERE i.user_id = u.id AND i.provider_type = $2))
               AND ($3 IS NULL OR EXISTS (SELECT 1 FROM local_accounts a WHERE a.user_id = u.id AND a.email = $3))
             ORDER BY u.id LIMIT $4"
        ))
        .bind(query.after.as_deref())
        .bind(query.provider.as_deref())
        .bind(query.email.as_deref())
        .bind(query.limit)
        .fetch_all(&self.pool)
        .await?;
        let mut users = Vec::with_capacity(rows.len());
        for row in &rows {
            users.push(self.user_with_identities(row).await?);
        }
        Ok(users)
    }

    /// `Store::set_user_disabled`.
    pub(super) async fn user_set_disabled(
        &self,
        user_id: &str,
        disabled: bool,
        at: i64,
    ) -> Result<Option<Vec<String>>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let updated = sqlx::query("UPDATE users SET disabled = $1 WHERE id = $2")
            .bind(flag(disabled))
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        if updated.rows_affected() == 0 {
            return Ok(None);
        }
        let revoked = if disabled {
            self.revoke_live_sessions(&mut tx, user_id, None, at)
                .await?
        } else {
            Vec::new()
        };
        tx.commit().await?;
        Ok(Some(revoked))
    }

    /// `Store::delete_user`.
    pub(super) async fn user_delete(
        &self,
        user_id: &str,
        at: i64,
    ) -> Result<Option<Vec<String>>, StoreError> {
        let mut tx = self.pool.begin().await?;
        if !self.lock_user(&mut tx, user_id).await? {
            return Ok(None);
        }
        let revoked = self
            .revoke_live_sessions(&mut tx, user_id, None, at)
            .await?;
        let deleted = sqlx::query("DELETE FROM users WHERE id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        if deleted.rows_affected() == 0 {
            return Ok(None);
        }
        tx.commit().await?;
        Ok(Some(revoked))
    }

    /// `Store::purge_anonymous_users`.
    pub(super) async fn users_purge_anonymous(
        &self,
        created_before: i64,
        at: i64,
        limit: i64,
    ) -> Result<(usize, Vec<String>), StoreError> {
        let users: Vec<String> = sqlx::query(
            "SELECT u.id FROM users u
             WHERE u.created_at < $1
               AND EXISTS (SELECT 1 FROM identities i WHERE i.user_id = u.id AND i.provider_type = 'anon-user')
               AND NOT EXISTS (SELECT 1 FROM identities i WHERE i.user_id = u.id AND i.provider_type <> 'anon-user')
             ORDER BY u.id
             LIMIT $2",
        )
        .bind(created_before)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|row| row.try_get("id"))
        .collect::<Result<_, _>>()?;
        let mut revoked = Vec::new();
        // Through `Store::delete_user` (and its span), one transaction per user.
        for user_id in &users {
            if let Some(ids) = self.delete_user(user_id, at).await? {
                revoked.extend(ids);
            }
        }
        Ok((users.len(), revoked))
    }

    /// A user row plus its identities.
    async fn user_with_identities(&self, row: &AnyRow) -> Result<User, StoreError> {
        let id: String = row.try_get("id")?;
        let identity_rows = sqlx::query(
            "SELECT id, provider_type, provider_id FROM identities WHERE user_id = $1 ORDER BY created_at, id",
        )
        .bind(&id)
        .fetch_all(&self.pool)
        .await?;
        let data: String = row.try_get("data")?;
        let disabled: i64 = row.try_get("disabled")?;
        Ok(User {
            id,
            user_type: row.try_get("user_type")?,
            data: serde_json::from_str(&data)
                .map_err(|err| StoreError::Corrupt(format!("users.data: {err}")))?,
            disabled: disabled != 0,
            created_at: row.try_get("created_at")?,
            last_login_at: row.try_get("last_login_at")?,
            identities: rows::all(&identity_rows, rows::identity)?,
        })
    }

    /// Locks a user's row for the rest of the transaction (PostgreSQL; SQLite has one writer
    /// anyway). `false`: no such user.
    ///
    /// # Lock order
    /// Every transaction that touches a user and its sessions locks in the same order — the
    /// user row, then the revocation lock, then session rows — so two admin calls on one user
    /// (disable on one replica, delete and logout on another) queue instead of deadlocking.
    async fn lock_user(&self, conn: &mut AnyConnection, user_id: &str) -> Result<bool, StoreError> {
        let found = match self.dialect {
            Dialect::Postgres => sqlx::query("SELECT id FROM users WHERE id = $1 FOR UPDATE")
                .bind(user_id)
                .fetch_optional(&mut *conn)
                .await?
                .is_some(),
            // A write, so the transaction takes SQLite's write lock now (waiting up to
            // busy_timeout) instead of failing to upgrade a read snapshot later.
            Dialect::Sqlite => {
                sqlx::query("UPDATE users SET disabled = disabled WHERE id = $1")
                    .bind(user_id)
                    .execute(&mut *conn)
                    .await?
                    .rows_affected()
                    > 0
            }
        };
        Ok(found)
    }
}
