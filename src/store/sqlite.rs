//! `SqliteStore`: the embedded default backend. One file, WAL mode, created and migrated on
//! first start.
//!
//! Does not support several gateway processes writing one file over a network share; use
//! PostgreSQL for replicas.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::Row;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use tracing::instrument;

use super::{
    LocalAccount, NewIdentity, NewSession, NewUser, Revocation, Session, SigningKeyRecord, Store,
    StoreError, User, UserIdentity, migrations,
};

pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `url` (`sqlite://PATH` or `sqlite::memory:`)
    /// and applies the embedded migrations.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        if let Some(parent) = options.get_filename().parent() {
            if !parent.as_os_str().is_empty() {
                std::fs::create_dir_all(parent)
                    .map_err(|err| StoreError::Unavailable(sqlx::Error::Io(err)))?;
            }
        }
        // Every connection to `:memory:` is its own database: keep one.
        let max_connections = if url.contains(":memory:") { 1 } else { 8 };
        let pool = SqlitePoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options)
            .await?;
        migrations::sqlite()
            .run(&pool)
            .await
            .map_err(|err| StoreError::Unavailable(sqlx::Error::Migrate(Box::new(err))))?;
        Ok(Self { pool })
    }
}

fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.is_unique_violation())
}

fn session_from_row(row: &SqliteRow) -> Result<Session, sqlx::Error> {
    Ok(Session {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        provider_type: row.try_get("provider_type")?,
        device_id: row.try_get("device_id")?,
        client_ip: row.try_get("client_ip")?,
        user_agent: row.try_get("user_agent")?,
        created_at: row.try_get("created_at")?,
        last_used_at: row.try_get("last_used_at")?,
        expires_at: row.try_get("expires_at")?,
        revoked_at: row.try_get("revoked_at")?,
    })
}

const SESSION_COLUMNS: &str = "id, user_id, provider_type, device_id, client_ip, user_agent, created_at, last_used_at, expires_at, revoked_at";

async fn insert_user_and_identity(
    tx: &mut sqlx::SqliteConnection,
    user: &NewUser,
    identity: &NewIdentity,
) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO users (id, user_type, data, created_at) VALUES (?, ?, ?, ?)")
        .bind(&user.id)
        .bind(&user.user_type)
        .bind(user.data.to_string())
        .bind(user.created_at)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO identities (id, user_id, provider_type, provider_id, external_id, created_at) VALUES (?, ?, ?, ?, ?, ?)",
    )
    .bind(&identity.id)
    .bind(&identity.user_id)
    .bind(&identity.provider_type)
    .bind(&identity.provider_id)
    .bind(&identity.external_id)
    .bind(user.created_at)
    .execute(&mut *tx)
    .await
    .map_err(|err| if is_unique_violation(&err) { StoreError::Conflict("identity") } else { err.into() })?;
    Ok(())
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn close(&self) {
        self.pool.close().await;
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
        sqlx::query("INSERT INTO local_accounts (email, user_id, password_hash, confirmed) VALUES (?, ?, ?, ?)")
            .bind(&account.email)
            .bind(&account.user_id)
            .bind(&account.password_hash)
            .bind(account.confirmed)
            .execute(&mut *tx)
            .await
            .map_err(|err| if is_unique_violation(&err) { StoreError::Conflict("email") } else { err.into() })?;
        tx.commit().await?;
        Ok(())
    }

    #[instrument(skip_all, fields(user_id))]
    async fn find_user(&self, user_id: &str) -> Result<Option<User>, StoreError> {
        let Some(row) = sqlx::query("SELECT id, user_type, data, disabled, created_at, last_login_at FROM users WHERE id = ?")
            .bind(user_id)
            .fetch_optional(&self.pool)
            .await?
        else {
            return Ok(None);
        };
        let identities = sqlx::query(
            "SELECT id, provider_type, provider_id FROM identities WHERE user_id = ? ORDER BY created_at, id",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| {
            Ok(UserIdentity {
                id: r.try_get("id")?,
                provider_type: r.try_get("provider_type")?,
                provider_id: r.try_get("provider_id")?,
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
        let data: String = row.try_get("data")?;
        Ok(Some(User {
            id: row.try_get("id")?,
            user_type: row.try_get("user_type")?,
            data: serde_json::from_str(&data)
                .map_err(|err| StoreError::Corrupt(format!("users.data: {err}")))?,
            disabled: row.try_get("disabled")?,
            created_at: row.try_get("created_at")?,
            last_login_at: row.try_get("last_login_at")?,
            identities,
        }))
    }

    #[instrument(skip_all)]
    async fn find_local_account(&self, email: &str) -> Result<Option<LocalAccount>, StoreError> {
        let row = sqlx::query(
            "SELECT email, user_id, password_hash, confirmed FROM local_accounts WHERE email = ?",
        )
        .bind(email)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(LocalAccount {
                email: r.try_get("email")?,
                user_id: r.try_get("user_id")?,
                password_hash: r.try_get("password_hash")?,
                confirmed: r.try_get("confirmed")?,
            })
        })
        .transpose()
        .map_err(|err: sqlx::Error| err.into())
    }

    #[instrument(skip_all, fields(user_id))]
    async fn record_login(&self, user_id: &str, at: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE users SET last_login_at = ? WHERE id = ?")
            .bind(at)
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    #[instrument(skip_all, fields(session_id = %session.id, user_id = %session.user_id))]
    async fn create_session(&self, session: &NewSession) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO sessions (id, user_id, provider_type, device_id, refresh_hash, client_ip, user_agent, created_at, last_used_at, expires_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&session.id)
        .bind(&session.user_id)
        .bind(&session.provider_type)
        .bind(&session.device_id)
        .bind(&session.refresh_hash)
        .bind(&session.client_ip)
        .bind(&session.user_agent)
        .bind(session.created_at)
        .bind(session.created_at)
        .bind(session.expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    #[instrument(skip_all)]
    async fn find_session_by_refresh_hash(
        &self,
        hash: &[u8],
    ) -> Result<Option<Session>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {SESSION_COLUMNS} FROM sessions WHERE refresh_hash = ?"
        ))
        .bind(hash)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(session_from_row).transpose()?)
    }

    #[instrument(skip_all, fields(session_id))]
    async fn find_session(&self, session_id: &str) -> Result<Option<Session>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {SESSION_COLUMNS} FROM sessions WHERE id = ?"
        ))
        .bind(session_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(session_from_row).transpose()?)
    }

    #[instrument(skip_all, fields(session_id))]
    async fn touch_session(&self, session_id: &str, at: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE sessions SET last_used_at = MAX(last_used_at, ?) WHERE id = ?")
            .bind(at)
            .bind(session_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    #[instrument(skip_all, fields(session_id))]
    async fn revoke_session(&self, session_id: &str, at: i64) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let revoked = sqlx::query("UPDATE sessions SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL RETURNING user_id")
            .bind(at)
            .bind(session_id)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(row) = revoked else {
            return Ok(false);
        };
        let user_id: String = row.try_get("user_id")?;
        sqlx::query("INSERT INTO revocations (session_id, user_id, revoked_at) VALUES (?, ?, ?)")
            .bind(session_id)
            .bind(&user_id)
            .bind(at)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    #[instrument(skip_all, fields(user_id))]
    async fn revoke_user_sessions(
        &self,
        user_id: &str,
        at: i64,
    ) -> Result<Vec<String>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let ids: Vec<String> = sqlx::query("UPDATE sessions SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL RETURNING id")
            .bind(at)
            .bind(user_id)
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(|row| row.try_get("id"))
            .collect::<Result<_, _>>()?;
        for id in &ids {
            sqlx::query(
                "INSERT INTO revocations (session_id, user_id, revoked_at) VALUES (?, ?, ?)",
            )
            .bind(id)
            .bind(user_id)
            .bind(at)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(ids)
    }

    #[instrument(skip_all, fields(after))]
    async fn revocations_since(
        &self,
        after: i64,
        limit: i64,
    ) -> Result<Vec<Revocation>, StoreError> {
        let rows = sqlx::query("SELECT seq, session_id, user_id, revoked_at FROM revocations WHERE seq > ? ORDER BY seq LIMIT ?")
            .bind(after)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(Revocation {
                    seq: r.try_get("seq")?,
                    session_id: r.try_get("session_id")?,
                    user_id: r.try_get("user_id")?,
                    revoked_at: r.try_get("revoked_at")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(Into::into)
    }

    async fn last_revocation_seq(&self) -> Result<i64, StoreError> {
        let seq: Option<i64> = sqlx::query_scalar("SELECT MAX(seq) FROM revocations")
            .fetch_one(&self.pool)
            .await?;
        Ok(seq.unwrap_or(0))
    }

    async fn get_setting(&self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT value FROM settings WHERE key = ?")
                .bind(key)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    async fn put_setting(&self, key: &str, value: &str) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value")
            .bind(key)
            .bind(value)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn signing_keys(&self) -> Result<Vec<SigningKeyRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT kid, algorithm, secret, created_at FROM signing_keys ORDER BY created_at, kid",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(SigningKeyRecord {
                    kid: r.try_get("kid")?,
                    algorithm: r.try_get("algorithm")?,
                    secret: r.try_get("secret")?,
                    created_at: r.try_get("created_at")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(Into::into)
    }

    async fn insert_signing_key(&self, key: &SigningKeyRecord) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO signing_keys (kid, algorithm, secret, created_at) VALUES (?, ?, ?, ?) ON CONFLICT (kid) DO NOTHING")
            .bind(&key.kid)
            .bind(&key.algorithm)
            .bind(&key.secret)
            .bind(key.created_at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
