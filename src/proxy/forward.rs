//! `Forwarder`: the pooled upstream client, a pool per upstream origin with idle connections
//! kept per serving core (HTTP/1.1, keep-alive, rustls for https, the client certificate when
//! configured; `crate::outbound::UpstreamPool`) that streams bodies both ways and passes
//! protocol upgrades (WebSocket) through.
//!
//! Does not decide who may pass or rewrite headers; `proxy::handle` does that first.
//!
//! A pooled connection that the upstream closed while idle can take a request and die before
//! answering. Idempotent requests without a body are then sent once more on a fresh connection;
//! anything else gets the 502 (it may have had an effect upstream). `upstream.pool_idle_timeout`
//! should stay below the upstream's own keep-alive timeout so this stays rare.

use std::time::Duration;

use bytes::Bytes;
use http::uri::PathAndQuery;
use http::{HeaderValue, Method, Request, Response, StatusCode, Uri};
use http_body::Body as _;
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;

use super::body::{BodyEnd, BodyWatch, ClientBody};
use super::live::StreamTicket;
use super::{hop_by_hop, live};
use crate::config::UpstreamConfig;
use crate::error::ApiError;
use crate::metrics::streams::StreamKind;
pub use crate::outbound::ForwardError;
use crate::outbound::{Outbound, PooledBody, UpstreamPool};
use crate::telemetry::RequestContext;
use crate::web::Body;

/// An upstream response, its body still coming.
pub type UpstreamResponse = Response<PooledBody<ClientBody>>;

pub struct Forwarder {
    /// One pool per upstream of the route table, in its order.
    pools: Box<[Upstream]>,
    timeout: Duration,
}

/// An upstream's pool and the `Host` its requests carry.
struct Upstream {
    pool: UpstreamPool<ClientBody>,
    host: Option<HeaderValue>,
}

impl Forwarder {
    /// Pools for `upstreams` (the route table's, by index).
    pub fn new(outbound: &Outbound, config: &UpstreamConfig, upstreams: &[url::Url]) -> Self {
        let pools = upstreams
            .iter()
            .map(|url| {
                let authority = authority(url);
                let origin = Uri::builder()
                    .scheme(url.scheme())
                    .authority(authority.as_str())
                    .path_and_query("/")
                    .build()
                    .ok();
                Upstream {
                    pool: outbound.upstream_pool(config, origin),
                    host: HeaderValue::from_str(&authority).ok(),
                }
            })
            .collect();
        Self {
            pools,
            timeout: config.timeout,
        }
    }

    /// Sends `request` upstream; `watch` tells how the client's body ended, so a failure of
    /// the client's own making is not reported as the upstream's. When both sides agree to
    /// upgrade (101), the two upgraded connections are joined in a background task that lives
    /// as long as they do; with a `ticket` (an authenticated caller), that task takes it and
    /// closes the tunnel when the session is revoked (see `proxy::tunnel`).
    ///
    /// `request` has an origin-form target; `upstream` indexes the route table's upstreams,
    /// and its authority becomes the `Host` header.
    pub async fn send(
        &self,
        mut request: Request<ClientBody>,
        upstream: usize,
        watch: &BodyWatch,
        ticket: &mut Option<StreamTicket>,
    ) -> Result<UpstreamResponse, ForwardError> {
        let Some(Upstream { pool, host }) = self.pools.get(upstream) else {
            return Err(ForwardError::Unavailable("no such upstream".into()));
        };
        if let Some(host) = host {
            request
                .headers_mut()
                .insert(http::header::HOST, host.clone());
        }
        let client_upgrade = request
            .headers()
            .contains_key(http::header::UPGRADE)
            .then(|| hyper::upgrade::on(&mut request));
        let has_body = !request.body().is_end_stream();
        let replay = (client_upgrade.is_none() && !has_body && is_idempotent(request.method()))
            .then(|| replay_of(&request));
        let deadline = tokio::time::Instant::now() + self.timeout;
        let mut outcome = tokio::time::timeout_at(deadline, pool.send(request)).await;
        if let (Some(replay), Ok(Err(err))) = (replay, &outcome) {
            if err.died_unanswered() {
                tracing::debug!(error = %crate::telemetry::error_chain(err), "pooled upstream connection died unanswered; retrying once");
                crate::metrics::record_upstream_retry();
                outcome = tokio::time::timeout_at(deadline, pool.send(replay)).await;
            }
        }
        let mut response = match outcome {
            Err(_) if has_body && watch.end() == BodyEnd::Open => {
                return Err(ForwardError::ClientBodyStalled);
            }
            Err(_) => return Err(ForwardError::Timeout(self.timeout)),
            Ok(Err(err)) => {
                return Err(match watch.end() {
                    BodyEnd::Malformed => ForwardError::ClientBodyMalformed,
                    BodyEnd::Stalled => ForwardError::ClientBodyStalled,
                    BodyEnd::Open | BodyEnd::Complete => {
                        ForwardError::Unavailable(crate::telemetry::error_chain(&err))
                    }
                });
            }
            Ok(Ok(response)) => response,
        };
        if response.status() == StatusCode::SWITCHING_PROTOCOLS {
            let Some(client_upgrade) = client_upgrade else {
                return Err(ForwardError::UnaskedUpgrade);
            };
            response.body_mut().detach();
            let upstream_upgrade = hyper::upgrade::on(&mut response);
            let ticket = ticket.take();
            tokio::spawn(RequestContext::current().attach(async move {
                let (client, upstream) = match tokio::try_join!(client_upgrade, upstream_upgrade) {
                    Ok(pair) => pair,
                    Err(err) => {
                        tracing::debug!(error = %err, "upgrade failed");
                        return;
                    }
                };
                let (mut client, mut upstream) = (TokioIo::new(client), TokioIo::new(upstream));
                if let Some(ticket) = ticket {
                    let guard = ticket.register(StreamKind::WebSocket);
                    super::tunnel::run(client, upstream, guard).await;
                } else if let Err(err) =
                    tokio::io::copy_bidirectional(&mut client, &mut upstream).await
                {
                    tracing::debug!(error = %err, "upgraded connection ended");
                }
            }));
        }
        Ok(response)
    }
}

/// Methods whose repetition has no further effect (RFC 9110 §9.2.2).
fn is_idempotent(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::PUT | Method::DELETE | Method::TRACE
    )
}

/// The same request again, without a body (only used for requests that had none).
fn replay_of(request: &Request<ClientBody>) -> Request<ClientBody> {
    let mut replay = Request::new(ClientBody::empty());
    *replay.method_mut() = request.method().clone();
    *replay.uri_mut() = request.uri().clone();
    *replay.version_mut() = request.version();
    *replay.headers_mut() = request.headers().clone();
    replay
}

/// `scheme://` aside, how an upstream URL names its origin: the host, and the port when it
/// is not the scheme's default (`url` leaves a default port out).
fn authority(url: &url::Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    }
}

/// The upstream request target in origin form: the request's path and query. Built in the
/// path's own buffer and parsed as a path and query only (no scheme or authority to look for).
pub(super) fn upstream_target(mut path: String, query: Option<&str>) -> Result<Uri, ApiError> {
    if let Some(query) = query {
        path.push('?');
        path.push_str(query);
    }
    let refused = |_| ApiError::bad_request("request target cannot be forwarded");
    let path_and_query = PathAndQuery::from_maybe_shared(Bytes::from(path)).map_err(refused)?;
    let mut parts = http::uri::Parts::default();
    parts.path_and_query = Some(path_and_query);
    Uri::from_parts(parts).map_err(|_| ApiError::bad_request("request target cannot be forwarded"))
}

/// The upstream's response for the client: hop-by-hop headers out; with a `ticket`, the body
/// is one that a revocation cuts.
pub(super) fn into_client_response(
    response: UpstreamResponse,
    ticket: Option<live::StreamTicket>,
) -> Response<Body> {
    let (mut parts, body) = response.into_parts();
    let upgrade = hop_by_hop::strip(&mut parts.headers);
    if parts.status == http::StatusCode::SWITCHING_PROTOCOLS {
        if let Some(upgrade) = upgrade {
            parts.headers.insert(http::header::UPGRADE, upgrade);
            parts.headers.insert(
                http::header::CONNECTION,
                HeaderValue::from_static("upgrade"),
            );
        }
    }
    let body = match ticket {
        Some(ticket) => live::LiveBody::new(body, ticket).boxed(),
        None => body.map_err(Into::into).boxed(),
    };
    Response::from_parts(parts, body)
}
