//! `POST /auth/session` (refresh) and `DELETE /auth/session` (logout), with the refresh token.

use http::{HeaderMap, Response, StatusCode};
use serde::Serialize;

use crate::app::State;
use crate::error::ApiError;
use crate::web::{self, Body};

#[derive(Serialize)]
struct Refreshed {
    access_token: String,
}

/// Answers 201 with a new access token; returns the session's user id with it.
pub async fn refresh(
    state: &State,
    headers: &HeaderMap,
) -> Result<(Response<Body>, Option<String>), ApiError> {
    let token = super::refresh_token(headers)?;
    let (access_token, user_id) = state.auth.refresh(token).await?;
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
