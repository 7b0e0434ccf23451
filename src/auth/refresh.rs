//! The refresh-token endpoints: a new access token for a live session (`POST
//! /auth/session`, rotating the refresh token when `rotation` is on) and logout.

use std::time::Duration;

use crate::events::{Event, EventName, RevokeReason};
use crate::ids;
use crate::store::{Session, User};
use crate::tokens::refresh;

use super::{Auth, AuthError, REFRESH_TTL_SETTING, Refreshed};

impl Auth {
    /// The refresh-token lifetime for new sessions: the admin API's setting, else config.
    pub async fn refresh_ttl(&self) -> Result<Duration, AuthError> {
        let stored = self.store.get_setting(REFRESH_TTL_SETTING).await?;
        Ok(stored
            .and_then(|s| s.parse().ok())
            .map_or(self.refresh_ttl, Duration::from_secs))
    }

    /// The live session of a refresh token, or 401 with the text realm-web recognizes.
    async fn live_session(&self, refresh_token: &str) -> Result<Session, AuthError> {
        let now = ids::now();
        self.store
            .find_session_by_refresh_hash(&refresh::hash(refresh_token))
            .await?
            .filter(|session| session.is_live(now))
            .ok_or_else(|| AuthError::RefreshTokenNotFound)
    }

    /// The live session of a refresh token and its enabled user (the refresh-token endpoints:
    /// `POST /auth/session`, `/auth/api_keys`); else 401 `InvalidSession`.
    pub async fn refresh_session(&self, refresh_token: &str) -> Result<(Session, User), AuthError> {
        let session = self.live_session(refresh_token).await?;
        let user = self
            .store
            .find_user(&session.user_id)
            .await?
            .filter(|u| !u.disabled)
            .ok_or(AuthError::RefreshTokenNotFound)?;
        Ok((session, user))
    }

    /// `POST /auth/session`: a new access token for the session of `refresh_token` and, with
    /// rotation on, its new refresh token (see `rotation` for the rule).
    pub async fn refresh(&self, refresh_token: &str) -> Result<Refreshed, AuthError> {
        if let Some(rotation) = &self.rotation {
            return self.refresh_rotating(rotation, refresh_token).await;
        }
        let (session, user) = self.refresh_session(refresh_token).await?;
        self.store.touch_session(&session.id, ids::now()).await?;
        self.refreshed(&session, &user, None).await
    }

    /// Mints the access token of a refreshed session and announces the refresh.
    pub(super) async fn refreshed(
        &self,
        session: &Session,
        user: &User,
        refresh_token: Option<String>,
    ) -> Result<Refreshed, AuthError> {
        let access_token = self.mint(
            user,
            &session.id,
            &session.provider_type,
            &session.device_id,
            ids::now(),
        )?;
        self.events
            .emit(Event::new(EventName::SessionRefreshed, &session.user_id).session(&session.id))
            .await;
        Ok(Refreshed {
            access_token,
            refresh_token,
            user_id: session.user_id.clone(),
        })
    }

    /// `DELETE /auth/session`: the refresh token and every access token of its session die.
    /// Returns the session's user id (for the access line).
    pub async fn logout(&self, refresh_token: &str) -> Result<String, AuthError> {
        let session = self.live_session(refresh_token).await?;
        self.revoke_session(&session, RevokeReason::Logout).await?;
        Ok(session.user_id)
    }
}
