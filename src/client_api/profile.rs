//! `GET /auth/profile` with an access token.

use http::{Request, Response, StatusCode};
use hyper::body::Incoming;

use crate::error::ApiError;
use crate::state::State;
use crate::web::{self, Body, RequestContext};

pub async fn get(
    state: &State,
    request: Request<Incoming>,
    ctx: &RequestContext,
) -> Result<Response<Body>, ApiError> {
    let caller = super::access_caller(state, request.headers(), ctx.now)?;
    let profile = state.auth.profile(&caller).await?;
    Ok(super::acting_for(
        web::json(StatusCode::OK, &profile),
        caller.user_id(),
    ))
}

/// `DELETE /auth/delete` with an access token: the user, identities and sessions are gone;
/// every access token of the user is refused from the next request on. 204.
pub async fn delete_user(
    state: &State,
    request: Request<Incoming>,
    ctx: &RequestContext,
) -> Result<Response<Body>, ApiError> {
    let caller = super::access_caller(state, request.headers(), ctx.now)?;
    state.auth.delete_user(caller.user_id()).await?;
    Ok(super::acting_for(
        web::status(StatusCode::NO_CONTENT),
        caller.user_id(),
    ))
}
