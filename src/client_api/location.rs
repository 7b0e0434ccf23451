//! `GET /app/{app}/location`: where the SDK should send everything else.

use http::{Response, StatusCode};
use serde::Serialize;

use crate::app::State;
use crate::web::{self, Body};

#[derive(Serialize)]
struct Location<'a> {
    deployment_model: &'a str,
    location: &'a str,
    hostname: String,
    ws_hostname: String,
}

pub fn get(state: &State) -> Response<Body> {
    // realm-web appends paths to `hostname` as is: no trailing slash.
    let hostname = state.config.app.public_url.as_str().trim_end_matches('/').to_owned();
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
