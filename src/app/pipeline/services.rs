//! The three services inside the layers: the client API, the proxy (both on the client
//! listener, the client API taking its own paths and handing the rest to the proxy) and the
//! admin API. Each marks its response for the access line ([`Endpoint`], `proxy::Proxied`).

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_util::future::Either;
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

/// The client listener's services: the client API, in front of the proxy.
pub fn client(
    state: &State,
) -> impl Service<Contextual, Response = Response<Body>, Error = Infallible, Future: Send> + '_ {
    ClientApi {
        state,
        proxy: tower::service_fn(move |request| proxy(state, request)),
    }
}

/// The admin listener's service.
pub fn admin(
    state: &State,
) -> impl Service<Contextual, Response = Response<Body>, Error = Infallible, Future: Send> + '_ {
    tower::service_fn(move |request| admin_api(state, request))
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

/// The client API: answers its own paths, hands every other request to `proxy`.
struct ClientApi<'a, P> {
    state: &'a State,
    proxy: P,
}

impl<'a, P> Service<Contextual> for ClientApi<'a, P>
where
    P: Service<Contextual, Response = Response<Body>, Error = Infallible>,
{
    type Response = Response<Body>;
    type Error = Infallible;
    /// Only the gateway's own endpoints are boxed; a proxied request's future is the proxy's.
    type Future = Either<Pin<Box<dyn Future<Output = Answer> + Send + 'a>>, P::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.proxy.poll_ready(cx)
    }

    fn call(&mut self, request: Contextual) -> Self::Future {
        if own_route(self.state, &request.ctx.path).is_none() {
            return Either::Right(self.proxy.call(request));
        }
        Either::Left(Box::pin(client_api(self.state, request)))
    }
}

async fn client_api(state: &State, Contextual { request, ctx }: Contextual) -> Answer {
    // `ClientApi::call` matched this path already: the route is there.
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
