//! API keys in the store (`api_keys`): created, listed, found by digest, enabled or
//! disabled, deleted. Keys are stored as digests only.

use sqlx::any::AnyRow;

use super::{SqlStore, flag, is_unique_violation};
use crate::store::{ApiKeyRecord, StoreError, rows};

const API_KEY_COLUMNS: &str = "id, user_id, name, key_hash, disabled, created_at";

impl SqlStore {
    /// `Store::create_api_key`.
    pub(super) async fn api_key_create(&self, key: &ApiKeyRecord) -> Result<(), StoreError> {
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

    /// `Store::list_api_keys`.
    pub(super) async fn api_keys_list(
        &self,
        user_id: &str,
    ) -> Result<Vec<ApiKeyRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {API_KEY_COLUMNS} FROM api_keys WHERE user_id = $1 ORDER BY created_at, id"
        ))
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows::all(&rows, rows::api_key)?)
    }

    /// `Store::find_api_key_by_hash`.
    pub(super) async fn api_key_by_hash(
        &self,
        hash: &[u8],
    ) -> Result<Option<ApiKeyRecord>, StoreError> {
        let row: Option<AnyRow> = sqlx::query(&format!(
            "SELECT {API_KEY_COLUMNS} FROM api_keys WHERE key_hash = $1"
        ))
        .bind(hash.to_vec())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(rows::api_key).transpose()?)
    }

    /// `Store::set_api_key_disabled`.
    pub(super) async fn api_key_set_disabled(
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

    /// `Store::delete_api_key`.
    pub(super) async fn api_key_delete(
        &self,
        user_id: &str,
        key_id: &str,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM api_keys WHERE user_id = $1 AND id = $2")
            .bind(user_id)
            .bind(key_id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }
}
