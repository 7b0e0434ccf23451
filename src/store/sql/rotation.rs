//! Refresh-token rotation in the store: the compare-and-swap of a session's refresh-token
//! digest, the table of rotated-out digests (`refresh_rotations`, migration 0007), and the
//! insert-once setting that holds the rotation secret every replica shares.
//!
//! Does not derive tokens or decide what a reused token means; `auth::rotation` does.

use sqlx::Row;

use super::SqlStore;
use crate::store::{RotatedToken, StoreError};

impl SqlStore {
    /// `Store::rotate_refresh_token`. The `UPDATE` is the compare-and-swap: of several
    /// refreshes racing with one token, PostgreSQL makes the later ones wait for the
    /// first's row lock and then re-checks `refresh_hash` (no row), SQLite runs them one
    /// after the other; exactly one rotates.
    pub(super) async fn rotate(
        &self,
        session_id: &str,
        old_hash: &[u8],
        new_hash: &[u8],
        at_ms: i64,
    ) -> Result<bool, StoreError> {
        let at = at_ms.div_euclid(1000);
        let mut tx = self.pool.begin().await?;
        let swapped = sqlx::query(
            "UPDATE sessions SET refresh_hash = $1,
                 last_used_at = CASE WHEN last_used_at < $2 THEN $2 ELSE last_used_at END
             WHERE id = $3 AND refresh_hash = $4 AND revoked_at IS NULL",
        )
        .bind(new_hash.to_vec())
        .bind(at)
        .bind(session_id)
        .bind(old_hash.to_vec())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if swapped == 0 {
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO refresh_rotations (refresh_hash, session_id, rotated_at) VALUES ($1, $2, $3)",
        )
        .bind(old_hash.to_vec())
        .bind(session_id)
        .bind(at_ms)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// `Store::find_rotated_refresh_token`.
    pub(super) async fn rotated(&self, hash: &[u8]) -> Result<Option<RotatedToken>, StoreError> {
        let row = sqlx::query(
            "SELECT session_id, rotated_at FROM refresh_rotations WHERE refresh_hash = $1",
        )
        .bind(hash.to_vec())
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            Ok(RotatedToken {
                session_id: row.try_get("session_id")?,
                rotated_at_ms: row.try_get("rotated_at")?,
            })
        })
        .transpose()
    }

    /// `Store::setting_or_insert`: the first value stored wins, whoever stored it.
    pub(super) async fn insert_setting_once(
        &self,
        key: &str,
        value: &str,
    ) -> Result<String, StoreError> {
        sqlx::query(
            "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
        )
        .bind(key)
        .bind(value)
        .execute(&self.pool)
        .await?;
        let row = sqlx::query("SELECT value FROM settings WHERE key = $1")
            .bind(key)
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get("value")?)
    }
}
