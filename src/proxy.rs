//! The reverse proxy: route, credential, token check, identity headers, forward — in that
//! order, one small function each.
//!
//! Does not answer the gateway's own endpoints; the client pipeline (`app::pipeline`) sends only
//! the rest here.

pub mod body;
pub mod browser_token;
mod check;
pub mod credential;
pub mod data_api;
pub mod forward;
pub mod forwarded;
pub mod hop_by_hop;
pub mod identity;
pub mod live;
pub mod path;
pub mod routes;
pub mod tunnel;
pub mod upgrade;

use std::sync::Arc;
use std::time::{Duration, Instant};

use http::header::{HOST, HeaderName};
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode, Version};
use hyper::body::Incoming;

use crate::assertion::{Assertions, KeyRing};
use crate::config::{Config, RouteCors};
use crate::error::ApiError;
use crate::metrics::{self, UpstreamErrorKind};
use crate::outbound::Outbound;
use crate::tokens::Verified;
use crate::web::{Body, RequestContext};

pub use check::Checks;
use data_api::DataApi;
pub use data_api::Logins;
pub use forward::{ForwardError, Forwarder};
use identity::Identity;
use routes::{Route, RouteTable};

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
const FORWARDED: HeaderName = HeaderName::from_static("forwarded");
const X_REAL_IP: HeaderName = HeaderName::from_static("x-real-ip");

/// Response extension of a request that matched a proxy route: what the access line says about
/// its route, caller and upstream, and whether the gateway's CORS policy applies to it.
///
/// The caller rides here rather than in an extension of its own: `Proxied` is inserted on
/// every proxied response anyway, so the caller costs no allocation more (bench/README.md).
#[derive(Debug, Clone)]
pub struct Proxied {
    /// The matched route's prefix (`/` for the default route).
    pub route: Arc<str>,
    /// The route's `cors`: whether the gateway or the upstream answers CORS.
    pub cors: RouteCors,
    /// The authenticated caller, when there was one.
    pub caller: Option<Arc<Verified>>,
    /// The upstream call, when the request got that far (not for a refused credential).
    pub upstream: Option<UpstreamCall>,
    /// Why the upstream call failed (`upstream unavailable: connection refused`), on the
    /// request's own access line instead of a line of its own.
    pub error: Option<Arc<str>>,
}

/// What the upstream did with a proxied request.
#[derive(Debug, Clone, Copy)]
pub struct UpstreamCall {
    /// Its response status; `None` when it gave no answer.
    pub status: Option<StatusCode>,
    /// From sending the request to its response head, or to the failure.
    pub elapsed: Duration,
}

pub struct Proxy {
    routes: RouteTable,
    identity: Identity,
    /// `identity_headers.assertion`: the signed assertion set next to the identity headers.
    assertions: Option<Assertions>,
    forwarder: Forwarder,
    data_api: DataApi,
    forward_credentials: bool,
    request_id_header: HeaderName,
    /// Longest wait for the next piece of a client's request body.
    body_idle: Duration,
}

impl Proxy {
    pub fn new(config: &Config, assertion_keys: Arc<KeyRing>) -> Self {
        let routes = RouteTable::new(&config.routes, &config.upstream.url);
        let forwarder = Forwarder::new(
            &Outbound::new(&config.outbound),
            &config.upstream,
            routes.upstreams(),
        );
        Self {
            routes,
            identity: Identity::new(config.identity_headers.clone())
                .with_assertion(config.assertion.header.as_ref()),
            assertions: Assertions::new(config, assertion_keys),
            forwarder,
            data_api: DataApi::new(),
            forward_credentials: config.proxy.forward_credentials,
            request_id_header: config.server.request_id_header.clone(),
            body_idle: config.server.body_read_timeout,
        }
    }

    /// The identity assertion maker, when `identity_headers.assertion` is on.
    pub fn assertions(&self) -> Option<&Assertions> {
        self.assertions.as_ref()
    }

    /// Whether the gateway answers CORS for `path` (its route does not leave it to the
    /// upstream). A path no route takes is the gateway's.
    pub fn gateway_answers_cors(&self, path: &str) -> bool {
        self.routes
            .find(path)
            .map_or(true, |route| route.cors == RouteCors::Gateway)
    }

    /// Proxies one request. Credentials are checked with `checks`: tokens by the token check,
    /// Data API credential headers by a login. Once a route matched, the response carries a
    /// [`Proxied`] extension: the route, the caller if one was authenticated, and the upstream
    /// call.
    pub async fn handle(
        &self,
        checks: Checks<'_>,
        request: Request<Incoming>,
        ctx: &RequestContext,
    ) -> Response<Body> {
        let route = match self.routes.find(&ctx.path) {
            Ok(route) => route,
            Err(err) => return ApiError::invalid_parameter(err.to_string()).into_response(),
        };
        let (mut response, caller, upstream) = self.pass(checks, route, request, ctx).await;
        let (upstream, error) = match upstream {
            Some((call, error)) => (Some(call), error),
            None => (None, None),
        };
        response.extensions_mut().insert(Proxied {
            route: route.prefix.clone(),
            cors: route.cors,
            caller,
            upstream,
            error,
        });
        response
    }

    /// The request on its route: credential, headers, forward. Returns what the upstream did
    /// when it was called, with the cause of its failure.
    async fn pass(
        &self,
        checks: Checks<'_>,
        route: &Route,
        request: Request<Incoming>,
        ctx: &RequestContext,
    ) -> (
        Response<Body>,
        Option<Arc<Verified>>,
        Option<(UpstreamCall, Option<Arc<str>>)>,
    ) {
        let (mut parts, body) = request.into_parts();
        let (browser, rewritten_query) = browser_token::credential(route, &mut parts);
        // A route that leaves CORS to its upstream gets the browser's preflight as it is: a
        // browser never sends a token with one.
        let preflight = route.cors == RouteCors::Upstream
            && crate::cors::is_preflight(&parts.method, &parts.headers);
        let caller = if preflight {
            Ok(None)
        } else {
            self.authenticate(checks, route, &parts.headers, browser, ctx.now)
                .await
        };
        let caller = match caller {
            Ok(caller) => caller,
            Err(err) => return (err.into_response(), None, None),
        };
        if route.data_api_credentials {
            data_api::strip(&mut parts.headers);
        }
        let upgrade = self
            .rewrite_headers(&mut parts.headers, caller.as_deref(), ctx)
            .and_then(|value| upgrade::allowed(&parts.method, parts.version, value));
        if let Err(err) = self.assert_identity(&mut parts.headers, caller.as_deref(), route, ctx) {
            return (err.into_response(), caller, None);
        }
        if let Some(upgrade) = upgrade {
            parts.headers.insert(http::header::UPGRADE, upgrade);
            parts.headers.insert(
                http::header::CONNECTION,
                HeaderValue::from_static("upgrade"),
            );
        }
        let upstream = &self.routes.upstreams()[route.upstream];
        let path = route.upstream_path(upstream.path(), &ctx.path);
        let query = match &rewritten_query {
            Some(query) => query.as_deref(),
            None => parts.uri.query(),
        };
        parts.uri = match forward::upstream_target(path, query) {
            Ok(uri) => uri,
            Err(err) => return (err.into_response(), caller, None),
        };
        parts.version = Version::HTTP_11;
        let (body, watch) = body::ClientBody::new(body, self.body_idle);
        let mut ticket = live::StreamTicket::for_request(checks.tokens, route, caller.as_ref());
        let sent = Instant::now();
        let outcome = self
            .forwarder
            .send(
                Request::from_parts(parts, body),
                route.upstream,
                &watch,
                &mut ticket,
            )
            .await;
        let elapsed = sent.elapsed();
        match outcome {
            Ok(response) => {
                let status = response.status();
                metrics::record_upstream_duration(Ok(status.as_u16()), elapsed);
                let call = UpstreamCall {
                    status: Some(status),
                    elapsed,
                };
                (
                    forward::into_client_response(response, ticket),
                    caller,
                    Some((call, None)),
                )
            }
            Err(err) => {
                match &err {
                    ForwardError::Unavailable(_) | ForwardError::UnaskedUpgrade => {
                        metrics::record_upstream_error(UpstreamErrorKind::Unavailable);
                        metrics::record_upstream_duration(
                            Err(UpstreamErrorKind::Unavailable),
                            elapsed,
                        );
                    }
                    ForwardError::Timeout(_) => {
                        metrics::record_upstream_error(UpstreamErrorKind::Timeout);
                        metrics::record_upstream_duration(Err(UpstreamErrorKind::Timeout), elapsed);
                    }
                    ForwardError::ClientBodyMalformed => {
                        metrics::record_client_fault("malformed_body");
                    }
                    ForwardError::ClientBodyStalled => {
                        metrics::record_client_fault("body_timeout");
                    }
                }
                let call = UpstreamCall {
                    status: None,
                    elapsed,
                };
                let cause: Arc<str> = err.to_string().into();
                (
                    ApiError::from(err).into_response(),
                    caller,
                    Some((call, Some(cause))),
                )
            }
        }
    }

    /// Hop-by-hop, client-sent identity and forwarding headers out; ours in. Returns the
    /// `Upgrade` the client asked for, to be passed on deliberately.
    ///
    /// # Security
    /// What the gateway sets (forwarding and identity headers) is read from the request before
    /// any header is dropped and written after, so no `Connection:` list can remove it.
    fn rewrite_headers(
        &self,
        headers: &mut HeaderMap,
        caller: Option<&Verified>,
        ctx: &RequestContext,
    ) -> Option<HeaderValue> {
        let forwarded = self.forwarded(headers, ctx);
        let upgrade = hop_by_hop::strip(headers);
        self.identity.strip_client_copies(headers);
        if !self.forward_credentials {
            headers.remove(http::header::AUTHORIZATION);
            headers.remove(credential::SESSION);
        }
        if !ctx.peer_trusted {
            for name in [
                &FORWARDED,
                &X_FORWARDED_FOR,
                &X_FORWARDED_PROTO,
                &X_FORWARDED_HOST,
                &X_REAL_IP,
            ] {
                headers.remove(name);
            }
        }
        forwarded.apply(headers);
        if let Some(id) = crate::web::request_id() {
            headers.insert(self.request_id_header.clone(), id);
        }
        if let Some(caller) = caller {
            self.identity.set(headers, caller);
        }
        upgrade
    }

    /// The forwarding headers to send, read before hop-by-hop stripping: the client's chain
    /// extended by its peer when the gateway trusts a proxy in front, else ours alone.
    fn forwarded(&self, headers: &mut HeaderMap, ctx: &RequestContext) -> Forwarded {
        let host = headers.remove(HOST).or_else(|| {
            ctx.authority
                .as_deref()
                .and_then(|a| HeaderValue::from_str(a).ok())
        });
        let peer = forwarded::ip_text(ctx.remote.ip());
        let trusted = |name: &HeaderName| {
            ctx.peer_trusted
                .then(|| headers.get(name).cloned())
                .flatten()
        };
        let prior_for = trusted(&X_FORWARDED_FOR).and_then(|v| v.to_str().ok().map(str::to_owned));
        let forwarded_for = match prior_for {
            Some(prior) => format!("{prior}, {peer}"),
            None => peer,
        };
        Forwarded {
            for_: HeaderValue::from_str(&forwarded_for).ok(),
            proto: trusted(&X_FORWARDED_PROTO)
                .unwrap_or_else(|| HeaderValue::from_static(ctx.scheme)),
            host: trusted(&X_FORWARDED_HOST).or(host),
        }
    }
}

impl Proxy {
    /// Sets the signed identity assertion of an authenticated caller, after every client
    /// copy of its header was removed (`rewrite_headers`).
    fn assert_identity(
        &self,
        headers: &mut HeaderMap,
        caller: Option<&Verified>,
        route: &Route,
        ctx: &RequestContext,
    ) -> Result<(), ApiError> {
        let (Some(assertions), Some(caller)) = (&self.assertions, caller) else {
            return Ok(());
        };
        let value = assertions
            .value(caller, &route.audience, ctx.now)
            .map_err(|err| ApiError::internal(&err))?;
        headers.insert(assertions.header().clone(), value);
        Ok(())
    }
}

/// The forwarding headers the upstream receives.
struct Forwarded {
    for_: Option<HeaderValue>,
    proto: HeaderValue,
    host: Option<HeaderValue>,
}

impl Forwarded {
    fn apply(self, headers: &mut HeaderMap) {
        if let Some(value) = self.for_ {
            headers.insert(X_FORWARDED_FOR, value);
        }
        headers.insert(X_FORWARDED_PROTO, self.proto);
        if let Some(host) = self.host {
            headers.insert(X_FORWARDED_HOST, host);
        }
    }
}
