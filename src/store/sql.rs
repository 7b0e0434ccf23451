//! `SqlStore`: the one implementation of `Store`, over sqlx's `Any` driver, for SQLite and
//! PostgreSQL alike. Queries use `$n` parameters and portable SQL; the few differences are
//! `Dialect` branches. Connecting, migrations and notifications live in `sqlite` and `postgres`.
//!
//! Booleans are stored as integers 0/1 so both backends decode them the same way. The user
//! import is in `sql/import.rs`, the session cap in `sql/cap.rs`, refresh-token rotation in
//! `sql/rotation.rs`.

mod cap;
mod import;
mod outbox;
mod rotation;
pub(super) mod throttle;

use std::sync::Arc;

use async_trait::async_trait;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AnyPool, Row};
use tokio::sync::Notify;
use tracing::instrument;

use super::rows::{self, LOCAL_ACCOUNT_COLUMNS, SESSION_COLUMNS};
use super::{
    ApiKeyRecord, ClaimedEvent, ImportOutcome, ImportUser, LocalAccount, NewIdentity, NewSession,
    NewUser, OutboxEvent, Revocation, RotatedToken, Session, SessionStart, SigningKeyRecord, Store,
    StoreError, User, UserQuery, UserTokenKind, UserTokenRecord,
};
use throttle::{ThrottleHit, ThrottleRules, ThrottleState};

/// Which SQL dialect the pool speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

pub struct SqlStore {
    pool: AnyPool,
    dialect: Dialect,
    /// Pinged when another process recorded a revocation (PostgreSQL `LISTEN`).
    revocation_signal: Option<Arc<Notify>>,
}

impl SqlStore {
    pub(super) fn new(
        pool: AnyPool,
        dialect: Dialect,
        revocation_signal: Option<Arc<Notify>>,
    ) -> Self {
        Self {
            pool,
            dialect,
            revocation_signal,
        }
    }
}

fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.is_unique_violation())
}

fn flag(value: bool) -> i64 {
    i64::from(value)
}

const API_KEY_COLUMNS: &str = "id, user_id, name, key_hash, disabled, created_at";

async fn insert_identity(
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

async fn insert_user_and_identity(
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

async fn insert_session(conn: &mut AnyConnection, session: &NewSession) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO sessions (id, user_id, provider_type, device_id, refresh_hash, client_ip, user_agent, created_at, last_used_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9)",
    )
    .bind(&session.id)
    .bind(&session.user_id)
    .bind(&session.provider_type)
    .bind(&session.device_id)
    .bind(&session.refresh_hash)
    .bind(&session.client_ip)
    .bind(&session.user_agent)
    .bind(session.created_at)
    .bind(session.expires_at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The settings key `/readyz` upserts to prove writes work.
const HEARTBEAT_SETTING: &str = "readyz_heartbeat";

/// Columns selected for a `User` (identities are read separately).
const USER_COLUMNS: &str = "id, user_type, data, disabled, created_at, last_login_at";

/// `last_used_at` only moves forward.
const TOUCH_SESSION: &str = "UPDATE sessions SET last_used_at = CASE WHEN last_used_at < $1 THEN $1 ELSE last_used_at END WHERE id = $2";

impl SqlStore {
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

    /// Revokes a user's live sessions (but `keep`) inside `conn`'s transaction, recording and
    /// announcing each revocation.
    async fn revoke_live_sessions(
        &self,
        conn: &mut AnyConnection,
        user_id: &str,
        keep: Option<&str>,
        at: i64,
    ) -> Result<Vec<String>, StoreError> {
        self.lock_revocations(conn).await?;
        let ids: Vec<String> = sqlx::query(
            "UPDATE sessions SET revoked_at = $1
             WHERE user_id = $2 AND revoked_at IS NULL AND ($3 IS NULL OR id <> $3)
             RETURNING id",
        )
        .bind(at)
        .bind(user_id)
        .bind(keep)
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|row| row.try_get("id"))
        .collect::<Result<_, _>>()?;
        for id in &ids {
            self.record_revocation(conn, id, user_id, at).await?;
        }
        if !ids.is_empty() {
            self.announce_revocations(conn).await?;
        }
        Ok(ids)
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

    /// Serializes revocation writers on PostgreSQL so sequence numbers commit in order (a
    /// reader that saw seq N never later finds a committed N-1). SQLite has one writer anyway.
    async fn lock_revocations(&self, conn: &mut AnyConnection) -> Result<(), StoreError> {
        if self.dialect == Dialect::Postgres {
            sqlx::query("SELECT pg_advisory_xact_lock(7366127)")
                .execute(&mut *conn)
                .await?;
        }
        Ok(())
    }

    /// Wakes other replicas' listeners when the transaction commits.
    async fn announce_revocations(&self, conn: &mut AnyConnection) -> Result<(), StoreError> {
        if self.dialect == Dialect::Postgres {
            sqlx::query("SELECT pg_notify($1, '')")
                .bind(super::postgres::REVOCATION_CHANNEL)
                .execute(&mut *conn)
                .await?;
        }
        Ok(())
    }

    async fn record_revocation(
        &self,
        conn: &mut AnyConnection,
        session_id: &str,
        user_id: &str,
        at: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO revocations (session_id, user_id, revoked_at, committed_at_ms) VALUES ($1, $2, $3, $4)",
        )
        .bind(session_id)
        .bind(user_id)
        .bind(at)
        // Read just before the commit: the start of the propagation other replicas measure.
        .bind(crate::ids::now_ms())
        .execute(&mut *conn)
        .await?;
        Ok(())
    }
}

#[async_trait]
impl Store for SqlStore {
    fn backend(&self) -> &'static str {
        match self.dialect {
            Dialect::Sqlite => "sqlite",
            Dialect::Postgres => "postgres",
        }
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn probe_write(&self, at: i64) -> Result<(), StoreError> {
        self.put_setting(HEARTBEAT_SETTING, &at.to_string()).await
    }

    async fn close(&self) {
        self.pool.close().await;
    }

    fn revocation_signal(&self) -> Option<Arc<Notify>> {
        self.revocation_signal.clone()
    }

    #[instrument(skip_all, fields(user_id = %user.id))]
    async fn create_user(&self, user: &NewUser, identity: &NewIdentity) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        insert_user_and_identity(&mut tx, user, identity).await?;
        tx.commit().await?;
        Ok(())
    }

    #[instrument(skip_all, fields(user_id = %user.id))]
    async fn create_local_user(
        &self,
        user: &NewUser,
        identity: &NewIdentity,
        account: &LocalAccount,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        insert_user_and_identity(&mut tx, user, identity)
            .await
            .map_err(|err| match err {
                StoreError::Conflict(_) => StoreError::Conflict("email"),
                other => other,
            })?;
        sqlx::query("INSERT INTO local_accounts (email, user_id, password_hash, confirmed, password_reset_required) VALUES ($1, $2, $3, $4, $5)")
            .bind(&account.email)
            .bind(&account.user_id)
            .bind(&account.password_hash)
            .bind(flag(account.confirmed))
            .bind(flag(account.password_reset_required))
            .execute(&mut *tx)
            .await
            .map_err(|err| if is_unique_violation(&err) { StoreError::Conflict("email") } else { err.into() })?;
        tx.commit().await?;
        Ok(())
    }

    async fn find_identity(
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

    #[instrument(skip_all, fields(user_id = %identity.user_id))]
    async fn add_identity(&self, identity: &NewIdentity) -> Result<(), StoreError> {
        let mut conn = self.pool.acquire().await?;
        insert_identity(&mut conn, identity, crate::ids::now()).await
    }

    #[instrument(skip_all, fields(pending_user_id, into_user_id))]
    async fn adopt_pending_user(
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

    #[instrument(skip_all, fields(user_id))]
    async fn update_user_data(
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

    #[instrument(skip_all, fields(user_id = %key.user_id))]
    async fn create_api_key(&self, key: &ApiKeyRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO api_keys (id, user_id, name, key_hash, disabled, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&key.id)
        .bind(&key.user_id)
        .bind(&key.name)
        .bind(&key.key_hash)
        .bind(flag(key.disabled))
        .bind(key.created_at)
        .execute(&self.pool)
        .await
        .map_err(|err| if is_unique_violation(&err) { StoreError::Conflict("api key") } else { err.into() })?;
        Ok(())
    }

    #[instrument(skip_all, fields(user_id))]
    async fn list_api_keys(&self, user_id: &str) -> Result<Vec<ApiKeyRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {API_KEY_COLUMNS} FROM api_keys WHERE user_id = $1 ORDER BY created_at, id"
        ))
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows::all(&rows, rows::api_key)?)
    }

    #[instrument(skip_all)]
    async fn find_api_key_by_hash(&self, hash: &[u8]) -> Result<Option<ApiKeyRecord>, StoreError> {
        let row: Option<AnyRow> = sqlx::query(&format!(
            "SELECT {API_KEY_COLUMNS} FROM api_keys WHERE key_hash = $1"
        ))
        .bind(hash.to_vec())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(rows::api_key).transpose()?)
    }

    #[instrument(skip_all, fields(user_id, key_id))]
    async fn set_api_key_disabled(
        &self,
        user_id: &str,
        key_id: &str,
        disabled: bool,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE api_keys SET disabled = $1 WHERE user_id = $2 AND id = $3")
            .bind(flag(disabled))
            .bind(user_id)
            .bind(key_id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    #[instrument(skip_all, fields(user_id, key_id))]
    async fn delete_api_key(&self, user_id: &str, key_id: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM api_keys WHERE user_id = $1 AND id = $2")
            .bind(user_id)
            .bind(key_id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    #[instrument(skip_all)]
    async fn create_user_token(&self, token: &UserTokenRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO user_tokens (id, kind, email, token_hash, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&token.id)
        .bind(token.kind.as_str())
        .bind(&token.email)
        .bind(&token.token_hash)
        .bind(token.created_at)
        .bind(token.expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    #[instrument(skip_all)]
    async fn consume_user_token(
        &self,
        kind: UserTokenKind,
        id: &str,
        hash: &[u8],
        now: i64,
    ) -> Result<Option<String>, StoreError> {
        // DELETE … RETURNING: single use even under concurrent attempts.
        let row = sqlx::query(
            "DELETE FROM user_tokens WHERE id = $1 AND kind = $2 AND token_hash = $3 RETURNING email, expires_at",
        )
        .bind(id)
        .bind(kind.as_str())
        .bind(hash.to_vec())
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let expires_at: i64 = row.try_get("expires_at")?;
        Ok((expires_at > now)
            .then(|| row.try_get("email"))
            .transpose()?)
    }

    #[instrument(skip_all)]
    async fn confirm_local_account(&self, email: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE local_accounts SET confirmed = 1 WHERE email = $1")
            .bind(email)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    #[instrument(skip_all)]
    async fn set_local_password(
        &self,
        email: &str,
        password_hash: &str,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE local_accounts SET password_hash = $1, password_reset_required = 0 WHERE email = $2",
        )
            .bind(password_hash)
            .bind(email)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    #[instrument(skip_all)]
    async fn rehash_local_password(
        &self,
        email: &str,
        old_hash: &str,
        new_hash: &str,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE local_accounts SET password_hash = $1 WHERE email = $2 AND password_hash = $3",
        )
        .bind(new_hash)
        .bind(email)
        .bind(old_hash)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    #[instrument(skip_all, fields(users = users.len()))]
    async fn import_users(&self, users: &[ImportUser]) -> Result<Vec<ImportOutcome>, StoreError> {
        self.import(users).await
    }

    #[instrument(skip_all, fields(user_id))]
    async fn find_user(&self, user_id: &str) -> Result<Option<User>, StoreError> {
        let row = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"))
            .bind(user_id)
            .fetch_optional(&self.pool)
            .await?;
        match row {
            Some(row) => Ok(Some(self.user_with_identities(&row).await?)),
            None => Ok(None),
        }
    }

    #[instrument(skip_all)]
    async fn find_local_account(&self, email: &str) -> Result<Option<LocalAccount>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {LOCAL_ACCOUNT_COLUMNS} FROM local_accounts WHERE email = $1"
        ))
        .bind(email)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(rows::local_account).transpose()?)
    }

    #[instrument(skip_all, fields(user_id))]
    async fn record_login(&self, user_id: &str, at: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE users SET last_login_at = $1 WHERE id = $2")
            .bind(at)
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    #[instrument(skip_all, fields(session_id = %session.id, user_id = %session.user_id))]
    async fn create_session(&self, session: &NewSession) -> Result<(), StoreError> {
        let mut conn = self.pool.acquire().await?;
        insert_session(&mut conn, session).await
    }

    #[instrument(skip_all, fields(session_id = %start.session.id, user_id = %start.session.user_id))]
    async fn start_session(&self, start: &SessionStart) -> Result<Vec<String>, StoreError> {
        let session = &start.session;
        let mut tx = self.pool.begin().await?;
        if let Some((user, identity)) = &start.new_user {
            insert_user_and_identity(&mut tx, user, identity).await?;
        }
        // The user row first (lock order, see `lock_user`): the login stamp and data, then
        // the identity and session rows that refer to it.
        let stamped = sqlx::query(
            "UPDATE users SET last_login_at = $1, data = COALESCE($2, data) WHERE id = $3",
        )
        .bind(session.created_at)
        .bind(start.user_data.as_ref().map(ToString::to_string))
        .bind(&session.user_id)
        .execute(&mut *tx)
        .await?;
        if stamped.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        if let Some(identity) = &start.new_identity {
            insert_identity(&mut tx, identity, session.created_at).await?;
        }
        let evicted = match &start.cap {
            Some(cap) => {
                self.enforce_cap(&mut tx, &session.user_id, cap, session.created_at)
                    .await?
            }
            None => Vec::new(),
        };
        insert_session(&mut tx, session).await?;
        tx.commit().await?;
        Ok(evicted)
    }

    #[instrument(skip_all, fields(session_id))]
    async fn rotate_refresh_token(
        &self,
        session_id: &str,
        old_hash: &[u8],
        new_hash: &[u8],
        at_ms: i64,
    ) -> Result<bool, StoreError> {
        self.rotate(session_id, old_hash, new_hash, at_ms).await
    }

    #[instrument(skip_all)]
    async fn find_rotated_refresh_token(
        &self,
        hash: &[u8],
    ) -> Result<Option<RotatedToken>, StoreError> {
        self.rotated(hash).await
    }

    #[instrument(skip_all)]
    async fn find_session_by_refresh_hash(
        &self,
        hash: &[u8],
    ) -> Result<Option<Session>, StoreError> {
        let row: Option<AnyRow> = sqlx::query(&format!(
            "SELECT {SESSION_COLUMNS} FROM sessions WHERE refresh_hash = $1"
        ))
        .bind(hash.to_vec())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(rows::session).transpose()?)
    }

    #[instrument(skip_all, fields(session_id))]
    async fn find_session(&self, session_id: &str) -> Result<Option<Session>, StoreError> {
        let row: Option<AnyRow> = sqlx::query(&format!(
            "SELECT {SESSION_COLUMNS} FROM sessions WHERE id = $1"
        ))
        .bind(session_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(rows::session).transpose()?)
    }

    #[instrument(skip_all, fields(session_id))]
    async fn touch_session(&self, session_id: &str, at: i64) -> Result<(), StoreError> {
        sqlx::query(TOUCH_SESSION)
            .bind(at)
            .bind(session_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    #[instrument(skip_all, fields(session_id))]
    async fn revoke_session(&self, session_id: &str, at: i64) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        self.lock_revocations(&mut tx).await?;
        let revoked = sqlx::query("UPDATE sessions SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL RETURNING user_id")
            .bind(at)
            .bind(session_id)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(row) = revoked else {
            return Ok(false);
        };
        let user_id: String = row.try_get("user_id")?;
        self.record_revocation(&mut tx, session_id, &user_id, at)
            .await?;
        self.announce_revocations(&mut tx).await?;
        tx.commit().await?;
        Ok(true)
    }

    #[instrument(skip_all, fields(user_id))]
    async fn revoke_user_sessions(
        &self,
        user_id: &str,
        keep: Option<&str>,
        at: i64,
    ) -> Result<Vec<String>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let ids = self
            .revoke_live_sessions(&mut tx, user_id, keep, at)
            .await?;
        tx.commit().await?;
        Ok(ids)
    }

    #[instrument(skip_all, fields(user_id))]
    async fn list_sessions(&self, user_id: &str) -> Result<Vec<Session>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {SESSION_COLUMNS} FROM sessions WHERE user_id = $1 ORDER BY created_at DESC, id DESC"
        ))
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows::all(&rows, rows::session)?)
    }

    async fn touch_sessions(&self, touches: &[(String, i64)]) -> Result<(), StoreError> {
        if touches.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await?;
        for (session_id, at) in touches {
            sqlx::query(TOUCH_SESSION)
                .bind(*at)
                .bind(session_id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    #[instrument(skip_all)]
    async fn list_users(&self, query: &UserQuery) -> Result<Vec<User>, StoreError> {
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

    #[instrument(skip_all, fields(user_id))]
    async fn set_user_disabled(
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

    #[instrument(skip_all, fields(user_id))]
    async fn delete_user(&self, user_id: &str, at: i64) -> Result<Option<Vec<String>>, StoreError> {
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

    async fn create_grant(
        &self,
        hash: &[u8],
        user_id: &str,
        created_at: i64,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO grants (grant_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)")
            .bind(hash.to_vec())
            .bind(user_id)
            .bind(created_at)
            .bind(expires_at)
            .execute(&self.pool)
            .await
            .map_err(|err| if is_unique_violation(&err) { StoreError::Conflict("grant") } else { err.into() })?;
        Ok(())
    }

    async fn consume_grant(&self, hash: &[u8], now: i64) -> Result<Option<String>, StoreError> {
        // DELETE … RETURNING: of two concurrent exchanges exactly one gets the row.
        let row =
            sqlx::query("DELETE FROM grants WHERE grant_hash = $1 RETURNING user_id, expires_at")
                .bind(hash.to_vec())
                .fetch_optional(&self.pool)
                .await?;
        let Some(row) = row else { return Ok(None) };
        let expires_at: i64 = row.try_get("expires_at")?;
        Ok((expires_at > now)
            .then(|| row.try_get("user_id"))
            .transpose()?)
    }

    #[instrument(skip_all)]
    async fn purge_anonymous_users(
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
        for user_id in &users {
            if let Some(ids) = self.delete_user(user_id, at).await? {
                revoked.extend(ids);
            }
        }
        Ok((users.len(), revoked))
    }

    #[instrument(skip_all)]
    async fn purge_expired(&self, before: i64, now: i64) -> Result<u64, StoreError> {
        let sessions = sqlx::query("DELETE FROM sessions WHERE expires_at < $1 OR revoked_at < $1")
            .bind(before)
            .execute(&self.pool)
            .await?;
        sqlx::query("DELETE FROM grants WHERE expires_at < $1")
            .bind(now)
            .execute(&self.pool)
            .await?;
        sqlx::query("DELETE FROM revocations WHERE revoked_at < $1")
            .bind(before)
            .execute(&self.pool)
            .await?;
        Ok(sessions.rows_affected())
    }

    #[instrument(skip_all, fields(after))]
    async fn revocations_since(
        &self,
        after: i64,
        limit: i64,
    ) -> Result<Vec<Revocation>, StoreError> {
        let rows = sqlx::query("SELECT seq, session_id, user_id, revoked_at, committed_at_ms FROM revocations WHERE seq > $1 ORDER BY seq LIMIT $2")
            .bind(after)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows::all(&rows, rows::revocation)?)
    }

    async fn last_revocation_seq(&self) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT COALESCE(MAX(seq), 0) AS seq FROM revocations")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get("seq")?)
    }

    async fn get_setting(&self, key: &str) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT value FROM settings WHERE key = $1")
            .bind(key)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.try_get("value")).transpose()?)
    }

    async fn put_setting(&self, key: &str, value: &str) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value")
            .bind(key)
            .bind(value)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn setting_or_insert(&self, key: &str, value: &str) -> Result<String, StoreError> {
        self.insert_setting_once(key, value).await
    }

    async fn signing_keys(&self) -> Result<Vec<SigningKeyRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT kid, algorithm, secret, created_at, active_from FROM signing_keys ORDER BY active_from, created_at, kid",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows::all(&rows, rows::signing_key)?)
    }

    async fn insert_signing_key(&self, key: &SigningKeyRecord) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO signing_keys (kid, algorithm, secret, created_at, active_from) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (kid) DO NOTHING")
            .bind(&key.kid)
            .bind(&key.algorithm)
            .bind(&key.secret)
            .bind(key.created_at)
            .bind(key.active_from)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    #[instrument(skip_all, fields(keys = keys.len()))]
    async fn throttle_states(&self, keys: &[String]) -> Result<Vec<ThrottleState>, StoreError> {
        self.throttle_read(keys).await
    }

    #[instrument(skip_all, fields(keys = hits.len()))]
    async fn throttle_failures(
        &self,
        hits: &[ThrottleHit],
        rules: &ThrottleRules,
        now: i64,
    ) -> Result<Vec<ThrottleState>, StoreError> {
        self.throttle_count(hits, rules, now).await
    }

    #[instrument(skip_all)]
    async fn throttle_known(
        &self,
        key: &str,
        rules: &ThrottleRules,
        now: i64,
    ) -> Result<(), StoreError> {
        self.throttle_success(key, rules, now).await
    }

    #[instrument(skip_all)]
    async fn purge_throttle(
        &self,
        idle_before: i64,
        now: i64,
        known_before: i64,
    ) -> Result<u64, StoreError> {
        self.throttle_purge(idle_before, now, known_before).await
    }

    #[instrument(skip_all, fields(kid = %kid))]
    async fn delete_signing_key(&self, kid: &str) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let deleted = sqlx::query("DELETE FROM signing_keys WHERE kid = $1")
            .bind(kid)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if deleted > 0 {
            // Replicas reload their keys whenever the revocation channel wakes them.
            self.announce_revocations(&mut tx).await?;
        }
        tx.commit().await?;
        Ok(deleted > 0)
    }

    #[instrument(skip_all, fields(event_id = %event.id))]
    async fn enqueue_event(&self, event: &OutboxEvent) -> Result<(), StoreError> {
        self.outbox_enqueue(event).await
    }

    async fn claim_events(
        &self,
        owner: &str,
        now: i64,
        lease_until: i64,
        limit: i64,
    ) -> Result<Vec<ClaimedEvent>, StoreError> {
        self.outbox_claim(owner, now, lease_until, limit).await
    }

    async fn finish_event(&self, seq: i64, at: i64, dropped: bool) -> Result<(), StoreError> {
        self.outbox_finish(seq, at, dropped).await
    }

    async fn retry_event(
        &self,
        seq: i64,
        owner: &str,
        next_attempt_at: i64,
        error: &str,
    ) -> Result<bool, StoreError> {
        self.outbox_retry(seq, owner, next_attempt_at, error).await
    }

    async fn release_events(&self, owner: &str) -> Result<u64, StoreError> {
        self.outbox_release(owner).await
    }

    async fn pending_events(&self) -> Result<i64, StoreError> {
        self.outbox_pending().await
    }

    async fn purge_events(&self, done_before: i64, limit: i64) -> Result<u64, StoreError> {
        self.outbox_purge(done_before, limit).await
    }
}
