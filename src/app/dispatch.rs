//! Per-request entry points of both listeners: size limits, path normalization, the choice
//! between the gateway's own endpoints and the proxy, and the one log line per request.

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use http::{HeaderValue, Request, Response};
use hyper::body::Incoming;
use tracing::Instrument;

use super::State;
use crate::auth::ClientInfo;
use crate::client_api;
use crate::error::{ApiError, Refusal};
use crate::ids;
use crate::metrics::{self, RouteClass};
use crate::proxy::path;
use crate::server::ConnInfo;
use crate::web::{self, Body, RequestContext};

/// Longest path written to a log line.
const MAX_LOGGED_PATH: usize = 256;

pub async fn client(
    state: Arc<State>,
    request: Request<Incoming>,
    conn: ConnInfo,
) -> Response<Body> {
    let request_id = request_id(&state, &request, conn);
    let answer = answer_client(&state, request, conn, request_id.clone());
    identified(&state, request_id, answer).await
}

pub async fn admin(
    state: Arc<State>,
    request: Request<Incoming>,
    conn: ConnInfo,
) -> Response<Body> {
    let request_id = request_id(&state, &request, conn);
    let answer = answer_admin(&state, request, conn, request_id.clone());
    identified(&state, request_id, answer).await
}

/// Runs `answer` as the request `request_id`: its log lines carry the id (a span), its error
/// bodies too (`web::REQUEST_ID`), and the response returns it.
async fn identified(
    state: &State,
    request_id: HeaderValue,
    answer: impl Future<Output = Response<Body>>,
) -> Response<Body> {
    let span = tracing::info_span!("request", id = %request_id.to_str().unwrap_or("-"));
    let mut response = web::REQUEST_ID
        .scope(request_id.clone(), answer)
        .instrument(span)
        .await;
    response
        .headers_mut()
        .insert(state.config.server.request_id_header.clone(), request_id);
    response
}

async fn answer_client(
    state: &State,
    request: Request<Incoming>,
    conn: ConnInfo,
    request_id: HeaderValue,
) -> Response<Body> {
    let started = Instant::now();
    let method = request.method().clone();
    let raw_path = request.uri().path().to_owned();
    let mut class = RouteClass::ClientApi;
    let (response, user_id) = match context(state, &request, conn, request_id) {
        Err(err) => (err.into_response(), None),
        Ok(ctx) => match client_api::route(&ctx.path, &state.config.app.id) {
            Some(route) => client_api::handle(route, state, request, &ctx).await,
            None => {
                class = RouteClass::Proxy;
                let (response, caller) = state.proxy.handle(&state.auth, request, &ctx).await;
                if let Some(caller) = &caller {
                    if caller.session_id != crate::proxy::data_api::SESSION_ID {
                        state.activity.note(&caller.session_id, ctx.now);
                    }
                }
                (response, caller.map(|c| c.user_id.clone()))
            }
        },
    };
    log_request(
        class,
        &method,
        &raw_path,
        &response,
        user_id.as_deref(),
        started,
    );
    response
}

async fn answer_admin(
    state: &State,
    request: Request<Incoming>,
    conn: ConnInfo,
    request_id: HeaderValue,
) -> Response<Body> {
    let started = Instant::now();
    let method = request.method().clone();
    let raw_path = request.uri().path().to_owned();
    let response = match context(state, &request, conn, request_id) {
        Err(err) => err.into_response(),
        Ok(ctx) => crate::admin::handle(state, request, &ctx).await,
    };
    log_request(
        RouteClass::Admin,
        &method,
        &raw_path,
        &response,
        None,
        started,
    );
    response
}

/// Longest request id kept from a trusted proxy.
const MAX_REQUEST_ID: usize = 128;

/// The request's id: the one a trusted proxy sent (visible ASCII, at most 128 bytes), else a
/// new one. A client that is not a trusted proxy cannot choose it (log lines would lie).
fn request_id(state: &State, request: &Request<Incoming>, conn: ConnInfo) -> HeaderValue {
    let header = &state.config.server.request_id_header;
    let kept = state
        .trusted
        .contains(conn.remote.ip())
        .then(|| request.headers().get(header))
        .flatten()
        .filter(|value| {
            !value.is_empty()
                && value.len() <= MAX_REQUEST_ID
                && value.as_bytes().iter().all(|b| b.is_ascii_graphic())
        });
    match kept {
        Some(value) => value.clone(),
        None => HeaderValue::from_bytes(&ids::request_id()).expect("hex is a valid header value"),
    }
}

/// Checks the header block and path, and gathers what handlers need to know.
fn context(
    state: &State,
    request: &Request<Incoming>,
    conn: ConnInfo,
    request_id: HeaderValue,
) -> Result<RequestContext, ApiError> {
    if web::header_bytes(request.headers()) > state.config.server.max_header_bytes {
        return Err(ApiError::headers_too_large(
            state.config.server.max_header_bytes,
        ));
    }
    let path = path::normalize(request.uri().path()).map_err(|err| {
        ApiError::invalid_parameter(format!("invalid path: {err}")).with_reason("invalid_path")
    })?;
    let user_agent = request
        .headers()
        .get(http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    Ok(RequestContext {
        remote: conn.remote,
        local: conn.local,
        scheme: conn.scheme,
        path,
        authority: request.uri().authority().map(|a| a.as_str().to_owned()),
        client: ClientInfo {
            ip: Some(state.trusted.client_ip(conn.remote.ip(), request.headers())),
            user_agent,
        },
        peer_trusted: state.trusted.contains(conn.remote.ip()),
        request_id,
        now: ids::now(),
    })
}

/// The one log line per request, and the request metrics.
fn log_request(
    class: RouteClass,
    method: &http::Method,
    path: &str,
    response: &Response<Body>,
    user_id: Option<&str>,
    started: Instant,
) {
    let mut end = path.len().min(MAX_LOGGED_PATH);
    while !path.is_char_boundary(end) {
        end -= 1;
    }
    let latency = started.elapsed();
    metrics::record_request(class, response.status().as_u16(), latency);
    let reason = response.extensions().get::<Refusal>().map_or("-", |r| r.0);
    tracing::info!(
        target: "sessiongate::access",
        route = class.as_str(),
        method = %method,
        path = &path[..end],
        status = response.status().as_u16(),
        latency_ms = u64::try_from(latency.as_millis()).unwrap_or(u64::MAX),
        user_id = user_id.unwrap_or("-"),
        reason,
        "request"
    );
}
