//! Sessions in the store: created (alone, or with everything a login writes), found, touched,
//! revoked, listed, and purged once expired or revoked. The session cap is in `cap`,
//! refresh-token rotation in `rotation`, the revocation log in `revocations`.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::SqlStore;
use super::users::{insert_identity, insert_user_and_identity};
use crate::store::rows::{self, SESSION_COLUMNS};
use crate::store::{NewSession, Session, SessionStart, StoreError};

/// `last_used_at` only moves forward.
const TOUCH_SESSION: &str = "UPDATE sessions SET last_used_at = CASE WHEN last_used_at < $1 THEN $1 ELSE last_used_at END WHERE id = $2";

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

impl SqlStore {
    /// `Store::create_session`.
    pub(super) async fn session_create(&self, session: &NewSession) -> Result<(), StoreError> {
        let mut conn = self.pool.acquire().await?;
        insert_session(&mut conn, session).await
    }

    /// `Store::start_session`.
    pub(super) async fn session_start(
        &self,
        start: &SessionStart,
    ) -> Result<Vec<String>, StoreError> {
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

    /// `Store::find_session_by_refresh_hash`.
    pub(super) async fn session_by_refresh_hash(
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

    /// `Store::find_session`.
    pub(super) async fn session_find(
        &self,
        session_id: &str,
    ) -> Result<Option<Session>, StoreError> {
        let row: Option<AnyRow> = sqlx::query(&format!(
            "SELECT {SESSION_COLUMNS} FROM sessions WHERE id = $1"
        ))
        .bind(session_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(rows::session).transpose()?)
    }

    /// `Store::touch_session`.
    pub(super) async fn session_touch(&self, session_id: &str, at: i64) -> Result<(), StoreError> {
        sqlx::query(TOUCH_SESSION)
            .bind(at)
            .bind(session_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// `Store::touch_sessions`.
    pub(super) async fn sessions_touch(&self, touches: &[(String, i64)]) -> Result<(), StoreError> {
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

    /// `Store::revoke_session`.
    pub(super) async fn session_revoke(
        &self,
        session_id: &str,
        at: i64,
    ) -> Result<bool, StoreError> {
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

    /// `Store::revoke_user_sessions`.
    pub(super) async fn sessions_revoke_user(
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

    /// `Store::list_sessions`.
    pub(super) async fn sessions_list(&self, user_id: &str) -> Result<Vec<Session>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {SESSION_COLUMNS} FROM sessions WHERE user_id = $1 ORDER BY created_at DESC, id DESC"
        ))
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows::all(&rows, rows::session)?)
    }

    /// `Store::purge_expired`.
    pub(super) async fn sessions_purge_expired(
        &self,
        before: i64,
        now: i64,
    ) -> Result<u64, StoreError> {
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
}
