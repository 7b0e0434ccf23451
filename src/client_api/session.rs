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
}

/// Answers 201 with a new access token; returns the session's user id with it. Refused
/// refresh tokens are counted per client (`[login_limits]`).
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
    let (access_token, user_id) = result?;
    let response = web::json(StatusCode::CREATED, &Refreshed { access_token });
    Ok((response, Some(user_id)))
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
