//! `sessions.max_per_user`: a user's live sessions counted, and the excess evicted or the
//! login refused, inside the transaction that starts the new session (`Store::start_session`).
//!
//! # Concurrency
//! The count runs after the transaction has locked the user: on PostgreSQL the login stamp
//! (`UPDATE users … WHERE id = $1`) holds the user's row lock until commit, so logins of one
//! user on any replica queue there and each counts what the previous one committed (READ
//! COMMITTED takes a new snapshot per statement). On SQLite that same first statement is a
//! write, so the transaction holds the database's write lock before it reads anything (no
//! stale read snapshot to upgrade). Either way two logins cannot both see room for one.
//!
//! Does not choose the cap or announce evictions as events; `Auth` does.

use sqlx::{AnyConnection, Row};

use super::SqlStore;
use crate::store::{OnLimit, SessionCap, StoreError};

/// A user's sessions that still work at `$2`: not revoked, refresh token not expired
/// (`Session::is_live`).
const LIVE: &str =
    "user_id = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $2)";

impl SqlStore {
    /// Makes room for one more live session of `user_id` under `cap`, inside `conn`'s
    /// transaction, which must already hold the user's lock (see the module docs). Returns
    /// the ids of the sessions evicted (revoked and recorded, so every replica refuses their
    /// tokens); `SessionCapReached` when the cap says `Reject`.
    ///
    /// Least recently used: the smallest `last_used_at` (refreshes and proxied requests move
    /// it, the latter in batches), then the oldest.
    pub(super) async fn enforce_cap(
        &self,
        conn: &mut AnyConnection,
        user_id: &str,
        cap: &SessionCap,
        now: i64,
    ) -> Result<Vec<String>, StoreError> {
        let live: i64 = sqlx::query(&format!("SELECT COUNT(*) AS n FROM sessions WHERE {LIVE}"))
            .bind(user_id)
            .bind(now)
            .fetch_one(&mut *conn)
            .await?
            .try_get("n")?;
        let max = i64::from(cap.max.max(1));
        if live < max {
            return Ok(Vec::new());
        }
        if cap.on_limit == OnLimit::Reject {
            return Err(StoreError::SessionCapReached(cap.max));
        }
        // Lowering the cap evicts down to it at the next login.
        let excess = live - max + 1;
        self.lock_revocations(conn).await?;
        let evicted: Vec<String> = sqlx::query(&format!(
            "UPDATE sessions SET revoked_at = $2
             WHERE id IN (SELECT id FROM sessions WHERE {LIVE}
                          ORDER BY last_used_at, created_at, id LIMIT $3)
             RETURNING id"
        ))
        .bind(user_id)
        .bind(now)
        .bind(excess)
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|row| row.try_get("id"))
        .collect::<Result<_, _>>()?;
        for id in &evicted {
            self.record_revocation(conn, id, user_id, now).await?;
        }
        if !evicted.is_empty() {
            self.announce_revocations(conn).await?;
        }
        Ok(evicted)
    }
}
