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
        Some(caller.user_id.clone()),
    ))
}
