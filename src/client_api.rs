//! The App Services client API under `/api/client/v2.0`: routing and thin handlers that
//! decode, call `auth`, encode.
//!
//! One table (`TABLE`) lists every endpoint: its path, its methods and their handlers. Paths
//! that are not ours (e.g. `app/<id>/functions/call`) return `None` from `route` and go to the
//! proxy.

mod api_keys;
mod jwks;
mod location;
mod login;
mod oauth;
mod profile;
mod refresh;
mod sessions;
mod userpass;

use std::sync::{Arc, LazyLock};

use http::{HeaderMap, Method, Request, Response};
use hyper::body::Incoming;

use crate::auth::userpass_flows::Flow;
use crate::error::ApiError;
use crate::proxy::credential::{self, Credential};
use crate::router::{self, Matched, Resource, Table, resource};
use crate::state::State;
use crate::tokens::Verified;
use crate::web::{Body, RequestContext};

/// Base path of the client API.
pub const BASE: &str = "/api/client/v2.0";

/// Where the identity assertion keys are published (`identity_headers.assertion`).
pub const JWKS_PATH: &str = "/.well-known/jwks.json";

/// What a row of the table runs (`router::Handler` with the gateway's `State`).
pub type Handler = router::Handler<State>;

/// Response extension: the user a client API request acted for (the access line's user).
#[derive(Debug, Clone)]
pub struct ActingFor(pub String);

/// `response`, marked as acting for `user_id`.
pub fn acting_for(mut response: Response<Body>, user_id: impl Into<String>) -> Response<Body> {
    response.extensions_mut().insert(ActingFor(user_id.into()));
    response
}

fn acting_for_any(response: Response<Body>, user_id: Option<String>) -> Response<Body> {
    match user_id {
        Some(user_id) => acting_for(response, user_id),
        None => response,
    }
}

/// `/api/client/v2.0` + a literal path: a pattern of the table.
macro_rules! v2 {
    ($path:literal) => {
        concat!("/api/client/v2.0", $path)
    };
}

/// The client API: one row per resource. `{app}` must be the configured app id (another is
/// 404 `AppNotFound`); paths no row matches go to the proxy. The `…/{*rest}` rows without
/// methods keep the rest of `auth/sessions` and `auth/api_keys` ours (404), never proxied.
static TABLE: LazyLock<Table<Handler>> = LazyLock::new(|| {
    use crate::sessions::sign_out::Target;
    use api_keys::Action;
    use sessions::Which;
    Table::new(vec![
        row("jwks", JWKS_PATH).get(|c| Box::pin(async move { Ok(jwks::get(c.state)) })),
        row("location", v2!("/app/{app}/location"))
            .get(|c| Box::pin(async move { Ok(location::get(c.state, host(&c.request), c.ctx)) })),
        row("login", v2!("/app/{app}/auth/providers/{provider}/login"))
            .post(|c| {
                Box::pin(login::login(
                    c.state,
                    c.params.get("provider"),
                    c.request,
                    c.ctx,
                ))
            })
            .get(|c| {
                Box::pin(oauth::start(
                    c.state,
                    c.params.get("provider"),
                    c.request,
                    c.ctx,
                ))
            }),
        row(
            "register",
            v2!("/app/{app}/auth/providers/local-userpass/register"),
        )
        .post(|c| Box::pin(userpass::register(c.state, c.request, c.ctx))),
        row(
            "userpass",
            v2!("/app/{app}/auth/providers/local-userpass/confirm"),
        )
        .post(|c| Box::pin(userpass::flow(c.state, Flow::Confirm, c.request, c.ctx))),
        row(
            "userpass",
            v2!("/app/{app}/auth/providers/local-userpass/confirm/send"),
        )
        .post(|c| Box::pin(userpass::flow(c.state, Flow::ConfirmSend, c.request, c.ctx))),
        row(
            "userpass",
            v2!("/app/{app}/auth/providers/local-userpass/confirm/call"),
        )
        .post(|c| Box::pin(userpass::flow(c.state, Flow::ConfirmCall, c.request, c.ctx))),
        row(
            "userpass",
            v2!("/app/{app}/auth/providers/local-userpass/reset"),
        )
        .post(|c| Box::pin(userpass::flow(c.state, Flow::Reset, c.request, c.ctx))),
        row(
            "userpass",
            v2!("/app/{app}/auth/providers/local-userpass/reset/send"),
        )
        .post(|c| Box::pin(userpass::flow(c.state, Flow::ResetSend, c.request, c.ctx))),
        row(
            "userpass",
            v2!("/app/{app}/auth/providers/local-userpass/reset/call"),
        )
        .post(|c| Box::pin(userpass::flow(c.state, Flow::ResetCall, c.request, c.ctx))),
        row("oauth_callback", v2!("/auth/callback"))
            .get(|c| Box::pin(oauth::callback(c.state, c.request, c.ctx)))
            .post(|c| Box::pin(oauth::callback(c.state, c.request, c.ctx))),
        row("profile", v2!("/auth/profile"))
            .get(|c| Box::pin(profile::get(c.state, c.request, c.ctx))),
        row("session", v2!("/auth/session"))
            .post(|c| Box::pin(refresh::refresh(c.state, c.request, c.ctx)))
            .delete(|c| Box::pin(refresh::logout(c.state, c.request))),
        row("delete_user", v2!("/auth/delete"))
            .delete(|c| Box::pin(profile::delete_user(c.state, c.request, c.ctx))),
        row("sessions", v2!("/auth/sessions"))
            .get(|c| Box::pin(sessions::get(c.state, Which::All, c.request, c.ctx)))
            .delete(|c| Box::pin(sessions::sign_out(c.state, Target::All, c.request, c.ctx))),
        row("sessions", v2!("/auth/sessions/others")).delete(|c| {
            Box::pin(sessions::sign_out(
                c.state,
                Target::AllButCurrent,
                c.request,
                c.ctx,
            ))
        }),
        row("sessions", v2!("/auth/sessions/current"))
            .get(|c| Box::pin(sessions::get(c.state, Which::Current, c.request, c.ctx)))
            .delete(|c| {
                Box::pin(sessions::sign_out(
                    c.state,
                    Target::Current,
                    c.request,
                    c.ctx,
                ))
            }),
        row("sessions", v2!("/auth/sessions/current/user"))
            .get(|c| Box::pin(sessions::current_user(c.state, c.request, c.ctx))),
        row("sessions", v2!("/auth/sessions/{id}"))
            .get(|c| {
                Box::pin(sessions::get(
                    c.state,
                    Which::One(c.params.get("id")),
                    c.request,
                    c.ctx,
                ))
            })
            .delete(|c| {
                Box::pin(sessions::sign_out(
                    c.state,
                    Target::One(c.params.get("id")),
                    c.request,
                    c.ctx,
                ))
            }),
        row("sessions", v2!("/auth/sessions/{id}/{*rest}")),
        row("api_keys", v2!("/auth/api_keys"))
            .get(|c| Box::pin(api_keys::handle(c.state, Action::List, c.request)))
            .post(|c| Box::pin(api_keys::handle(c.state, Action::Create, c.request))),
        row("api_keys", v2!("/auth/api_keys/{id}"))
            .get(|c| {
                Box::pin(api_keys::handle(
                    c.state,
                    Action::Get(c.params.get("id")),
                    c.request,
                ))
            })
            .delete(|c| {
                Box::pin(api_keys::handle(
                    c.state,
                    Action::Delete(c.params.get("id")),
                    c.request,
                ))
            }),
        row("api_keys", v2!("/auth/api_keys/{id}/enable")).put(|c| {
            Box::pin(api_keys::handle(
                c.state,
                Action::SetDisabled(c.params.get("id"), false),
                c.request,
            ))
        }),
        row("api_keys", v2!("/auth/api_keys/{id}/disable")).put(|c| {
            Box::pin(api_keys::handle(
                c.state,
                Action::SetDisabled(c.params.get("id"), true),
                c.request,
            ))
        }),
        row("api_keys", v2!("/auth/api_keys/{id}/{*rest}")),
    ])
});

/// A row of `TABLE` (naming the handler type lets each closure take the handler's signature).
fn row(name: &'static str, pattern: &'static str) -> Resource<Handler> {
    resource(name, pattern)
}

fn host(request: &Request<Incoming>) -> Option<&str> {
    request
        .headers()
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
}

/// The client API route of a normalized path, or `None` if the proxy should take it.
pub fn route(path: &str) -> Option<Matched<'static, '_, Handler>> {
    // Every other path is the proxy's: one comparison, not a table walk, on the hot path.
    if !path.starts_with(BASE) && path != JWKS_PATH {
        return None;
    }
    TABLE.at(path)
}

/// The endpoint's name on the access line (`login`, `session`, …; `app_not_found` for our
/// path under another app id).
pub fn route_name(route: &Matched<'static, '_, Handler>, app_id: &str) -> &'static str {
    if other_app(route, app_id) {
        "app_not_found"
    } else {
        route.name()
    }
}

fn other_app(route: &Matched<'static, '_, Handler>, app_id: &str) -> bool {
    let app = route.params().get("app");
    !app.is_empty() && app != app_id
}

/// The methods a path answers (the `Allow` of its 405, and what `/openapi.json` describes),
/// or `None` where no resource answers (another app id, an unknown `sessions/…` path).
pub fn allowed_methods(path: &str, app_id: &str) -> Option<&'static str> {
    let route = route(path)?;
    if other_app(&route, app_id) {
        return None;
    }
    if post_only_login(&route) {
        return Some("POST");
    }
    route.allow()
}

/// Only OpenID Connect providers answer the login row's GET (the redirect flow,
/// `oauth::start`); for every other provider the row is POST only.
fn post_only_login(route: &Matched<'static, '_, Handler>) -> bool {
    route.name() == "login" && !crate::auth::oidc::is_oidc_name(route.params().get("provider"))
}

/// Answers a client API request; the response carries `ActingFor` when it acted for a user.
pub async fn handle(
    route: Matched<'static, '_, Handler>,
    state: &State,
    request: Request<Incoming>,
    ctx: &RequestContext,
) -> Response<Body> {
    if other_app(&route, &state.config.app.id) {
        return ApiError::app_not_found().into_response();
    }
    if post_only_login(&route) && request.method() != Method::POST {
        return ApiError::method_not_allowed("POST").into_response();
    }
    route.call(state, request, ctx).await
}

/// The caller of an access-token endpoint (Bearer or `Session` header).
pub fn access_caller(
    state: &State,
    headers: &HeaderMap,
    now: i64,
) -> Result<Arc<Verified>, ApiError> {
    match credential::extract(headers) {
        Credential::Token(token) => Ok(state.tokens.authenticate(token, now)?),
        Credential::Absent | Credential::Malformed => Err(ApiError::invalid_session()),
    }
}

/// The refresh token of a refresh-token endpoint.
pub fn refresh_token(headers: &HeaderMap) -> Result<&str, ApiError> {
    match credential::extract(headers) {
        Credential::Token(token) => Ok(token),
        Credential::Absent | Credential::Malformed => Err(ApiError::invalid_session()),
    }
}

#[cfg(test)]
mod tests;
