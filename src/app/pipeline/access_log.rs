//! The access log layer: one log line per request (target `sessiongate::access`) and the
//! request metrics, from what the request was and what its response's extensions say (the
//! endpoint, the proxy route and upstream call, the caller, the refusal reason).
//!
//! # Security
//! The line names the caller by user id only: never a token or credential. The path and user
//! agent are cut to a bound, and control characters are removed from the user agent.

use std::borrow::Cow;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use http::{HeaderValue, Method, Request, Response};
use pin_project_lite::pin_project;
use tower::{Layer, Service};
use tracing::Level;

use super::Endpoint;
use crate::client_api::ActingFor;
use crate::error::Refusal;
use crate::metrics::{self, RouteClass};
use crate::proxy::Proxied;
use crate::proxy::forwarded::{self, TrustedProxies};
use crate::server::ConnInfo;
use crate::telemetry::DirectLine;

/// The access line's target and message.
const TARGET: &str = "sessiongate::access";
const MESSAGE: &str = "request";

/// Longest path written to a log line.
const MAX_LOGGED_PATH: usize = 256;

/// Longest user agent written to a log line, in bytes.
const MAX_LOGGED_UA: usize = 128;

/// `class`: the listener's, for responses that name no endpoint of another class.
#[derive(Clone, Copy)]
pub struct AccessLogLayer<'a> {
    trusted: &'a TrustedProxies,
    conn: ConnInfo,
    class: RouteClass,
}

impl<'a> AccessLogLayer<'a> {
    pub fn new(trusted: &'a TrustedProxies, conn: ConnInfo, class: RouteClass) -> Self {
        Self {
            trusted,
            conn,
            class,
        }
    }
}

impl<'a, S> Layer<S> for AccessLogLayer<'a> {
    type Service = AccessLogService<'a, S>;

    fn layer(&self, inner: S) -> Self::Service {
        AccessLogService {
            layer: *self,
            inner,
        }
    }
}

pub struct AccessLogService<'a, S> {
    layer: AccessLogLayer<'a>,
    inner: S,
}

impl<S, B, R> Service<Request<B>> for AccessLogService<'_, S>
where
    S: Service<Request<B>, Response = Response<R>>,
{
    type Response = Response<R>;
    type Error = S::Error;
    type Future = AccessLogFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let headers = request.headers();
        let access = Access {
            class: self.layer.class,
            method: request.method().clone(),
            path: request.uri().path().to_owned(),
            client: self
                .layer
                .trusted
                .client_ip(self.layer.conn.remote.ip(), headers),
            user_agent: headers.get(http::header::USER_AGENT).cloned(),
            started: Instant::now(),
        };
        AccessLogFuture {
            inner: self.inner.call(request),
            access: Some(access),
        }
    }
}

pin_project! {
    /// The inner answer; when its response head is there, the line is written.
    pub struct AccessLogFuture<F> {
        #[pin]
        inner: F,
        access: Option<Access>,
    }
}

impl<F, R, E> Future for AccessLogFuture<F>
where
    F: Future<Output = Result<Response<R>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = std::task::ready!(this.inner.poll(cx));
        if let (Ok(response), Some(access)) = (&result, this.access.take()) {
            let line = Line::new(&access, response);
            metrics::record_request(line.class, line.status, line.latency);
            line.write();
        }
        Poll::Ready(result)
    }
}

/// What the access line says about a request, besides what its response carries.
struct Access {
    /// The listener's class.
    class: RouteClass,
    method: Method,
    /// The path as received (cut to [`MAX_LOGGED_PATH`] when logged).
    path: String,
    /// The client's address as resolved through trusted proxies.
    client: IpAddr,
    user_agent: Option<HeaderValue>,
    started: Instant,
}

/// The fields of one access line.
///
/// `class`, `route` (proxy route prefix or endpoint name), `method`, `path`, `status`,
/// `latency_ms` and `latency_us` (the gateway's, up to the response head), `upstream_status`
/// and `upstream_ms` (only when the upstream was called; numbers, so absent rather than `-`),
/// `client`, `ua`, `user_id`, `reason` (a refusal's), and `error` (why the upstream failed).
#[derive(Debug)]
struct Line<'a> {
    class: RouteClass,
    route: &'a str,
    method: &'a Method,
    path: &'a str,
    status: u16,
    latency: Duration,
    upstream_status: Option<u16>,
    upstream_ms: Option<u64>,
    client: IpAddr,
    ua: Cow<'a, str>,
    user_id: &'a str,
    reason: &'static str,
    error: Option<&'a str>,
}

impl<'a> Line<'a> {
    fn new<R>(access: &'a Access, response: &'a Response<R>) -> Self {
        let extensions = response.extensions();
        let proxied = extensions.get::<Proxied>();
        let endpoint = extensions.get::<Endpoint>();
        let (class, route) = match (proxied, endpoint) {
            (Some(proxied), _) => (RouteClass::Proxy, &*proxied.route),
            (None, Some(endpoint)) => (endpoint.class, endpoint.name),
            (None, None) => (access.class, "-"),
        };
        let upstream = proxied.and_then(|p| p.upstream);
        let user_id = match (proxied, extensions.get::<ActingFor>()) {
            (
                Some(Proxied {
                    caller: Some(caller),
                    ..
                }),
                _,
            ) => caller.user_id(),
            (_, Some(acting)) => &acting.0,
            _ => "-",
        };
        Self {
            class,
            route,
            method: &access.method,
            path: truncated(&access.path, MAX_LOGGED_PATH),
            status: response.status().as_u16(),
            latency: access.started.elapsed(),
            upstream_status: upstream.and_then(|u| u.status).map(|s| s.as_u16()),
            upstream_ms: upstream.map(|u| millis(u.elapsed)),
            client: access.client,
            ua: access
                .user_agent
                .as_ref()
                .and_then(|ua| ua.to_str().ok())
                .map_or(Cow::Borrowed("-"), loggable_user_agent),
            user_id,
            reason: extensions.get::<Refusal>().map_or("-", |r| r.0),
            error: proxied.and_then(|p| p.error.as_deref()),
        }
    }

    /// A line with an upstream failure that the client got as a 5xx is logged at `warn`.
    fn write(&self) {
        let warn = self.error.is_some() && (500..600).contains(&self.status);
        // A tracing level is fixed per call site: one check per level.
        let enabled = if warn {
            tracing::enabled!(target: TARGET, Level::WARN)
        } else {
            tracing::enabled!(target: TARGET, Level::INFO)
        };
        if !enabled {
            return;
        }
        let level = if warn { Level::WARN } else { Level::INFO };
        match DirectLine::open(&level, TARGET, MESSAGE) {
            Some(line) => self.fill(line).write(),
            None => self.event(warn),
        }
    }

    /// The line written by hand: what [`Line::event`] logs, through the plain text format.
    fn fill(&self, mut line: DirectLine) -> DirectLine {
        line.str(" class=", self.class.as_str());
        line.str(" route=", self.route);
        line.display(" method=", self.method.as_str());
        line.str(" path=", self.path);
        line.u64(" status=", u64::from(self.status));
        line.u64(" latency_ms=", millis(self.latency));
        line.u64(" latency_us=", micros(self.latency));
        if let Some(status) = self.upstream_status {
            line.u64(" upstream_status=", u64::from(status));
        }
        if let Some(ms) = self.upstream_ms {
            line.u64(" upstream_ms=", ms);
        }
        line.display_with(" client=", |text| forwarded::push_ip(text, self.client));
        line.str(" ua=", &self.ua);
        line.str(" user_id=", self.user_id);
        line.str(" reason=", self.reason);
        if let Some(error) = self.error {
            line.str(" error=", error);
        }
        line
    }

    /// The line as a `tracing` event, for any subscriber and format.
    fn event(&self, warn: bool) {
        // One field list for both levels.
        macro_rules! access_line {
            ($level:ident) => {
                tracing::$level!(
                    target: TARGET,
                    class = self.class.as_str(),
                    route = self.route,
                    method = %self.method,
                    path = self.path,
                    status = self.status,
                    latency_ms = millis(self.latency),
                    latency_us = micros(self.latency),
                    upstream_status = self.upstream_status,
                    upstream_ms = self.upstream_ms,
                    client = %self.client,
                    ua = &*self.ua,
                    user_id = self.user_id,
                    reason = self.reason,
                    error = self.error,
                    "request"
                )
            };
        }
        if warn {
            access_line!(warn);
        } else {
            access_line!(info);
        }
    }
}

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

fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests;
