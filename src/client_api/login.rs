//! `POST /app/{app}/auth/providers/{provider}/login` and local-userpass `register`.

use http::{Request, Response, StatusCode};
use hyper::body::Incoming;

use crate::app::State;
use crate::auth::userpass::RegisterBody;
use crate::error::ApiError;
use crate::web::{self, Body, RequestContext};

pub async fn login(
    state: &State,
    provider: &str,
    request: Request<Incoming>,
    ctx: &RequestContext,
) -> Result<(Response<Body>, Option<String>), ApiError> {
    if request
        .uri()
        .query()
        .is_some_and(|q| q.split('&').any(|p| p == "link=true"))
    {
        // TODO(#3): identity linking.
        return Err(ApiError::invalid_parameter(
            "identity linking (link=true) is not supported yet",
        ));
    }
    let (parts, body) = request.into_parts();
    let bytes = web::read_body(&parts.headers, body, state.config.server.max_body_bytes).await?;
    let body: serde_json::Value = web::parse_json(&parts.headers, &bytes)?;
    if !body.is_object() {
        return Err(ApiError::bad_request("expected a JSON object"));
    }
    let answer = state.auth.login(provider, &body, &ctx.client).await?;
    let user = answer.user_id.clone();
    Ok((web::json(StatusCode::OK, &answer), Some(user)))
}

/// Registers a local-userpass account. 201 with no body (realm-web wants no content type).
pub async fn register(
    state: &State,
    request: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    let userpass = state.auth.userpass()?;
    let (parts, body) = request.into_parts();
    let bytes = web::read_body(&parts.headers, body, state.config.server.max_body_bytes).await?;
    let body: RegisterBody = web::parse_json(&parts.headers, &bytes)?;
    userpass.register(body).await?;
    Ok(web::status(StatusCode::CREATED))
}
