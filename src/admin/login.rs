//! The App Services Admin API's own login, for scripts: `POST
//! /api/admin/v3.0/auth/providers/mongodb-cloud/login` `{username, apiKey}` with an admin key
//! as `apiKey` answers `{access_token, refresh_token}`, and `POST /api/admin/v3.0/auth/session`
//! with the refresh token answers a new access token. `username` is not checked (App Services
//! wanted the Atlas public key there; scripts may keep sending theirs): the key alone decides.

use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use serde::Deserialize;
use serde_json::json;

use crate::error::ApiError;
use crate::state::State;
use crate::web::{self, Body, RequestContext};

/// The login path.
pub const LOGIN: &str = "/api/admin/v3.0/auth/providers/mongodb-cloud/login";
/// The refresh path.
pub const SESSION: &str = "/api/admin/v3.0/auth/session";

/// The `device_id` App Services answers for admin logins.
const NO_DEVICE: &str = "000000000000000000000000";

#[derive(Deserialize)]
struct LoginBody {
    #[serde(default, rename = "apiKey")]
    api_key: Option<String>,
}

/// `POST …/mongodb-cloud/login`: 200 with the tokens, 401 for a key that is not an admin key.
pub async fn log_in(
    state: &State,
    request: Request<Incoming>,
    ctx: &RequestContext,
) -> Result<Response<Body>, ApiError> {
    let body: LoginBody = web::read_json(request, &state.config.server).await?;
    let presented = body
        .api_key
        .ok_or_else(|| ApiError::missing_field("apiKey"))?;
    let (name, access_token, refresh_token) = state
        .admin_key
        .log_in(&presented, ctx.now)
        .ok_or_else(|| ApiError::unauthorized_admin().with_reason("bad_admin_key"))?;
    tracing::info!(admin_key = %name, "admin API login");
    Ok(web::json(
        StatusCode::OK,
        &json!({
            "access_token": access_token,
            "refresh_token": refresh_token,
            "user_id": name,
            "device_id": NO_DEVICE,
        }),
    ))
}

/// `POST /api/admin/v3.0/auth/session` with `Authorization: Bearer <refresh token>`: 201 with
/// a new access token.
pub fn refresh(
    state: &State,
    request: &Request<Incoming>,
    ctx: &RequestContext,
) -> Result<Response<Body>, ApiError> {
    let access_token = state.admin_key.refresh(request.headers(), ctx.now)?;
    Ok(web::json(
        StatusCode::CREATED,
        &json!({"access_token": access_token}),
    ))
}
