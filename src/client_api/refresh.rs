//! `POST /auth/session` (refresh) and `DELETE /auth/session` (logout), with the refresh token.

use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use serde::Serialize;

use crate::error::ApiError;
use crate::state::State;
use crate::throttle::Attempt;
use crate::web::{self, Body, RequestContext};

#[derive(Serialize)]
struct Refreshed {
    access_token: String,
    /// Only with `tokens.rotate_refresh_tokens` (App Services never sends it).
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<String>,
}

/// Answers 201 with a new access token (and, with rotation on, a new refresh token), acting
/// for the session's user. Refused refresh tokens are counted per client
/// (`[login_limits]`).
pub async fn refresh(
    state: &State,
    request: Request<Incoming>,
    ctx: &RequestContext,
) -> Result<Response<Body>, ApiError> {
    let attempt = Some(Attempt::refresh(ctx.client.ip));
    let refreshed = super::login::limited(state, attempt, async {
        let token = super::refresh_token(request.headers())?;
        Ok(state.auth.refresh(token).await?)
    })
    .await?;
    let response = web::json(
        StatusCode::CREATED,
        &Refreshed {
            access_token: refreshed.access_token,
            refresh_token: refreshed.refresh_token,
        },
    );
    Ok(super::acting_for(response, refreshed.user_id))
}

/// Answers 204, acting for the session's user.
pub async fn logout(state: &State, request: Request<Incoming>) -> Result<Response<Body>, ApiError> {
    let token = super::refresh_token(request.headers())?;
    let user_id = state.auth.logout(token).await?;
    Ok(super::acting_for(
        web::status(StatusCode::NO_CONTENT),
        user_id,
    ))
}
