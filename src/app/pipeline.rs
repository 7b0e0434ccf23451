//! The per-request pipeline of both listeners: cross-cutting layers around the three services
//! that do the product's work (the client API, the proxy, the admin API). The order of the
//! layers reads in one place, [`client`] and [`admin`]:
//!
//! ```text
//! client: RequestId → AccessLog → Cors → Context → ClientApi | Proxy
//! admin:  RequestId → AccessLog →        Context → Admin
//! ```
//!
//! What a layer learns travels with the request or the response: the request id in the
//! `web::REQUEST_ID` task-local that the `RequestId` layer runs the inner answer in, the
//! checked path and the client in the request handed to the services ([`Contextual`]), the
//! endpoint, the refusal reason and the caller in response
//! extensions ([`Endpoint`], `error::Refusal`, `client_api::ActingFor`, `proxy::Proxied`).
//!
//! Does not accept connections or frame HTTP (`server`), nor limit bodies or time them out:
//! body limits differ per endpoint and are read where the body is (`web::read_json`, the proxy's
//! streamed `proxy::body`); `[login_limits]` is per account, in the store, and stays with the
//! login handlers (`throttle`).

mod access_log;
mod context;
mod cors;
mod request_id;
mod services;

use std::convert::Infallible;
use std::sync::Arc;

use http::{Request, Response};
use hyper::body::Incoming;
use tower::{ServiceBuilder, ServiceExt};

use crate::metrics::RouteClass;
use crate::server::ConnInfo;
use crate::state::State;
use crate::web::{Body, RequestContext};

use access_log::AccessLogLayer;
use context::ContextLayer;
use cors::CorsLayer;
use request_id::RequestIdLayer;

/// A request past the `Context` layer: its head and body, and what every service needs to
/// know about it.
pub struct Contextual<B = Incoming> {
    pub request: Request<B>,
    pub ctx: RequestContext,
}

/// Response extension naming the gateway endpoint that answered, for the access line. A
/// proxied response names its route in `proxy::Proxied` instead.
#[derive(Debug, Clone, Copy)]
pub struct Endpoint {
    pub class: RouteClass,
    pub name: &'static str,
}

/// Answers a request of the client listener.
///
/// The stack is built per request: `state` is the one current when the request arrived (a
/// reload may replace it between two requests of one connection), and the layers borrow it, so
/// building costs neither an allocation nor a reference count.
pub async fn client(
    state: Arc<State>,
    request: Request<Incoming>,
    conn: ConnInfo,
) -> Response<Body> {
    let state = &*state;
    let service = ServiceBuilder::new()
        .layer(RequestIdLayer::new(
            &state.trusted,
            &state.config.server.request_id_header,
            conn,
        ))
        .layer(AccessLogLayer::new(
            &state.trusted,
            conn,
            RouteClass::ClientApi,
        ))
        .layer(CorsLayer::new(&state.cors, |path: &str| {
            services::gateway_answers_cors(state, path)
        }))
        .layer(ContextLayer::new(
            &state.trusted,
            state.config.server.max_header_bytes,
            conn,
        ))
        .service(services::client(state));
    answered(service.oneshot(request).await)
}

/// Answers a request of the admin listener.
pub async fn admin(
    state: Arc<State>,
    request: Request<Incoming>,
    conn: ConnInfo,
) -> Response<Body> {
    let state = &*state;
    let service = ServiceBuilder::new()
        .layer(RequestIdLayer::new(
            &state.trusted,
            &state.config.server.request_id_header,
            conn,
        ))
        .layer(AccessLogLayer::new(&state.trusted, conn, RouteClass::Admin))
        .layer(ContextLayer::new(
            &state.trusted,
            state.config.server.max_header_bytes,
            conn,
        ))
        .service(services::admin(state));
    answered(service.oneshot(request).await)
}

fn answered(result: Result<Response<Body>, Infallible>) -> Response<Body> {
    match result {
        Ok(response) => response,
        Err(never) => match never {},
    }
}
