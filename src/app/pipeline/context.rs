//! The context layer: checks the header block's size and the path, and gathers what every
//! service needs to know ([`RequestContext`]); a request that fails a check is answered here
//! (431, or 400 `invalid_path`) and goes no further.
//!
//! Does not limit bodies: each endpoint reads its own with its own limit.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_util::future::Either;
use http::{Request, Response};
use tower::{Layer, Service};

use super::Contextual;
use crate::auth::ClientInfo;
use crate::error::ApiError;
use crate::ids;
use crate::proxy::forwarded::TrustedProxies;
use crate::proxy::path;
use crate::server::ConnInfo;
use crate::web::{self, Body, RequestContext};

#[derive(Clone, Copy)]
pub struct ContextLayer<'a> {
    trusted: &'a TrustedProxies,
    /// `server.max_header_bytes`.
    max_header_bytes: usize,
    conn: ConnInfo,
}

impl<'a> ContextLayer<'a> {
    pub fn new(trusted: &'a TrustedProxies, max_header_bytes: usize, conn: ConnInfo) -> Self {
        Self {
            trusted,
            max_header_bytes,
            conn,
        }
    }

    /// Checks the header block and path, and gathers what handlers need to know.
    fn context<B>(&self, request: &mut Request<B>) -> Result<RequestContext, ApiError> {
        if web::header_bytes(request.headers()) > self.max_header_bytes {
            return Err(ApiError::headers_too_large(self.max_header_bytes));
        }
        let path = path::normalize(request.uri().path()).map_err(|err| {
            ApiError::invalid_parameter(format!("invalid path: {err}")).with_reason("invalid_path")
        })?;
        let conn = self.conn;
        Ok(RequestContext {
            remote: conn.remote,
            local: conn.local,
            scheme: conn.scheme,
            path,
            authority: request.uri().authority().map(|a| a.as_str().to_owned()),
            client: client_info(self.trusted, request, conn),
            peer_trusted: self.trusted.contains(conn.remote.ip()),
            now: ids::now(),
        })
    }
}

/// The client: its address as resolved through trusted proxies (`server.trusted_proxies`),
/// and its user agent.
fn client_info<B>(trusted: &TrustedProxies, request: &Request<B>, conn: ConnInfo) -> ClientInfo {
    let user_agent = request
        .headers()
        .get(http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    ClientInfo {
        ip: Some(trusted.client_ip(conn.remote.ip(), request.headers())),
        user_agent,
    }
}

/// A refused request's answer, made when polled: inside the request's scope, so that its body
/// carries the request id.
pub struct Refused(Option<ApiError>);

impl Future for Refused {
    type Output = Result<Response<Body>, Infallible>;

    fn poll(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Self::Output> {
        let err = self.0.take().expect("a refusal is polled once");
        Poll::Ready(Ok(err.into_response()))
    }
}

impl<'a, S> Layer<S> for ContextLayer<'a> {
    type Service = ContextService<'a, S>;

    fn layer(&self, inner: S) -> Self::Service {
        ContextService {
            layer: *self,
            inner,
        }
    }
}

pub struct ContextService<'a, S> {
    layer: ContextLayer<'a>,
    inner: S,
}

impl<S, B> Service<Request<B>> for ContextService<'_, S>
where
    S: Service<Contextual<B>, Response = Response<Body>, Error = Infallible>,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Either<Refused, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        match self.layer.context(&mut request) {
            Ok(ctx) => Either::Right(self.inner.call(Contextual { request, ctx })),
            Err(err) => Either::Left(Refused(Some(err))),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use http::StatusCode;
    use tower::ServiceExt;

    use super::*;
    use crate::error::Refusal;
    use http::HeaderValue;

    fn conn() -> ConnInfo {
        ConnInfo {
            remote: SocketAddr::from(([10, 1, 2, 3], 5000)),
            local: SocketAddr::from(([127, 0, 0, 1], 8080)),
            scheme: "https",
        }
    }

    /// Runs `request` through the layer; the inner service answers 200 with the context.
    async fn run(trusted: &TrustedProxies, request: Request<()>) -> Response<Body> {
        let inner = tower::service_fn(|c: Contextual<()>| async move {
            let mut response = web::status(StatusCode::OK);
            response.extensions_mut().insert(c.ctx);
            Ok::<_, Infallible>(response)
        });
        let service = ContextLayer::new(trusted, 1024, conn()).layer(inner);
        service.oneshot(request).await.expect("infallible")
    }

    #[tokio::test]
    async fn services_get_the_normalized_path_and_the_client() {
        let trusted = TrustedProxies::new(vec!["10.0.0.0/8".parse().expect("test cidr")]);
        let mut request = Request::get("/a/./b//c/../d")
            .body(())
            .expect("test request");
        let headers = request.headers_mut();
        headers.insert("user-agent", HeaderValue::from_static("curl/8"));
        headers.insert("x-forwarded-for", HeaderValue::from_static("203.0.113.9"));
        let response = run(&trusted, request).await;
        let ctx = response
            .extensions()
            .get::<RequestContext>()
            .expect("reached");
        assert_eq!(ctx.path, "/a/b/d");
        assert_eq!(ctx.client.ip, Some("203.0.113.9".parse().expect("ip")));
        assert_eq!(ctx.client.user_agent.as_deref(), Some("curl/8"));
        assert!(ctx.peer_trusted);
        assert_eq!(ctx.scheme, "https");
    }

    #[tokio::test]
    async fn a_path_with_an_encoded_slash_is_answered_here() {
        let request = Request::get("/public/..%2fprivate")
            .body(())
            .expect("test request");
        let response = run(&TrustedProxies::new(Vec::new()), request).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert!(response.extensions().get::<RequestContext>().is_none());
        let reason = response.extensions().get::<Refusal>().map(|r| r.0);
        assert_eq!(reason, Some("invalid_path"));
    }

    #[tokio::test]
    async fn too_many_header_bytes_are_431() {
        let mut request = Request::get("/").body(()).expect("test request");
        let big = HeaderValue::from_str(&"x".repeat(2000)).expect("ascii");
        request.headers_mut().insert("x-big", big);
        let response = run(&TrustedProxies::new(Vec::new()), request).await;
        assert_eq!(
            response.status(),
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
        );
    }
}
