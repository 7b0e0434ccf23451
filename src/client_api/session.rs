//! `POST /auth/session` (refresh) and `DELETE /auth/session` (logout), with the refresh token.

use http::{HeaderMap, Response, StatusCode};
use serde::Serialize;

use crate::app::State;
use crate::error::ApiError;
use crate::throttle::{Attempt, Outcome};
use crate::web::{self, Body, RequestContext};

#[derive(Serialize)]
struct Refreshed {
    access_token: String,
    /// Only with `tokens.rotate_refresh_tokens` (App Services never sends it).
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<String>,
}

/// Answers 201 with a new access token (and, with rotation on, a new refresh token); returns
/// the session's user id with it. Refused refresh tokens are counted per client
/// (`[login_limits]`).
pub async fn refresh(
    state: &State,
    headers: &HeaderMap,
    ctx: &RequestContext,
) -> Result<(Response<Body>, Option<String>), ApiError> {
    let ticket = state
        .throttle
        .admit(Some(Attempt::refresh(ctx.client.ip)))
        .await?;
    let result = match super::refresh_token(headers) {
        Ok(token) => state.auth.refresh(token).await,
        Err(err) => Err(err),
    };
    state.throttle.settle(ticket, Outcome::of(&result)).await;
    let refreshed = result?;
    let response = web::json(
        StatusCode::CREATED,
        &Refreshed {
            access_token: refreshed.access_token,
            refresh_token: refreshed.refresh_token,
        },
    );
    Ok((response, Some(refreshed.user_id)))
}

/// Answers 204; returns the session's user id with it.
pub async fn logout(
    state: &State,
    headers: &HeaderMap,
) -> Result<(Response<Body>, Option<String>), ApiError> {
    let token = super::refresh_token(headers)?;
    let user_id = state.auth.logout(token).await?;
    Ok((web::status(StatusCode::NO_CONTENT), Some(user_id)))
}
