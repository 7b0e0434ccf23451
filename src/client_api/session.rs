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

pub async fn refresh(state: &State, headers: &HeaderMap) -> Result<Response<Body>, ApiError> {
    let token = super::refresh_token(headers)?;
    let access_token = state.auth.refresh(token).await?;
    Ok(web::json(StatusCode::CREATED, &Refreshed { access_token }))
}

pub async fn logout(state: &State, headers: &HeaderMap) -> Result<Response<Body>, ApiError> {
    let token = super::refresh_token(headers)?;
    state.auth.logout(token).await?;
    Ok(web::status(StatusCode::NO_CONTENT))
}
