//! The CORS layer of the client listener: answers a browser's preflight where the gateway
//! answers CORS, and adds the policy to every other response except those of proxy routes that
//! leave CORS to their upstream (`proxy::Proxied::cors`). The policy itself is `crate::cors`.
//!
//! With `[cors]` off it does nothing, not even a lookup.

use std::future::{Future, Ready, ready};
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_util::future::Either;
use http::header::ORIGIN;
use http::{HeaderValue, Request, Response};
use pin_project_lite::pin_project;
use tower::{Layer, Service};

use super::Endpoint;
use crate::config::RouteCors;
use crate::cors::{self, Cors};
use crate::metrics::RouteClass;
use crate::proxy::{Proxied, path};
use crate::web::Body;

/// `gateway_answers(path)`: whether the gateway answers CORS on a normalized path (its own
/// endpoints, proxy routes with `cors = "gateway"`, paths no route takes).
#[derive(Clone, Copy)]
pub struct CorsLayer<'a, P> {
    cors: &'a Cors,
    gateway_answers: P,
}

impl<'a, P: Fn(&str) -> bool + Copy> CorsLayer<'a, P> {
    pub fn new(cors: &'a Cors, gateway_answers: P) -> Self {
        Self {
            cors,
            gateway_answers,
        }
    }

    /// The gateway's answer to a preflight on one of its paths. A path that does not
    /// normalize is not answered here: the context layer refuses it (and this one decorates).
    fn preflight<B>(&self, request: &Request<B>) -> Option<Response<Body>> {
        if !cors::is_preflight(request.method(), request.headers()) {
            return None;
        }
        let path = path::normalize(request.uri().path()).ok()?;
        if !(self.gateway_answers)(&path) {
            return None;
        }
        let mut answer = self.cors.preflight(request)?;
        answer.extensions_mut().insert(Endpoint {
            class: RouteClass::ClientApi,
            name: "cors_preflight",
        });
        Some(answer)
    }
}

impl<'a, S, P: Copy> Layer<S> for CorsLayer<'a, P> {
    type Service = CorsService<'a, S, P>;

    fn layer(&self, inner: S) -> Self::Service {
        CorsService {
            layer: CorsLayer {
                cors: self.cors,
                gateway_answers: self.gateway_answers,
            },
            inner,
        }
    }
}

pub struct CorsService<'a, S, P> {
    layer: CorsLayer<'a, P>,
    inner: S,
}

impl<'a, S, B, P> Service<Request<B>> for CorsService<'a, S, P>
where
    S: Service<Request<B>, Response = Response<Body>>,
    P: Fn(&str) -> bool + Copy,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = Either<Ready<Result<Response<Body>, S::Error>>, CorsFuture<'a, S::Future>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let cors = self.layer.cors;
        if !cors.enabled() {
            return Either::Right(CorsFuture {
                inner: self.inner.call(request),
                policy: None,
            });
        }
        if let Some(answer) = self.layer.preflight(&request) {
            return Either::Left(ready(Ok(answer)));
        }
        let origin = request.headers().get(ORIGIN).cloned();
        Either::Right(CorsFuture {
            inner: self.inner.call(request),
            policy: Some((cors, origin)),
        })
    }
}

pin_project! {
    /// The inner answer, decorated with the policy for the request's origin.
    pub struct CorsFuture<'a, F> {
        #[pin]
        inner: F,
        policy: Option<(&'a Cors, Option<HeaderValue>)>,
    }
}

impl<F, E> Future for CorsFuture<'_, F>
where
    F: Future<Output = Result<Response<Body>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut result = std::task::ready!(this.inner.poll(cx));
        if let (Ok(response), Some((cors, origin))) = (&mut result, this.policy.take()) {
            let upstream_answers = response
                .extensions()
                .get::<Proxied>()
                .is_some_and(|proxied| proxied.cors == RouteCors::Upstream);
            if !upstream_answers {
                cors.decorate(response, origin.as_ref());
            }
        }
        Poll::Ready(result)
    }
}

#[cfg(test)]
mod tests;
