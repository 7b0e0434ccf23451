//! Session views: what a user (or an admin) sees of a session — never its tokens.

use serde::Serialize;

use super::SessionError;
use super::user_agent::{self, UserAgent};
use crate::auth::AuthError;
use crate::ids;
use crate::store::{Session, Store, User, UserIdentity};
use crate::tokens::Verified;

/// One session as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct SessionView {
    pub id: String,
    /// Whether this is the session of the calling token (client API only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current: Option<bool>,
    pub user_id: String,
    pub provider_type: String,
    pub device_id: String,
    pub client_ip: Option<String>,
    /// The user agent parsed into `{family, major, minor, patch, device, os}`.
    pub user_agent: Option<UserAgent>,
    /// The user agent as sent (bounded to 512 bytes when stored).
    pub user_agent_raw: Option<String>,
    pub created_at: i64,
    pub last_used_at: i64,
    /// `null`: the refresh token does not expire (anonymous sessions).
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

impl SessionView {
    pub fn new(session: Session, current: Option<&str>) -> Self {
        Self {
            current: current.map(|id| id == session.id),
            id: session.id,
            user_id: session.user_id,
            provider_type: session.provider_type,
            device_id: session.device_id,
            client_ip: session.client_ip,
            user_agent: session
                .user_agent
                .as_deref()
                .and_then(|ua| Some(user_agent::shared()?.parse(ua))),
            user_agent_raw: session.user_agent,
            created_at: session.created_at,
            last_used_at: session.last_used_at,
            expires_at: session.expires_at,
            revoked_at: session.revoked_at,
        }
    }
}

/// A user as the admin API (and `GET /auth/sessions/current/user`) shows it; field names as
/// the App Services Admin API.
#[derive(Debug, Clone, Serialize)]
pub struct UserView {
    #[serde(rename = "_id")]
    pub id: String,
    pub identities: Vec<UserIdentity>,
    #[serde(rename = "type")]
    pub user_type: String,
    pub creation_date: i64,
    pub last_authentication_date: Option<i64>,
    pub disabled: bool,
    pub data: serde_json::Value,
}

impl From<User> for UserView {
    fn from(user: User) -> Self {
        Self {
            id: user.id,
            identities: user.identities,
            user_type: user.user_type,
            creation_date: user.created_at,
            last_authentication_date: user.last_login_at,
            disabled: user.disabled,
            data: user.data,
        }
    }
}

/// The caller's live sessions, newest first, the current one marked.
pub async fn list_mine(
    store: &dyn Store,
    caller: &Verified,
) -> Result<Vec<SessionView>, SessionError> {
    let now = ids::now();
    let sessions = store.list_sessions(caller.user_id()).await?;
    Ok(sessions
        .into_iter()
        .filter(|s| s.is_live(now))
        .map(|s| SessionView::new(s, Some(caller.session_id())))
        .collect())
}

/// One of the caller's own sessions; another user's session is "not found", never "forbidden".
pub async fn get_mine(
    store: &dyn Store,
    caller: &Verified,
    session_id: &str,
) -> Result<SessionView, SessionError> {
    let session = store
        .find_session(session_id)
        .await?
        .filter(|s| s.user_id == caller.user_id() && s.revoked_at.is_none())
        .ok_or(SessionError::NotFound)?;
    Ok(SessionView::new(session, Some(caller.session_id())))
}

/// The caller's user, read from the store.
pub async fn current_user(store: &dyn Store, caller: &Verified) -> Result<UserView, SessionError> {
    let user = store
        .find_user(caller.user_id())
        .await?
        .ok_or(AuthError::InvalidSession)?;
    Ok(user.into())
}

/// Every session of a user (admin API), revoked ones included.
pub async fn list_for_admin(
    store: &dyn Store,
    user_id: &str,
) -> Result<Vec<SessionView>, SessionError> {
    if store.find_user(user_id).await?.is_none() {
        return Err(AuthError::UserNotFound.into());
    }
    let sessions = store.list_sessions(user_id).await?;
    Ok(sessions
        .into_iter()
        .map(|s| SessionView::new(s, None))
        .collect())
}
