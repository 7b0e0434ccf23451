//! local-userpass `register` and the confirmation and reset routes (`/confirm`,
//! `/confirm/send`, `/confirm/call`, `/reset`, `/reset/send`, `/reset/call`).
//!
//! realm-web may send the current user's access token with these; it is ignored (never a
//! 401 here). Success is an empty answer without a content type (what realm-web expects):
//! 201 for `register`, 204 for the rest.

use http::{Request, Response, StatusCode};
use hyper::body::Incoming;

use crate::auth::userpass::RegisterBody;
use crate::auth::userpass_flows::{Flow, FlowBody};
use crate::error::ApiError;
use crate::state::State;
use crate::throttle::Attempt;
use crate::web::{self, Body, RequestContext};

/// `register`, limited per email and per client (`[login_limits]`).
pub async fn register(
    state: &State,
    request: Request<Incoming>,
    ctx: &RequestContext,
) -> Result<Response<Body>, ApiError> {
    let body: RegisterBody = web::read_json(request, &state.config.server).await?;
    let attempt = Attempt::register(body.email.as_deref(), ctx.client.ip);
    super::login::limited(state, Some(attempt), async {
        Ok(state.auth.register_userpass(body).await?)
    })
    .await?;
    Ok(web::status(StatusCode::CREATED))
}

/// The flows; the sends (which hash or call a webhook per request) are limited per email and
/// per client (`[login_limits]`).
pub async fn flow(
    state: &State,
    flow: Flow,
    request: Request<Incoming>,
    ctx: &RequestContext,
) -> Result<Response<Body>, ApiError> {
    let body: FlowBody = web::read_json(request, &state.config.server).await?;
    let limited = matches!(
        flow,
        Flow::ConfirmSend | Flow::ConfirmCall | Flow::ResetSend | Flow::ResetCall
    );
    let attempt = limited.then(|| Attempt::send(body.email.as_deref(), ctx.client.ip));
    super::login::limited(state, attempt, async {
        Ok(state.auth.userpass_flow(flow, body).await?)
    })
    .await?;
    Ok(web::status(StatusCode::NO_CONTENT))
}
