//! One-time grants in the store (`grants`): a digest stored for a user, then used up by the
//! one exchange that deletes it.

use sqlx::Row;

use super::{SqlStore, is_unique_violation};
use crate::store::StoreError;

impl SqlStore {
    /// `Store::create_grant`.
    pub(super) async fn grant_create(
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

    /// `Store::consume_grant`.
    pub(super) async fn grant_consume(
        &self,
        hash: &[u8],
        now: i64,
    ) -> Result<Option<String>, StoreError> {
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
}
