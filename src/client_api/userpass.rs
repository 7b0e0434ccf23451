//! local-userpass `register` and the confirmation and reset routes (`/confirm`,
//! `/confirm/send`, `/confirm/call`, `/reset`, `/reset/send`, `/reset/call`).
//!
//! realm-web may send the current user's access token with these; it is ignored (never a
//! 401 here). Success is an empty answer without a content type (what realm-web expects):
//! 201 for `register`, 204 for the rest.

use http::{Request, Response, StatusCode};
use hyper::body::Incoming;

use crate::app::State;
use crate::auth::userpass::RegisterBody;
use crate::auth::userpass_flows::{Flow, FlowBody};
use crate::error::ApiError;
use crate::web::{self, Body};

pub async fn register(
    state: &State,
    request: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    let body: RegisterBody = web::read_json(request, &state.config.server).await?;
    state.auth.register_userpass(body).await?;
    Ok(web::status(StatusCode::CREATED))
}

pub async fn flow(
    state: &State,
    flow: Flow,
    request: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    let body: FlowBody = web::read_json(request, &state.config.server).await?;
    state.auth.userpass_flow(flow, body).await?;
    Ok(web::status(StatusCode::NO_CONTENT))
}
