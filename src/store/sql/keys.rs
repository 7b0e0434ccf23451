//! Signing keys (`signing_keys`) and settings (`settings`) in the store. The insert-once
//! setting is in `rotation`; a deleted key wakes other replicas as a revocation does.

use sqlx::Row;

use super::SqlStore;
use crate::store::{SigningKeyRecord, StoreError, rows};

impl SqlStore {
    /// `Store::get_setting`.
    pub(super) async fn setting_get(&self, key: &str) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT value FROM settings WHERE key = $1")
            .bind(key)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.try_get("value")).transpose()?)
    }

    /// `Store::put_setting`.
    pub(super) async fn setting_put(&self, key: &str, value: &str) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value")
            .bind(key)
            .bind(value)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// `Store::signing_keys`.
    pub(super) async fn signing_keys_all(&self) -> Result<Vec<SigningKeyRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT kid, algorithm, secret, created_at, active_from FROM signing_keys ORDER BY active_from, created_at, kid",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows::all(&rows, rows::signing_key)?)
    }

    /// `Store::insert_signing_key`.
    pub(super) async fn signing_key_insert(
        &self,
        key: &SigningKeyRecord,
    ) -> Result<(), StoreError> {
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

    /// `Store::delete_signing_key`.
    pub(super) async fn signing_key_delete(&self, kid: &str) -> Result<bool, StoreError> {
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
}
