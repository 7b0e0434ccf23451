//! Revoking sessions: one, every session of a user, or those the session cap evicted — in
//! the store, at once on this replica, and announced as `session.revoked`.

use crate::auth::AuthError;
use crate::events::{Event, Events, RevokeReason};
use crate::ids;
use crate::store::Session;
use crate::tokens::Tokens;

use super::Auth;

impl Auth {
    /// Sessions that `sessions.max_per_user` evicted for a new login: refused here at once
    /// (other replicas learn it from the store), and announced.
    pub(super) async fn evicted(&self, user_id: &str, session_ids: &[String], now: i64) {
        revoked_here(&self.tokens, session_ids, now);
        crate::metrics::record_session_cap(
            crate::metrics::CapAction::Evicted,
            u64::try_from(session_ids.len()).unwrap_or(u64::MAX),
        );
        tracing::info!(
            user_id,
            sessions = session_ids.len(),
            "sessions evicted by the session cap"
        );
        let events: Vec<Event> = session_ids
            .iter()
            .map(|id| Event::revoked(user_id, id, RevokeReason::Cap))
            .collect();
        self.events.emit_all(events).await;
    }

    /// Revokes one session in the store and, at once, on this replica; `session.revoked`
    /// with `reason` if it was live.
    pub async fn revoke_session(
        &self,
        session: &Session,
        reason: RevokeReason,
    ) -> Result<(), AuthError> {
        let now = ids::now();
        let session_id = session.id.as_str();
        if self.store.revoke_session(session_id, now).await? {
            revoked_here(&self.tokens, std::slice::from_ref(&session.id), now);
            self.events
                .emit(Event::revoked(&session.user_id, session_id, reason))
                .await;
        } else {
            self.tokens.revocations().revoke([session_id], now);
        }
        tracing::info!(session_id, "session revoked");
        Ok(())
    }

    /// Revokes every session of a user but `keep` (`session.revoked` with `reason` for each);
    /// returns how many were live.
    pub async fn revoke_user(
        &self,
        user_id: &str,
        keep: Option<&str>,
        reason: RevokeReason,
    ) -> Result<usize, AuthError> {
        let now = ids::now();
        let revoked = self.store.revoke_user_sessions(user_id, keep, now).await?;
        revoked_here(&self.tokens, &revoked, now);
        emit_revoked(&self.events, user_id, &revoked, reason).await;
        tracing::info!(user_id, sessions = revoked.len(), "user sessions revoked");
        Ok(revoked.len())
    }

    /// Applies revocations this replica made to its own list at once (see `revoked_here`).
    pub(super) fn revoked_here(&self, session_ids: &[String], now: i64) {
        revoked_here(&self.tokens, session_ids, now);
    }
}

/// `session.revoked` for each of a user's `session_ids`.
pub(super) async fn emit_revoked(
    events: &Events,
    user_id: &str,
    session_ids: &[String],
    reason: RevokeReason,
) {
    // Collected first: a borrowing iterator held across `.await` makes the future's
    // `Send` bound higher-ranked, which the listener's `spawn` cannot prove.
    let happened: Vec<Event> = session_ids
        .iter()
        .map(|session_id| Event::revoked(user_id, session_id, reason))
        .collect();
    events.emit_all(happened).await;
}

/// Applies revocations this replica made to its own list at once (others learn them
/// from the store).
pub(super) fn revoked_here(tokens: &Tokens, session_ids: &[String], now: i64) {
    tokens
        .revocations()
        .revoke(session_ids.iter().map(String::as_str), now);
    let count = u64::try_from(session_ids.len()).unwrap_or(u64::MAX);
    crate::metrics::record_revocations(count, crate::metrics::RevocationSource::Local);
}
