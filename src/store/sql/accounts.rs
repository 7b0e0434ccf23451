//! Local-userpass accounts in the store (`local_accounts`): creation with their user,
//! lookup, confirmation and passwords, and the single-use confirmation and reset tokens
//! (`user_tokens`, digests only).

use sqlx::Row;

use super::users::insert_user_and_identity;
use super::{SqlStore, flag, is_unique_violation};
use crate::store::rows::{self, LOCAL_ACCOUNT_COLUMNS};
use crate::store::{
    LocalAccount, NewIdentity, NewUser, StoreError, UserTokenKind, UserTokenRecord,
};

impl SqlStore {
    /// `Store::create_local_user`.
    pub(super) async fn account_create(
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

    /// `Store::find_local_account`.
    pub(super) async fn account_find(
        &self,
        email: &str,
    ) -> Result<Option<LocalAccount>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {LOCAL_ACCOUNT_COLUMNS} FROM local_accounts WHERE email = $1"
        ))
        .bind(email)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(rows::local_account).transpose()?)
    }

    /// `Store::confirm_local_account`.
    pub(super) async fn account_confirm(&self, email: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE local_accounts SET confirmed = 1 WHERE email = $1")
            .bind(email)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// `Store::set_local_password`.
    pub(super) async fn account_set_password(
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

    /// `Store::rehash_local_password`.
    pub(super) async fn account_rehash_password(
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

    /// `Store::create_user_token`.
    pub(super) async fn user_token_create(
        &self,
        token: &UserTokenRecord,
    ) -> Result<(), StoreError> {
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

    /// `Store::consume_user_token`.
    pub(super) async fn user_token_consume(
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
}
