//! Sign-out: one session, the current one, all, or all but the current one. Effective at
//! once: the refresh token dies and the sessions' access tokens are refused on the next
//! request, on this replica immediately and on others through the store.

use super::SessionError;
use crate::auth::Auth;
use crate::events::RevokeReason;
use crate::tokens::Verified;

/// Which of the caller's sessions to end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target<'a> {
    Current,
    One(&'a str),
    All,
    AllButCurrent,
}

/// Ends the targeted sessions of the caller; returns how many were live.
pub async fn sign_out(
    auth: &Auth,
    caller: &Verified,
    target: Target<'_>,
) -> Result<usize, SessionError> {
    match target {
        Target::Current => sign_out_one(auth, caller, caller.session_id()).await,
        Target::One(session_id) => sign_out_one(auth, caller, session_id).await,
        Target::All => Ok(auth
            .revoke_user(caller.user_id(), None, RevokeReason::SignOut)
            .await?),
        Target::AllButCurrent => Ok(auth
            .revoke_user(
                caller.user_id(),
                Some(caller.session_id()),
                RevokeReason::SignOut,
            )
            .await?),
    }
}

async fn sign_out_one(
    auth: &Auth,
    caller: &Verified,
    session_id: &str,
) -> Result<usize, SessionError> {
    // Only the caller's own sessions; anything else looks like it does not exist.
    let session = auth
        .store()
        .find_session(session_id)
        .await?
        .filter(|s| s.user_id == caller.user_id())
        .ok_or(SessionError::NotFound)?;
    if session.revoked_at.is_some() {
        return Ok(0);
    }
    auth.revoke_session(&session, RevokeReason::SignOut).await?;
    Ok(1)
}
