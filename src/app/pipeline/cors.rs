//! The CORS layer of the client listener: answers a browser's preflight where the gateway
//! answers CORS, and adds the policy to every other response except those of proxy routes that
//! leave CORS to their upstream (`proxy::Proxied::cors`). The policy itself is `crate::cors`.
//!
//! With `[cors]` off it does nothing, not even a lookup.

use std::future::Future;
use std::marker::PhantomData;
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

    /// Whether the gateway answers this preflight: a preflight on one of its paths. A path
    /// that does not normalize is not answered here: the context layer refuses it (and this
    /// layer decorates the refusal).
    fn answers_preflight<B>(&self, request: &Request<B>) -> bool {
        cors::is_preflight(request.method(), request.headers())
            && path::normalize(request.uri().path()).is_ok_and(|path| (self.gateway_answers)(&path))
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
    type Future = Either<Preflight<'a, B, S::Error>, CorsFuture<'a, S::Future>>;

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
        if self.layer.answers_preflight(&request) {
            return Either::Left(Preflight {
                cors,
                request: Some(request),
                error: PhantomData,
            });
        }
        let origin = request.headers().get(ORIGIN).cloned();
        Either::Right(CorsFuture {
            inner: self.inner.call(request),
            policy: Some((cors, origin)),
        })
    }
}

/// The gateway's answer to a preflight, made when polled: inside the request's scope, so that
/// a refusal's body carries the request id.
pub struct Preflight<'a, B, E> {
    cors: &'a Cors,
    request: Option<Request<B>>,
    error: PhantomData<fn() -> E>,
}

impl<B, E> Unpin for Preflight<'_, B, E> {}

impl<B, E> Future for Preflight<'_, B, E> {
    type Output = Result<Response<Body>, E>;

    fn poll(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Self::Output> {
        let request = self.request.take().expect("a preflight is polled once");
        let mut answer = self
            .cors
            .preflight(&request)
            .expect("CORS is on and this is a preflight: checked in call");
        answer.extensions_mut().insert(Endpoint {
            class: RouteClass::ClientApi,
            name: "cors_preflight",
        });
        Poll::Ready(Ok(answer))
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
