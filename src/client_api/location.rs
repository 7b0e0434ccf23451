//! `GET /app/{app}/location`: where the SDK should send everything else.

use http::{Response, StatusCode};
use serde::Serialize;

use crate::state::State;
use crate::web::{self, Body, RequestContext};

#[derive(Serialize)]
struct Location<'a> {
    deployment_model: &'a str,
    location: &'a str,
    hostname: String,
    ws_hostname: String,
}

/// `hostname` is `app.public_url`, or else the scheme and `Host` the client used to reach us
/// (a client can only mislead itself that way).
pub fn get(state: &State, host: Option<&str>, ctx: &RequestContext) -> Response<Body> {
    let hostname = base_url(state, host, ctx);
    let ws_hostname = match hostname.split_once("://") {
        Some(("https", rest)) => format!("wss://{rest}"),
        Some((_, rest)) => format!("ws://{rest}"),
        None => hostname.clone(),
    };
    let body = Location {
        deployment_model: &state.config.app.deployment_model,
        location: &state.config.app.location,
        hostname,
        ws_hostname,
    };
    web::json(StatusCode::OK, &body)
}

/// Where clients reach the gateway, without a trailing slash (realm-web appends paths to it
/// as is): `app.public_url`, else the scheme and `Host` of the request.
pub fn base_url(state: &State, host: Option<&str>, ctx: &RequestContext) -> String {
    match (
        &state.config.app.public_url,
        host.or(ctx.authority.as_deref()),
    ) {
        (Some(url), _) => url.as_str().trim_end_matches('/').to_owned(),
        (None, Some(host)) => format!("{}://{host}", ctx.scheme),
        (None, None) => format!("{}://{}", ctx.scheme, ctx.local),
    }
}
