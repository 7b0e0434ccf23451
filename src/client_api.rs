//! The App Services client API under `/api/client/v2.0`: routing and thin handlers that
//! decode, call `auth`, encode.
//!
//! Paths that are not ours (e.g. `app/<id>/functions/call`) return `None` from `route` and
//! go to the proxy.

mod api_keys;
mod jwks;
mod location;
mod login;
mod oauth;
mod profile;
mod session;
mod sessions;
mod userpass;

use std::sync::Arc;

use http::{HeaderMap, Method, Request, Response};
use hyper::body::Incoming;

use crate::app::State;
use crate::auth::userpass_flows::Flow;
use crate::error::{ApiError, ErrorCode};
use crate::proxy::credential::{self, Credential};
use crate::tokens::Verified;
use crate::web::{Body, RequestContext};

/// Base path of the client API.
pub const BASE: &str = "/api/client/v2.0";

/// Where the identity assertion keys are published (`identity_headers.assertion`).
pub const JWKS_PATH: &str = "/.well-known/jwks.json";

/// A gateway endpoint of the client API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Location,
    Login {
        provider: String,
    },
    /// `/auth/callback`: the OpenID Connect redirect flow back from the issuer.
    OAuthCallback,
    Register,
    /// local-userpass confirmation and reset (`/confirm`, `/reset/send`, …).
    Userpass(Flow),
    Profile,
    Session,
    /// `DELETE /auth/delete`: the caller deletes their own user.
    DeleteUser,
    /// `/auth/sessions[/…]`: session management; the segments after `sessions`.
    Sessions(Vec<String>),
    /// `/auth/api_keys[/…]`: the caller's API keys; the segments after `api_keys`.
    ApiKeys(Vec<String>),
    /// One of our paths with another app id.
    AppNotFound,
    /// `/.well-known/jwks.json`: the identity assertion keys (ours only while assertions are
    /// on; `app::dispatch` proxies the path otherwise).
    Jwks,
}

impl Route {
    /// The endpoint's name on the access line (`login`, `session`, …).
    pub fn name(&self) -> &'static str {
        match self {
            Self::Location => "location",
            Self::Login { .. } => "login",
            Self::OAuthCallback => "oauth_callback",
            Self::Register => "register",
            Self::Userpass(_) => "userpass",
            Self::Profile => "profile",
            Self::Session => "session",
            Self::DeleteUser => "delete_user",
            Self::Sessions(_) => "sessions",
            Self::ApiKeys(_) => "api_keys",
            Self::AppNotFound => "app_not_found",
            Self::Jwks => "jwks",
        }
    }
}

/// The client API route of a normalized path, or `None` if the proxy should take it.
pub fn route(path: &str, app_id: &str) -> Option<Route> {
    if path == JWKS_PATH {
        return Some(Route::Jwks);
    }
    let rest = path.strip_prefix(BASE)?;
    let segments: Vec<&str> = rest.split('/').skip(1).collect();
    let route = match segments.as_slice() {
        ["auth", "profile"] => Route::Profile,
        ["auth", "session"] => Route::Session,
        ["auth", "delete"] => Route::DeleteUser,
        ["auth", "callback"] => Route::OAuthCallback,
        ["auth", "sessions", rest @ ..] => {
            Route::Sessions(rest.iter().map(|s| (*s).to_owned()).collect())
        }
        ["auth", "api_keys", rest @ ..] => {
            Route::ApiKeys(rest.iter().map(|s| (*s).to_owned()).collect())
        }
        ["app", app, tail @ ..] => {
            let route = match tail {
                ["location"] => Route::Location,
                ["auth", "providers", "local-userpass", "register"] => Route::Register,
                ["auth", "providers", provider, "login"] => Route::Login {
                    provider: (*provider).to_owned(),
                },
                ["auth", "providers", "local-userpass", flow @ ..] => {
                    Route::Userpass(Flow::from_segments(flow)?)
                }
                _ => return None,
            };
            if *app != app_id {
                Route::AppNotFound
            } else {
                route
            }
        }
        _ => return None,
    };
    Some(route)
}

/// The methods a route answers (the `Allow` of its 405, and what `/openapi.json` describes),
/// or `None` where no resource answers (another app id, an unknown `sessions/…` path).
pub fn allowed_methods(route: &Route) -> Option<&'static str> {
    fn segments(rest: &[String]) -> Vec<&str> {
        rest.iter().map(String::as_str).collect()
    }
    match route {
        Route::Location | Route::Profile | Route::Jwks => Some("GET"),
        // OpenID Connect providers also answer the redirect flow's GET.
        Route::Login { provider } if crate::auth::oidc::is_oidc_name(provider) => Some("GET, POST"),
        Route::OAuthCallback => Some("GET, POST"),
        Route::Login { .. } | Route::Register | Route::Userpass(_) => Some("POST"),
        Route::Session => Some("POST, DELETE"),
        Route::DeleteUser => Some("DELETE"),
        Route::Sessions(rest) => sessions::allowed_methods(&segments(rest)),
        Route::ApiKeys(rest) => api_keys::allowed_methods(&segments(rest)),
        Route::AppNotFound => None,
    }
}

/// Answers a client API request. Returns the response and the authenticated user, if any.
pub async fn handle(
    route: Route,
    state: &State,
    request: Request<Incoming>,
    ctx: &RequestContext,
) -> (Response<Body>, Option<String>) {
    let method = request.method().clone();
    let allow = allowed_methods(&route);
    let result = match (route, method) {
        (Route::AppNotFound, _) => Err(ApiError::new(
            http::StatusCode::NOT_FOUND,
            ErrorCode::AppNotFound,
            "app not found",
        )),
        (Route::Location, Method::GET) => {
            let host = request
                .headers()
                .get(http::header::HOST)
                .and_then(|h| h.to_str().ok());
            Ok((location::get(state, host, ctx), None))
        }
        (Route::Login { provider }, Method::POST) => {
            login::login(state, &provider, request, ctx).await
        }
        (Route::Login { provider }, Method::GET) if crate::auth::oidc::is_oidc_name(&provider) => {
            oauth::start(state, &provider, request, ctx).await
        }
        (Route::OAuthCallback, Method::GET | Method::POST) => {
            oauth::callback(state, request, ctx).await
        }
        (Route::Jwks, Method::GET) => Ok((jwks::get(state), None)),
        (Route::Register, Method::POST) => userpass::register(state, request, ctx)
            .await
            .map(|r| (r, None)),
        (Route::Userpass(flow), Method::POST) => userpass::flow(state, flow, request, ctx)
            .await
            .map(|r| (r, None)),
        (Route::Profile, Method::GET) => profile::get(state, request.headers(), ctx).await,
        (Route::Session, Method::POST) => session::refresh(state, request.headers(), ctx).await,
        (Route::Session, Method::DELETE) => session::logout(state, request.headers()).await,
        (Route::DeleteUser, Method::DELETE) => {
            profile::delete_user(state, request.headers(), ctx).await
        }
        (Route::Sessions(rest), method) => {
            sessions::handle(state, &method, &rest, request.headers(), ctx).await
        }
        (Route::ApiKeys(rest), _) => api_keys::handle(state, &rest, request).await,
        _ => Err(allow.map_or_else(ApiError::not_found, ApiError::method_not_allowed)),
    };
    match result {
        Ok((response, user)) => (response, user),
        Err(err) => (err.into_response(), None),
    }
}

/// The caller of an access-token endpoint (Bearer or `Session` header).
pub fn access_caller(
    state: &State,
    headers: &HeaderMap,
    now: i64,
) -> Result<Arc<Verified>, ApiError> {
    match credential::extract(headers) {
        Credential::Token(token) => Ok(state.auth.tokens().authenticate(token, now)?),
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
mod tests {
    use super::*;

    #[test]
    fn our_paths_are_routed_and_others_left_to_the_proxy() {
        let app = "myapp-abcde";
        assert_eq!(
            route("/api/client/v2.0/app/myapp-abcde/location", app),
            Some(Route::Location)
        );
        assert_eq!(
            route(
                "/api/client/v2.0/app/myapp-abcde/auth/providers/anon-user/login",
                app
            ),
            Some(Route::Login {
                provider: "anon-user".into()
            })
        );
        assert_eq!(
            route(
                "/api/client/v2.0/app/myapp-abcde/auth/providers/local-userpass/register",
                app
            ),
            Some(Route::Register)
        );
        assert_eq!(
            route("/api/client/v2.0/auth/session", app),
            Some(Route::Session)
        );
        assert_eq!(
            route("/api/client/v2.0/app/other/location", app),
            Some(Route::AppNotFound)
        );
        assert_eq!(
            route("/api/client/v2.0/app/myapp-abcde/functions/call", app),
            None
        );
        assert_eq!(route("/data/items", app), None);
        assert_eq!(route("/.well-known/jwks.json", app), Some(Route::Jwks));
        assert_eq!(allowed_methods(&Route::Jwks), Some("GET"));
        assert_eq!(
            route("/api/client/v2.0/auth/sessions/current", app),
            Some(Route::Sessions(vec!["current".into()]))
        );
        assert_eq!(
            route("/api/client/v2.0/auth/sessions", app),
            Some(Route::Sessions(vec![]))
        );
        assert_eq!(
            route("/api/client/v2.0/auth/api_keys/k1/enable", app),
            Some(Route::ApiKeys(vec!["k1".into(), "enable".into()]))
        );
        assert_eq!(
            route(
                "/api/client/v2.0/app/myapp-abcde/auth/providers/local-userpass/reset/call",
                app
            ),
            Some(Route::Userpass(Flow::ResetCall))
        );
        assert_eq!(
            route(
                "/api/client/v2.0/app/myapp-abcde/auth/providers/local-userpass/login",
                app
            ),
            Some(Route::Login {
                provider: "local-userpass".into()
            })
        );
        assert_eq!(
            route(
                "/api/client/v2.0/app/myapp-abcde/auth/providers/local-userpass/other",
                app
            ),
            None
        );
    }
}
