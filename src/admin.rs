//! The admin listener: health, readiness, and the App Services Admin API v3 paths under
//! `/api/admin/v3.0/groups/{groupId}/apps/{appId}/`, behind the admin key.
//!
//! Never served on the client listener. `GET /` is the web console (`console.rs`).

mod api_keys;
mod assertion_keys;
mod console;
mod health;
mod import;
mod login;
mod openapi;
mod security;
mod sessions;
mod users;

use std::sync::LazyLock;

use http::{Request, Response};
use hyper::body::Incoming;

use crate::error::ApiError;
use crate::router::{self, Matched, Resource, Table, resource};
use crate::state::State;
use crate::web::{Body, RequestContext};

const BASE: &str = "/api/admin/v3.0/groups/";

/// What a row of the table runs (`router::Handler` with the gateway's `State`).
pub type Handler = router::Handler<State>;

/// `/api/admin/v3.0/groups/{group}/apps/{app}` + a literal path: a pattern of the table.
macro_rules! app {
    ($path:literal) => {
        concat!("/api/admin/v3.0/groups/{group}/apps/{app}", $path)
    };
}

/// The admin listener: one row per resource. Paths under `groups/` need the admin key (checked
/// before routing); `{app}` must be the configured app id (another is 404 `AppNotFound`); the
/// group id is accepted as given. The console's pages are its own (`console::owns`).
static TABLE: LazyLock<Table<Handler>> = LazyLock::new(|| {
    Table::new(vec![
        row("healthz", "/healthz").get(|_| Box::pin(async move { Ok(health::healthz()) })),
        row("readyz", "/readyz")
            .get(|c| Box::pin(async move { Ok(health::readyz(c.state).await) })),
        row("metrics", "/metrics").get(|c| Box::pin(async move { Ok(health::metrics(c.state)) })),
        row("openapi", "/openapi.json")
            .get(|c| Box::pin(async move { Ok(openapi::serve(c.state)) })),
        row("admin_login", login::LOGIN)
            .post(|c| Box::pin(login::log_in(c.state, c.request, c.ctx))),
        row("admin_login", login::SESSION)
            .post(|c| Box::pin(async move { login::refresh(c.state, &c.request, c.ctx) })),
        row("users", app!("/users"))
            .get(|c| Box::pin(async move { users::list(c.state, c.request.uri().query()).await }))
            .post(|c| Box::pin(users::create(c.state, c.request))),
        row("users", app!("/users/verify_token"))
            .post(|c| Box::pin(users::verify_token(c.state, c.request))),
        row("users", app!("/users/import")).post(|c| Box::pin(import::import(c.state, c.request))),
        row("users", app!("/users/{user_id}"))
            .get(|c| Box::pin(users::get(c.state, c.params.get("user_id"))))
            .delete(|c| Box::pin(users::delete(c.state, c.params.get("user_id")))),
        row("users", app!("/users/{user_id}/enable"))
            .put(|c| Box::pin(users::set_disabled(c.state, c.params.get("user_id"), false))),
        row("users", app!("/users/{user_id}/disable"))
            .put(|c| Box::pin(users::set_disabled(c.state, c.params.get("user_id"), true))),
        row("users", app!("/users/{user_id}/logout"))
            .put(|c| Box::pin(users::logout(c.state, c.params.get("user_id")))),
        row("users", app!("/users/{user_id}/sessions"))
            .get(|c| Box::pin(sessions::list(c.state, c.params.get("user_id")))),
        row("users", app!("/users/{user_id}/sessions/{session_id}")).delete(|c| {
            Box::pin(sessions::revoke(
                c.state,
                c.params.get("user_id"),
                c.params.get("session_id"),
            ))
        }),
        row("users", app!("/users/{user_id}/grants")).post(|c| {
            Box::pin(sessions::mint_grant(
                c.state,
                c.params.get("user_id"),
                c.request,
            ))
        }),
        row("api_keys", app!("/api_keys"))
            .get(|c| Box::pin(api_keys::list(c.state)))
            .post(|c| Box::pin(api_keys::create(c.state, c.request))),
        row("api_keys", app!("/api_keys/{key_id}"))
            .get(|c| Box::pin(api_keys::get(c.state, c.params.get("key_id"))))
            .delete(|c| Box::pin(api_keys::delete(c.state, c.params.get("key_id")))),
        row("api_keys", app!("/api_keys/{key_id}/enable")).put(|c| {
            Box::pin(api_keys::set_disabled(
                c.state,
                c.params.get("key_id"),
                false,
            ))
        }),
        row("api_keys", app!("/api_keys/{key_id}/disable")).put(|c| {
            Box::pin(api_keys::set_disabled(
                c.state,
                c.params.get("key_id"),
                true,
            ))
        }),
        row("security", app!("/security/refresh_token_expiration"))
            .get(|c| Box::pin(security::get_refresh_ttl(c.state)))
            .put(|c| Box::pin(security::put_refresh_ttl(c.state, c.request))),
        row("security", app!("/security/signing_keys"))
            .get(|c| Box::pin(async move { Ok(security::list_keys(c.state)) }))
            .post(|c| Box::pin(security::rotate_key(c.state))),
        row("security", app!("/security/signing_keys/{kid}"))
            .delete(|c| Box::pin(security::retire_key(c.state, c.params.get("kid")))),
        row("security", app!("/security/assertion_keys"))
            .get(|c| Box::pin(async move { Ok(assertion_keys::list(c.state)) }))
            .post(|c| Box::pin(assertion_keys::rotate(c.state))),
        // The rest of an app's paths: ours, 404 (or `AppNotFound` for another app id).
        row("admin_api", app!("/{*rest}")),
    ])
});

/// A row of `TABLE` (naming the handler type lets each closure take the handler's signature).
fn row(name: &'static str, pattern: &'static str) -> Resource<Handler> {
    resource(name, pattern)
}

/// The endpoint's name on the access line: `healthz`, `readyz`, `metrics`, `console`, the Admin
/// API resource (`users`, `api_keys`, `security`, else `admin_api`), or `-` for no endpoint.
pub fn route_name(path: &str) -> &'static str {
    if console::owns(path) {
        return "console";
    }
    match TABLE.at(path) {
        Some(route) => route.name(),
        None if path.starts_with(BASE) => "admin_api",
        None => "-",
    }
}

/// Answers an admin listener request.
pub async fn handle(
    state: &State,
    request: Request<Incoming>,
    ctx: &RequestContext,
) -> Response<Body> {
    if console::owns(&ctx.path) {
        return console::handle(state, request, ctx).await;
    }
    if ctx.path.starts_with(BASE) {
        if let Err(err) = state
            .admin_key
            .authorize(request.method(), request.headers(), ctx)
        {
            return err.into_response();
        }
    }
    let Some(route) = TABLE.at(&ctx.path) else {
        return ApiError::not_found().into_response();
    };
    if other_app(&route, &state.config.app.id) {
        return ApiError::app_not_found().into_response();
    }
    route.call(state, request, ctx).await
}

fn other_app(route: &Matched<'static, '_, Handler>, app_id: &str) -> bool {
    let app = route.params().get("app");
    !app.is_empty() && app != app_id
}

/// The methods a path of the admin listener answers (the `Allow` of its 405, and what
/// `/openapi.json` describes), or `None` where no resource answers. The console's pages are
/// left out: they are the console's own (`console::owns`), not an API.
pub fn allowed_methods(path: &str, app_id: &str) -> Option<&'static str> {
    let route = TABLE.at(path)?;
    if other_app(&route, app_id) {
        return None;
    }
    route.allow()
}

#[cfg(test)]
mod tests {
    use super::*;

    const APP: &str = "myapp-abcde";

    fn app(rest: &str) -> String {
        format!("{BASE}g1/apps/{APP}{rest}")
    }

    #[test]
    fn the_table_gives_each_path_its_methods() {
        assert_eq!(allowed_methods("/healthz", APP), Some("GET"));
        assert_eq!(allowed_methods(login::LOGIN, APP), Some("POST"));
        assert_eq!(allowed_methods(&app("/users"), APP), Some("GET, POST"));
        assert_eq!(allowed_methods(&app("/users/u1"), APP), Some("GET, DELETE"));
        // Actions are not user ids.
        assert_eq!(allowed_methods(&app("/users/import"), APP), Some("POST"));
        assert_eq!(
            allowed_methods(&app("/users/verify_token"), APP),
            Some("POST")
        );
        assert_eq!(
            allowed_methods(&app("/users/u1/sessions/s1"), APP),
            Some("DELETE")
        );
        assert_eq!(
            allowed_methods(&app("/security/signing_keys"), APP),
            Some("GET, POST")
        );
        assert_eq!(allowed_methods(&app("/users/u1/other"), APP), None);
        assert_eq!(allowed_methods(&app("/users"), "other-app"), None);
        assert_eq!(allowed_methods("/nothing", APP), None);
    }

    #[test]
    fn access_line_names() {
        assert_eq!(route_name("/readyz"), "readyz");
        assert_eq!(route_name("/"), "console");
        assert_eq!(route_name(&app("/users/u1/sessions")), "users");
        assert_eq!(route_name(&app("/api_keys")), "api_keys");
        assert_eq!(
            route_name(&app("/security/refresh_token_expiration")),
            "security"
        );
        assert_eq!(route_name(&app("/functions")), "admin_api");
        assert_eq!(route_name(&format!("{BASE}g1")), "admin_api");
        assert_eq!(route_name("/nothing"), "-");
    }
}
