//! The revocation log (`revocations`): each revoked session recorded with a sequence number
//! that replicas read after, the PostgreSQL advisory lock that commits those numbers in order,
//! and the `NOTIFY` that wakes other replicas (both no-ops on SQLite, which has one writer).

use sqlx::{AnyConnection, Row};

use super::{Dialect, SqlStore};
use crate::store::{Revocation, StoreError, rows};

impl SqlStore {
    /// Revokes a user's live sessions (but `keep`) inside `conn`'s transaction, recording and
    /// announcing each revocation.
    pub(super) async fn revoke_live_sessions(
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

    /// Serializes revocation writers on PostgreSQL so sequence numbers commit in order (a
    /// reader that saw seq N never later finds a committed N-1). SQLite has one writer anyway.
    pub(super) async fn lock_revocations(
        &self,
        conn: &mut AnyConnection,
    ) -> Result<(), StoreError> {
        if self.dialect == Dialect::Postgres {
            sqlx::query("SELECT pg_advisory_xact_lock(7366127)")
                .execute(&mut *conn)
                .await?;
        }
        Ok(())
    }

    /// Wakes other replicas' listeners when the transaction commits.
    pub(super) async fn announce_revocations(
        &self,
        conn: &mut AnyConnection,
    ) -> Result<(), StoreError> {
        if self.dialect == Dialect::Postgres {
            sqlx::query("SELECT pg_notify($1, '')")
                .bind(crate::store::postgres::REVOCATION_CHANNEL)
                .execute(&mut *conn)
                .await?;
        }
        Ok(())
    }

    pub(super) async fn record_revocation(
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

    /// `Store::revocations_since`.
    pub(super) async fn revocations_after(
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

    /// `Store::last_revocation_seq`.
    pub(super) async fn revocations_last_seq(&self) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT COALESCE(MAX(seq), 0) AS seq FROM revocations")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get("seq")?)
    }
}
