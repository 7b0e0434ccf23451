//! The admin listener: health, readiness, and the App Services Admin API v3 paths under
//! `/api/admin/v3.0/groups/{groupId}/apps/{appId}/`, behind the admin key.
//!
//! Never served on the client listener. `GET /` is the web console (`console.rs`).

mod api_keys;
mod assertion_keys;
mod auth;
mod console;
mod health;
mod import;
mod login;
mod openapi;
mod security;
mod sessions;
mod token;
mod users;

use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;

use crate::app::State;
use crate::error::{ApiError, ErrorCode};
use crate::web::{Body, RequestContext};

pub use auth::AdminKey;

const BASE: &str = "/api/admin/v3.0/groups/";

/// The endpoint's name on the access line: `healthz`, `readyz`, `metrics`, `console`, the Admin
/// API resource (`users`, `api_keys`, `security`, else `admin_api`), or `-` for no endpoint.
pub fn route_name(path: &str) -> &'static str {
    match path {
        "/healthz" => "healthz",
        "/readyz" => "readyz",
        "/metrics" => "metrics",
        login::LOGIN | login::SESSION => "admin_login",
        _ if console::owns(path) => "console",
        // groups/{groupId}/apps/{appId}/{resource}/...
        _ => match path.strip_prefix(BASE).map(|rest| rest.split('/').nth(3)) {
            Some(Some("users")) => "users",
            Some(Some("api_keys")) => "api_keys",
            Some(Some("security")) => "security",
            Some(_) => "admin_api",
            None => "-",
        },
    }
}

/// Answers an admin listener request.
pub async fn handle(
    state: &State,
    request: Request<Incoming>,
    ctx: &RequestContext,
) -> Response<Body> {
    let method = request.method().clone();
    match (method.clone(), ctx.path.as_str()) {
        (Method::GET, "/healthz") => return health::healthz(),
        (Method::GET, "/readyz") => return health::readyz(state).await,
        (Method::GET, "/metrics") => return health::metrics(state),
        (Method::GET, "/openapi.json") => return openapi::serve(state),
        (_, "/healthz" | "/readyz" | "/metrics" | "/openapi.json") => {
            return ApiError::method_not_allowed("GET").into_response();
        }
        (Method::POST, login::LOGIN) => {
            return login::log_in(state, request, ctx)
                .await
                .unwrap_or_else(ApiError::into_response);
        }
        (Method::POST, login::SESSION) => {
            return login::refresh(state, &request, ctx).unwrap_or_else(ApiError::into_response);
        }
        (_, login::LOGIN | login::SESSION) => {
            return ApiError::method_not_allowed("POST").into_response();
        }
        _ if console::owns(&ctx.path) => return console::handle(state, request, ctx).await,
        _ => {}
    }
    let Some(rest) = ctx.path.strip_prefix(BASE) else {
        return ApiError::not_found().into_response();
    };
    if let Err(err) = state
        .admin_key
        .authorize(request.method(), request.headers(), ctx)
    {
        return err.into_response();
    }
    // groups/{groupId}/apps/{appId}/...; the group id is accepted as given.
    let segments: Vec<&str> = rest.split('/').collect();
    let tail = match segments.as_slice() {
        [_group, "apps", app, tail @ ..] if *app == state.config.app.id => tail,
        [_group, "apps", _, ..] => {
            return ApiError::new(
                StatusCode::NOT_FOUND,
                ErrorCode::AppNotFound,
                "app not found",
            )
            .into_response();
        }
        _ => return ApiError::not_found().into_response(),
    };
    let query = request.uri().query().map(str::to_owned);
    let result = match (method, tail) {
        (Method::GET, ["users"]) => users::list(state, query.as_deref()).await,
        (Method::POST, ["users"]) => users::create(state, request).await,
        (Method::POST, ["users", "verify_token"]) => users::verify_token(state, request).await,
        (Method::POST, ["users", "import"]) => import::import(state, request).await,
        (Method::GET, ["users", user_id]) if !is_users_action(user_id) => {
            users::get(state, user_id).await
        }
        (Method::DELETE, ["users", user_id]) if !is_users_action(user_id) => {
            users::delete(state, user_id).await
        }
        (Method::PUT, ["users", user_id, "enable"]) => {
            users::set_disabled(state, user_id, false).await
        }
        (Method::PUT, ["users", user_id, "disable"]) => {
            users::set_disabled(state, user_id, true).await
        }
        (Method::GET, ["users", user_id, "sessions"]) => sessions::list(state, user_id).await,
        (Method::DELETE, ["users", user_id, "sessions", session_id]) => {
            sessions::revoke(state, user_id, session_id).await
        }
        (Method::POST, ["users", user_id, "grants"]) => {
            sessions::mint_grant(state, user_id, request).await
        }
        (Method::PUT, ["users", user_id, "logout"]) => users::logout(state, user_id).await,
        (Method::GET, ["security", "refresh_token_expiration"]) => {
            security::get_refresh_ttl(state).await
        }
        (Method::PUT, ["security", "refresh_token_expiration"]) => {
            security::put_refresh_ttl(state, request).await
        }
        (Method::GET, ["api_keys"]) => api_keys::list(state).await,
        (Method::POST, ["api_keys"]) => api_keys::create(state, request).await,
        (Method::GET, ["api_keys", key_id]) => api_keys::get(state, key_id).await,
        (Method::DELETE, ["api_keys", key_id]) => api_keys::delete(state, key_id).await,
        (Method::PUT, ["api_keys", key_id, "enable"]) => {
            api_keys::set_disabled(state, key_id, false).await
        }
        (Method::PUT, ["api_keys", key_id, "disable"]) => {
            api_keys::set_disabled(state, key_id, true).await
        }
        (Method::GET, ["security", "signing_keys"]) => Ok(security::list_keys(state)),
        (Method::GET, ["security", "assertion_keys"]) => Ok(assertion_keys::list(state)),
        (Method::POST, ["security", "assertion_keys"]) => assertion_keys::rotate(state).await,
        (Method::POST, ["security", "signing_keys"]) => security::rotate_key(state).await,
        (Method::DELETE, ["security", "signing_keys", kid]) => {
            security::retire_key(state, kid).await
        }
        _ => Err(api_methods(tail).map_or_else(ApiError::not_found, ApiError::method_not_allowed)),
    };
    result.unwrap_or_else(ApiError::into_response)
}

/// The methods a path of the admin listener answers (the `Allow` of its 405, and what
/// `/openapi.json` describes), or `None` where no resource answers. The console's pages are
/// left out: they are the console's own (`console::owns`), not an API.
pub fn allowed_methods(path: &str, app_id: &str) -> Option<&'static str> {
    if matches!(path, "/healthz" | "/readyz" | "/metrics" | "/openapi.json") {
        return Some("GET");
    }
    if matches!(path, login::LOGIN | login::SESSION) {
        return Some("POST");
    }
    let segments: Vec<&str> = path.strip_prefix(BASE)?.split('/').collect();
    match segments.as_slice() {
        [_group, "apps", app, tail @ ..] if *app == app_id => api_methods(tail),
        _ => None,
    }
}

/// `users/verify_token` and `users/import` are actions, not user ids.
fn is_users_action(segment: &str) -> bool {
    matches!(segment, "verify_token" | "import")
}

/// The Admin API resources under `groups/{groupId}/apps/{appId}/` and their methods.
fn api_methods(tail: &[&str]) -> Option<&'static str> {
    Some(match tail {
        ["users"] => "GET, POST",
        ["users", "verify_token" | "import"] => "POST",
        ["users", _] => "GET, DELETE",
        ["users", _, "logout" | "enable" | "disable"] => "PUT",
        ["users", _, "sessions"] => "GET",
        ["users", _, "sessions", _] => "DELETE",
        ["users", _, "grants"] => "POST",
        ["api_keys"] => "GET, POST",
        ["api_keys", _] => "GET, DELETE",
        ["api_keys", _, "enable" | "disable"] => "PUT",
        ["security", "refresh_token_expiration"] => "GET, PUT",
        ["security", "signing_keys" | "assertion_keys"] => "GET, POST",
        ["security", "signing_keys", _] => "DELETE",
        _ => return None,
    })
}
