//! The reverse proxy: route, credential, token check, identity headers, forward — in that
//! order, one small function each.
//!
//! Does not answer the gateway's own endpoints; `app::dispatch` sends only the rest here.

pub mod credential;
pub mod data_api;
pub mod forward;
pub mod hop_by_hop;
pub mod identity;
pub mod path;
pub mod routes;

use std::sync::Arc;

use http::header::{HOST, HeaderName};
use http::{HeaderMap, HeaderValue, Request, Response, Uri, Version};
use http_body_util::BodyExt;
use hyper::body::Incoming;

use crate::auth::Auth;
use crate::config::{AuthMode, Config};
use crate::error::ApiError;
use crate::tokens::Verified;
use crate::web::{Body, RequestContext};

use data_api::DataApi;
pub use forward::{ForwardError, Forwarder};
use identity::Identity;
use routes::{Route, RouteTable};

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
const FORWARDED: HeaderName = HeaderName::from_static("forwarded");
const X_REAL_IP: HeaderName = HeaderName::from_static("x-real-ip");

pub struct Proxy {
    routes: RouteTable,
    identity: Identity,
    forwarder: Forwarder,
    data_api: DataApi,
    forward_credentials: bool,
    trust_forwarded: bool,
}

impl Proxy {
    pub fn new(config: &Config) -> Self {
        Self {
            routes: RouteTable::new(&config.routes, &config.upstream.url),
            identity: Identity::new(config.identity_headers.clone()),
            forwarder: Forwarder::new(&config.upstream),
            data_api: DataApi::new(),
            forward_credentials: config.proxy.forward_credentials,
            trust_forwarded: config.server.trust_forwarded_headers,
        }
    }

    /// Proxies one request. Returns the response and the caller, if one was authenticated.
    pub async fn handle(
        &self,
        auth: &Auth,
        mut request: Request<Incoming>,
        ctx: &RequestContext,
    ) -> (Response<Body>, Option<Arc<Verified>>) {
        let route = self.routes.find(&ctx.path);
        let caller = match self
            .authenticate(auth, route, request.headers(), ctx.now)
            .await
        {
            Ok(caller) => caller,
            Err(err) => return (err.into_response(), None),
        };
        if route.data_api_credentials {
            data_api::strip(request.headers_mut());
        }
        let upgrade = self.rewrite_headers(request.headers_mut(), caller.as_deref(), ctx);
        if let Some(upgrade) = upgrade {
            request.headers_mut().insert(http::header::UPGRADE, upgrade);
            request.headers_mut().insert(
                http::header::CONNECTION,
                HeaderValue::from_static("upgrade"),
            );
        }
        let upstream = &self.routes.upstreams()[route.upstream];
        let path = route.upstream_path(upstream.path(), &ctx.path);
        let uri = match upstream_uri(upstream, &path, request.uri().query()) {
            Ok(uri) => uri,
            Err(err) => return (err.into_response(), caller),
        };
        *request.uri_mut() = uri;
        *request.version_mut() = Version::HTTP_11;
        match self.forwarder.send(request).await {
            Ok(response) => (into_client_response(response), caller),
            Err(err) => {
                crate::metrics::record_upstream_error(match err {
                    ForwardError::Unavailable(_) => crate::metrics::UpstreamErrorKind::Unavailable,
                    ForwardError::Timeout(_) => crate::metrics::UpstreamErrorKind::Timeout,
                });
                (ApiError::from(err).into_response(), caller)
            }
        }
    }

    /// Hop-by-hop, client-sent identity and forwarding headers out; ours in. Returns the
    /// `Upgrade` the client asked for, to be passed on deliberately.
    fn rewrite_headers(
        &self,
        headers: &mut HeaderMap,
        caller: Option<&Verified>,
        ctx: &RequestContext,
    ) -> Option<HeaderValue> {
        let upgrade = hop_by_hop::strip(headers);
        self.identity.strip_client_copies(headers);
        if !self.forward_credentials {
            headers.remove(http::header::AUTHORIZATION);
            headers.remove(credential::SESSION);
        }
        self.set_forwarded(headers, ctx);
        if let Some(caller) = caller {
            self.identity.set(headers, caller);
        }
        upgrade
    }

    fn set_forwarded(&self, headers: &mut HeaderMap, ctx: &RequestContext) {
        let host = headers.remove(HOST).or_else(|| {
            ctx.authority
                .as_deref()
                .and_then(|a| HeaderValue::from_str(a).ok())
        });
        let peer = ctx.remote.ip().to_string();
        let prior = headers
            .get(&X_FORWARDED_FOR)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let forwarded_for = match prior {
            Some(prior) if self.trust_forwarded => format!("{prior}, {peer}"),
            _ => peer,
        };
        if !self.trust_forwarded {
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
        if let Ok(value) = HeaderValue::from_str(&forwarded_for) {
            headers.insert(X_FORWARDED_FOR, value);
        }
        if !headers.contains_key(&X_FORWARDED_PROTO) {
            headers.insert(X_FORWARDED_PROTO, HeaderValue::from_static(ctx.scheme));
        }
        if let Some(host) = host {
            if !headers.contains_key(&X_FORWARDED_HOST) {
                headers.insert(X_FORWARDED_HOST, host);
            }
        }
    }
}

impl Proxy {
    /// The route's auth rule applied to the request's credential: a token, else (on Data API
    /// routes) the Data API credential headers.
    async fn authenticate(
        &self,
        auth: &Auth,
        route: &Route,
        headers: &HeaderMap,
        now: i64,
    ) -> Result<Option<Arc<Verified>>, ApiError> {
        use credential::Credential;
        let credential = credential::extract(headers);
        if route.data_api_credentials
            && route.auth != AuthMode::None
            && credential == Credential::Absent
        {
            if let Some(caller) = self.data_api.authenticate(auth, headers, now).await? {
                return Ok(Some(caller));
            }
        }
        match (route.auth, credential) {
            (AuthMode::None, _) | (AuthMode::Optional, Credential::Absent) => Ok(None),
            (AuthMode::Required, Credential::Absent) | (_, Credential::Malformed) => {
                Err(ApiError::invalid_session())
            }
            (_, Credential::Token(token)) => Ok(Some(auth.tokens().authenticate(token, now)?)),
        }
    }
}

fn upstream_uri(upstream: &url::Url, path: &str, query: Option<&str>) -> Result<Uri, ApiError> {
    let authority = match upstream.port() {
        Some(port) => format!("{}:{port}", upstream.host_str().unwrap_or_default()),
        None => upstream.host_str().unwrap_or_default().to_owned(),
    };
    let path_and_query = match query {
        Some(query) => format!("{path}?{query}"),
        None => path.to_owned(),
    };
    Uri::builder()
        .scheme(upstream.scheme())
        .authority(authority)
        .path_and_query(path_and_query)
        .build()
        .map_err(|_| ApiError::bad_request("request target cannot be forwarded"))
}

fn into_client_response(response: Response<Incoming>) -> Response<Body> {
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
    Response::from_parts(parts, body.map_err(Into::into).boxed())
}
