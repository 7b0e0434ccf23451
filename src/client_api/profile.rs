//! `GET /auth/profile` with an access token.

use http::{HeaderMap, Response, StatusCode};

use crate::app::State;
use crate::error::ApiError;
use crate::web::{self, Body, RequestContext};

pub async fn get(
    state: &State,
    headers: &HeaderMap,
    ctx: &RequestContext,
) -> Result<(Response<Body>, Option<String>), ApiError> {
    let caller = super::access_caller(state, headers, ctx.now)?;
    let profile = state.auth.profile(&caller).await?;
    Ok((
        web::json(StatusCode::OK, &profile),
        Some(caller.user_id().to_owned()),
    ))
}

/// `DELETE /auth/delete` with an access token: the user, identities and sessions are gone;
/// every access token of the user is refused from the next request on. 204.
pub async fn delete_user(
    state: &State,
    headers: &HeaderMap,
    ctx: &RequestContext,
) -> Result<(Response<Body>, Option<String>), ApiError> {
    let caller = super::access_caller(state, headers, ctx.now)?;
    state.auth.delete_user(caller.user_id()).await?;
    Ok((
        web::status(StatusCode::NO_CONTENT),
        Some(caller.user_id().to_owned()),
    ))
}
