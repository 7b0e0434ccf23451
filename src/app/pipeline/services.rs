//! The three services inside the layers: the client API, the proxy (both on the client
//! listener, the client API taking its own paths and handing the rest to the proxy) and the
//! admin API. Each marks its response for the access line ([`Endpoint`], `proxy::Proxied`).

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::Response;
use tower::Service;

use super::{Contextual, Endpoint};
use crate::client_api::{self, Handler};
use crate::metrics::RouteClass;
use crate::proxy::{Proxied, data_api};
use crate::router::Matched;
use crate::state::State;
use crate::web::Body;

type Answer = Result<Response<Body>, Infallible>;

/// The future of each service: boxed once, here at the bottom, so that the layers above move a
/// pointer rather than the proxy's whole state machine each time one wraps another's future
/// (bench/README.md: that copying cost more than the allocation).
type Answering<'a> = Pin<Box<dyn Future<Output = Answer> + Send + 'a>>;

/// The client listener's services: the client API, in front of the proxy.
pub fn client(state: &State) -> Client<'_> {
    Client { state }
}

/// The admin listener's service.
pub fn admin(state: &State) -> Admin<'_> {
    Admin { state }
}

/// Whether the gateway answers CORS on `path`: its own endpoints, and proxy routes that do
/// not leave CORS to their upstream.
pub fn gateway_answers_cors(state: &State, path: &str) -> bool {
    own_route(state, path).is_some() || state.proxy.gateway_answers_cors(path)
}

/// The client API's route of a normalized path; `None`: the proxy's. The JWKS path is ours
/// only while identity assertions are on.
fn own_route<'p>(state: &State, path: &'p str) -> Option<Matched<'static, 'p, Handler>> {
    client_api::route(path)
        .filter(|route| route.name() != "jwks" || state.proxy.assertions().is_some())
}

/// The client listener: the client API answers its own paths, the proxy every other.
pub struct Client<'a> {
    state: &'a State,
}

impl<'a> Service<Contextual> for Client<'a> {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Answering<'a>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Contextual) -> Self::Future {
        match own_route(self.state, &request.ctx.path) {
            Some(_) => Box::pin(client_api(self.state, request)),
            None => Box::pin(proxy(self.state, request)),
        }
    }
}

/// The admin listener's service: the admin API, health, metrics and the console.
pub struct Admin<'a> {
    state: &'a State,
}

impl<'a> Service<Contextual> for Admin<'a> {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Answering<'a>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Contextual) -> Self::Future {
        Box::pin(admin_api(self.state, request))
    }
}

async fn client_api(state: &State, Contextual { request, ctx }: Contextual) -> Answer {
    // `Client::call` matched this path already: the route is there.
    let Some(route) = own_route(state, &ctx.path) else {
        return Ok(crate::error::ApiError::not_found().into_response());
    };
    let name = client_api::route_name(&route, &state.config.app.id);
    let mut response = client_api::handle(route, state, request, &ctx).await;
    response.extensions_mut().insert(Endpoint {
        class: RouteClass::ClientApi,
        name,
    });
    Ok(response)
}

/// The proxy, and the session activity of its caller.
async fn proxy(state: &State, Contextual { request, ctx }: Contextual) -> Answer {
    let mut response = state.proxy.handle(state.checks(), request, &ctx).await;
    match response.extensions().get::<Proxied>() {
        Some(proxied) => {
            if let Some(caller) = &proxied.caller {
                // Noted once per second per token: `last_used_at` is kept to
                // `activity::FLUSH_EVERY` anyway, and the map is shared by every core.
                if caller.session_id() != data_api::SESSION_ID && caller.first_use_in(ctx.now) {
                    state.activity.note(caller.session_id(), ctx.now);
                }
            }
        }
        // No route took the path.
        None => {
            response.extensions_mut().insert(Endpoint {
                class: RouteClass::Proxy,
                name: "-",
            });
        }
    }
    Ok(response)
}

async fn admin_api(state: &State, Contextual { request, ctx }: Contextual) -> Answer {
    let name = crate::admin::route_name(&ctx.path);
    let mut response = crate::admin::handle(state, request, &ctx).await;
    response.extensions_mut().insert(Endpoint {
        class: RouteClass::Admin,
        name,
    });
    Ok(response)
}
