//! Per-request entry points of both listeners: size limits, path normalization, the choice
//! between the gateway's own endpoints and the proxy, and the one log line per request.

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::{HeaderValue, Request, Response};
use hyper::body::Incoming;
use tracing::Instrument;

use crate::auth::ClientInfo;
use crate::client_api;
use crate::error::{ApiError, Refusal};
use crate::ids;
use crate::metrics::{self, RouteClass};
use crate::proxy::{Proxied, path};
use crate::server::ConnInfo;
use crate::state::State;
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
    let mut endpoint = "-";
    let origin = request.headers().get(http::header::ORIGIN).cloned();
    let (response, user_id, client) = match context(state, &request, conn, request_id) {
        Err(err) => {
            let mut response = err.into_response();
            state.cors.decorate(&mut response, origin.as_ref());
            (response, None, client_info(state, &request, conn))
        }
        Ok(ctx) => {
            let own = client_api::route(&ctx.path)
                .filter(|route| route.name() != "jwks" || state.proxy.assertions().is_some());
            // CORS is the gateway's on its own endpoints and on routes that do not leave it to
            // their upstream (with `[cors]` off there is nothing to do, not even a lookup).
            let gateway_cors = state.cors.enabled()
                && (own.is_some() || state.proxy.gateway_answers_cors(&ctx.path));
            let preflight = gateway_cors
                .then(|| state.cors.preflight(&request))
                .flatten();
            let decorate = gateway_cors && preflight.is_none();
            let (mut response, user_id) = match (preflight, own) {
                (Some(answer), _) => {
                    endpoint = "cors_preflight";
                    (answer, None)
                }
                (None, Some(route)) => {
                    endpoint = client_api::route_name(&route, &state.config.app.id);
                    let response = client_api::handle(route, state, request, &ctx).await;
                    let user_id = response
                        .extensions()
                        .get::<client_api::ActingFor>()
                        .map(|acting| acting.0.clone());
                    (response, user_id)
                }
                (None, None) => {
                    class = RouteClass::Proxy;
                    let (response, caller) =
                        state.proxy.handle(state.checks(), request, &ctx).await;
                    if let Some(caller) = &caller {
                        // Noted once per second per token: `last_used_at` is kept to
                        // `activity::FLUSH_EVERY` anyway, and the map is shared by every core.
                        if caller.session_id() != crate::proxy::data_api::SESSION_ID
                            && caller.first_use_in(ctx.now)
                        {
                            state.activity.note(caller.session_id(), ctx.now);
                        }
                    }
                    (response, caller.map(|c| c.user_id().to_owned()))
                }
            };
            if decorate {
                state.cors.decorate(&mut response, origin.as_ref());
            }
            (response, user_id, ctx.client)
        }
    };
    let access = Access {
        class,
        endpoint,
        method: &method,
        path: &raw_path,
        client: &client,
        user_id: user_id.as_deref(),
        started,
    };
    log_request(&access, &response);
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
    let (response, endpoint, client) = match context(state, &request, conn, request_id) {
        Err(err) => (err.into_response(), "-", client_info(state, &request, conn)),
        Ok(ctx) => {
            let endpoint = crate::admin::route_name(&ctx.path);
            let response = crate::admin::handle(state, request, &ctx).await;
            (response, endpoint, ctx.client)
        }
    };
    let access = Access {
        class: RouteClass::Admin,
        endpoint,
        method: &method,
        path: &raw_path,
        client: &client,
        user_id: None,
        started,
    };
    log_request(&access, &response);
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
    Ok(RequestContext {
        remote: conn.remote,
        local: conn.local,
        scheme: conn.scheme,
        path,
        authority: request.uri().authority().map(|a| a.as_str().to_owned()),
        client: client_info(state, request, conn),
        peer_trusted: state.trusted.contains(conn.remote.ip()),
        request_id,
        now: ids::now(),
    })
}

/// The client: its address as resolved through trusted proxies (`server.trusted_proxies`),
/// and its user agent.
fn client_info(state: &State, request: &Request<Incoming>, conn: ConnInfo) -> ClientInfo {
    let user_agent = request
        .headers()
        .get(http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    ClientInfo {
        ip: Some(state.trusted.client_ip(conn.remote.ip(), request.headers())),
        user_agent,
    }
}

/// What the access line says about a request, besides what its response carries.
struct Access<'a> {
    class: RouteClass,
    /// The gateway endpoint's name; a proxied request's route comes from [`Proxied`].
    endpoint: &'static str,
    method: &'a http::Method,
    /// The path as received (cut to [`MAX_LOGGED_PATH`] when logged).
    path: &'a str,
    client: &'a ClientInfo,
    user_id: Option<&'a str>,
    started: Instant,
}

/// The one log line per request, and the request metrics.
///
/// Fields: `class`, `route` (proxy route prefix or endpoint name), `method`, `path`, `status`,
/// `latency_ms` and `latency_us` (the gateway's, up to the response head), `upstream_status`
/// and `upstream_ms` (only when the upstream was called; numbers, so absent rather than `-`),
/// `client`, `ua`, `user_id`, `reason` (a refusal's), and `error` (why the upstream failed).
/// A line with an upstream failure that the client got as a 5xx is logged at `warn`.
fn log_request(access: &Access<'_>, response: &Response<Body>) {
    let latency = access.started.elapsed();
    let status = response.status();
    metrics::record_request(access.class, status.as_u16(), latency);
    let path = truncated(access.path, MAX_LOGGED_PATH);
    let reason = response.extensions().get::<Refusal>().map_or("-", |r| r.0);
    let proxied = response.extensions().get::<Proxied>();
    let route = proxied.map_or(access.endpoint, |p| &*p.route);
    let upstream = proxied.and_then(|p| p.upstream);
    let upstream_status = upstream.and_then(|u| u.status).map(|s| s.as_u16());
    let upstream_ms = upstream.map(|u| millis(u.elapsed));
    let error = proxied.and_then(|p| p.error.as_deref());
    let ua = access
        .client
        .user_agent
        .as_deref()
        .map_or(Cow::Borrowed("-"), loggable_user_agent);
    let client = OrDash(access.client.ip);
    let user_id = access.user_id.unwrap_or("-");
    // One field list for both levels (a tracing level is fixed per call site).
    macro_rules! access_line {
        ($level:ident) => {
            tracing::$level!(
                target: "sessiongate::access",
                class = access.class.as_str(),
                route,
                method = %access.method,
                path,
                status = status.as_u16(),
                latency_ms = millis(latency),
                latency_us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX),
                upstream_status,
                upstream_ms,
                client = %client,
                ua = &*ua,
                user_id,
                reason,
                error,
                "request"
            )
        };
    }
    if error.is_some() && status.is_server_error() {
        access_line!(warn);
    } else {
        access_line!(info);
    }
}

/// Longest user agent written to a log line, in bytes.
const MAX_LOGGED_UA: usize = 128;

/// The user agent as logged: cut to [`MAX_LOGGED_UA`], control characters (a tab) removed.
/// Borrowed unless there was one to remove.
fn loggable_user_agent(ua: &str) -> Cow<'_, str> {
    let cut = truncated(ua, MAX_LOGGED_UA);
    if cut.chars().any(char::is_control) {
        Cow::Owned(cut.chars().filter(|c| !c.is_control()).collect())
    } else {
        Cow::Borrowed(cut)
    }
}

/// `text` cut to at most `max` bytes, on a character boundary.
fn truncated(text: &str, max: usize) -> &str {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// Displays the value, or `-` for none.
struct OrDash<T>(Option<T>);

impl<T: fmt::Display> fmt::Display for OrDash<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Some(value) => value.fmt(f),
            None => f.write_str("-"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_agent_is_cut_on_a_char_boundary_without_control_characters() {
        assert_eq!(loggable_user_agent("curl/8.5.0"), "curl/8.5.0");
        assert!(matches!(loggable_user_agent("curl/8"), Cow::Borrowed(_)));
        let long = "a".repeat(127) + "é" + &"b".repeat(300);
        let cut = loggable_user_agent(&long);
        assert_eq!(cut, "a".repeat(127), "the two-byte é would end past 128");
        assert_eq!(
            loggable_user_agent("evil\tagent\r\n\u{1b}[31m"),
            "evilagent[31m"
        );
    }

    #[test]
    fn missing_values_display_as_a_dash() {
        let ip: Option<std::net::IpAddr> = None;
        assert_eq!(OrDash(ip).to_string(), "-");
        assert_eq!(OrDash(Some("10.0.0.1")).to_string(), "10.0.0.1");
    }
}
