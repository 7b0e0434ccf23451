//! User administration: disable / enable, delete, the lifecycle purge, and the profile read.
//! `UserAdmin` borrows what it needs from `Auth` (`Auth::users`); `Auth` keeps thin
//! delegations for the admin and client APIs.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::events::{Event, EventName, Events, RevokeReason};
use crate::ids;
use crate::store::Store;
use crate::tokens::{Tokens, Verified};

use super::revoke::{emit_revoked, revoked_here};
use super::{Auth, AuthError, Profile};

/// Anonymous users deleted per lifecycle batch.
const PURGE_BATCH: i64 = 100;

/// User administration over the store, the token revocation list and the events.
pub struct UserAdmin<'a> {
    store: &'a dyn Store,
    tokens: &'a Tokens,
    events: &'a Events,
    /// `Auth::credentials_epoch`: bumped when a user is disabled or deleted.
    credentials_epoch: &'a AtomicU64,
    domain_id: &'a str,
}

impl<'a> UserAdmin<'a> {
    pub fn new(
        store: &'a dyn Store,
        tokens: &'a Tokens,
        events: &'a Events,
        credentials_epoch: &'a AtomicU64,
        domain_id: &'a str,
    ) -> Self {
        Self {
            store,
            tokens,
            events,
            credentials_epoch,
            domain_id,
        }
    }

    /// Disables (revoking every session) or enables a user. 404 if there is no such user.
    pub async fn set_user_disabled(&self, user_id: &str, disabled: bool) -> Result<(), AuthError> {
        let now = ids::now();
        let revoked = self
            .store
            .set_user_disabled(user_id, disabled, now)
            .await?
            .ok_or(AuthError::UserNotFound)?;
        revoked_here(self.tokens, &revoked, now);
        self.credentials_epoch.fetch_add(1, Ordering::AcqRel);
        if disabled {
            emit_revoked(self.events, user_id, &revoked, RevokeReason::UserDisabled).await;
            self.events
                .emit(Event::new(EventName::UserDisabled, user_id))
                .await;
        }
        tracing::info!(
            user_id,
            disabled,
            sessions_revoked = revoked.len(),
            "user updated"
        );
        Ok(())
    }

    /// Deletes a user after revoking every session. 404 if there is no such user.
    pub async fn delete_user(&self, user_id: &str) -> Result<(), AuthError> {
        let now = ids::now();
        let revoked = self
            .store
            .delete_user(user_id, now)
            .await?
            .ok_or(AuthError::UserNotFound)?;
        revoked_here(self.tokens, &revoked, now);
        self.credentials_epoch.fetch_add(1, Ordering::AcqRel);
        emit_revoked(self.events, user_id, &revoked, RevokeReason::UserDeleted).await;
        self.events
            .emit(Event::new(EventName::UserDeleted, user_id))
            .await;
        tracing::info!(user_id, sessions_revoked = revoked.len(), "user deleted");
        Ok(())
    }

    /// Runs the lifecycle chores: deletes anonymous users older than `anon_user_ttl` and rows
    /// nobody can use any more. Returns (anonymous sessions revoked, sessions purged).
    pub async fn purge(&self, anon_user_ttl: Duration) -> Result<(usize, u64), AuthError> {
        let now = ids::now();
        let anon_ttl = i64::try_from(anon_user_ttl.as_secs()).unwrap_or(i64::MAX / 2);
        let created_before = now.saturating_sub(anon_ttl);
        let mut revoked_total = 0;
        // Bounded batches, yielding between them: a backlog of thousands never holds the
        // store (or this task's thread) for long at a stretch.
        loop {
            let (users, revoked) = self
                .store
                .purge_anonymous_users(created_before, now, PURGE_BATCH)
                .await?;
            revoked_here(self.tokens, &revoked, now);
            revoked_total += revoked.len();
            if i64::try_from(users).unwrap_or(i64::MAX) < PURGE_BATCH {
                break;
            }
            tokio::task::yield_now().await;
        }
        // A revoked or expired session's access tokens are dead after one access TTL.
        let retention = i64::try_from(self.tokens.access_ttl().as_secs()).unwrap_or(0) + 120;
        let purged = self
            .store
            .purge_expired(now.saturating_sub(retention), now)
            .await?;
        Ok((revoked_total, purged))
    }

    /// `GET /auth/profile` for an authenticated caller.
    pub async fn profile(&self, caller: &Verified) -> Result<Profile, AuthError> {
        let user = self
            .store
            .find_user(caller.user_id())
            .await?
            .ok_or(AuthError::InvalidSession)?;
        let data = if user.data.is_object() {
            user.data
        } else {
            serde_json::json!({})
        };
        Ok(Profile {
            user_id: user.id,
            domain_id: self.domain_id.to_owned(),
            identities: user.identities,
            data,
            user_type: user.user_type,
        })
    }
}

impl Auth {
    /// User administration on this `Auth`'s store, tokens and events.
    pub fn users(&self) -> UserAdmin<'_> {
        UserAdmin::new(
            self.store.as_ref(),
            &self.tokens,
            &self.events,
            &self.credentials_epoch,
            &self.domain_id,
        )
    }

    /// See [`UserAdmin::set_user_disabled`].
    pub async fn set_user_disabled(&self, user_id: &str, disabled: bool) -> Result<(), AuthError> {
        self.users().set_user_disabled(user_id, disabled).await
    }

    /// See [`UserAdmin::delete_user`].
    pub async fn delete_user(&self, user_id: &str) -> Result<(), AuthError> {
        self.users().delete_user(user_id).await
    }

    /// See [`UserAdmin::purge`].
    pub async fn purge(&self, anon_user_ttl: Duration) -> Result<(usize, u64), AuthError> {
        self.users().purge(anon_user_ttl).await
    }

    /// See [`UserAdmin::profile`].
    pub async fn profile(&self, caller: &Verified) -> Result<Profile, AuthError> {
        self.users().profile(caller).await
    }
}
