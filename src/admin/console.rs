//! The admin console: `GET /` on the admin listener serves a small web app (HTML, one vanilla
//! JS module per page, CSS, all embedded in the binary), and `/console/session` signs a browser
//! in with the admin key and out again.
//!
//! The console is only a client of the Admin API: every user, session and security action it
//! offers is an Admin API call, authenticated by the console cookie (`crate::admin_access`). It has no
//! powers of its own, and this module does not serve any admin data.
//!
//! # Security
//! Pages are sent with a strict Content-Security-Policy (`'self'` only, no inline script or
//! style, Trusted Types for DOM sinks), `frame-ancestors 'none'` and `X-Frame-Options: DENY`,
//! `no-store` caching and no referrer. The cookie is HttpOnly and `SameSite=Strict`; nothing
//! secret is kept in the page's storage.

use http::header::{CACHE_CONTROL, CONTENT_TYPE, SET_COOKIE};
use http::{HeaderValue, Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use serde::{Deserialize, Serialize};

use crate::admin_access::{guard, sessions};
use crate::error::ApiError;
use crate::state::State;
use crate::web::{self, Body, RequestContext};

/// The group id the console puts in Admin API paths (any value is accepted there).
const GROUP_ID: &str = "console";

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
    connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; \
    require-trusted-types-for 'script'; trusted-types 'none'";

/// Path, content type and bytes of every embedded asset.
const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "/",
        "text/html; charset=utf-8",
        include_bytes!("console/assets/index.html"),
    ),
    (
        "/console/console.css",
        "text/css; charset=utf-8",
        include_bytes!("console/assets/console.css"),
    ),
    (
        "/console/favicon.svg",
        "image/svg+xml",
        include_bytes!("console/assets/favicon.svg"),
    ),
    (
        "/console/app.js",
        JS,
        include_bytes!("console/assets/app.js"),
    ),
    (
        "/console/api.js",
        JS,
        include_bytes!("console/assets/api.js"),
    ),
    (
        "/console/dom.js",
        JS,
        include_bytes!("console/assets/dom.js"),
    ),
    (
        "/console/users.js",
        JS,
        include_bytes!("console/assets/users.js"),
    ),
    (
        "/console/user.js",
        JS,
        include_bytes!("console/assets/user.js"),
    ),
    (
        "/console/security.js",
        JS,
        include_bytes!("console/assets/security.js"),
    ),
    (
        "/console/health.js",
        JS,
        include_bytes!("console/assets/health.js"),
    ),
];
const JS: &str = "text/javascript; charset=utf-8";

const SESSION_PATH: &str = "/console/session";

/// Whether the console answers `path` (its pages, assets and sign-in route).
pub fn owns(path: &str) -> bool {
    path == "/" || path.starts_with("/console/")
}

/// Answers a console request (see [`owns`]).
pub async fn handle(
    state: &State,
    request: Request<Incoming>,
    ctx: &RequestContext,
) -> Response<Body> {
    let method = request.method().clone();
    let result = if ctx.path == SESSION_PATH {
        match method {
            Method::POST => sign_in(state, request, ctx).await,
            Method::GET => session_info(state, &request, ctx),
            Method::DELETE => sign_out(state, &request, ctx),
            _ => Err(ApiError::method_not_allowed("GET, POST, DELETE")),
        }
    } else {
        match ASSETS.iter().find(|(path, _, _)| *path == ctx.path) {
            Some(_) if method != Method::GET && method != Method::HEAD => {
                Err(ApiError::method_not_allowed("GET, HEAD"))
            }
            Some((_, content_type, bytes)) => Ok(asset(content_type, bytes)),
            None => Err(ApiError::not_found()),
        }
    };
    let mut response = result.unwrap_or_else(ApiError::into_response);
    harden(&mut response);
    response
}

fn asset(content_type: &'static str, bytes: &'static [u8]) -> Response<Body> {
    let mut response = Response::new(web::full(bytes));
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// The security headers of every console answer.
fn harden(response: &mut Response<Body>) {
    let headers = response.headers_mut();
    for (name, value) in [
        ("content-security-policy", CSP),
        ("x-frame-options", "DENY"),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "no-referrer"),
        ("cross-origin-opener-policy", "same-origin"),
        ("cross-origin-resource-policy", "same-origin"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

#[derive(Deserialize)]
struct SignIn {
    key: Option<String>,
}

/// What the page needs to know about its session and the gateway (nothing secret).
#[derive(Serialize)]
struct SessionInfo {
    app_id: String,
    group_id: &'static str,
    version: &'static str,
    /// The store backend: `sqlite` or `postgres` (the URL's scheme only).
    store: String,
    /// Unix time when the session ends unless used again.
    expires_at: i64,
}

/// `POST /console/session {key}`: 200 and the cookie for the right admin key, else 401.
async fn sign_in(
    state: &State,
    request: Request<Incoming>,
    ctx: &RequestContext,
) -> Result<Response<Body>, ApiError> {
    guard::same_origin(request.method(), request.headers(), ctx)?;
    let body: SignIn = web::read_json(request, &state.config.server).await?;
    let key = body.key.unwrap_or_default();
    if !state.admin_key.matches(&key) {
        tracing::warn!(client_ip = ?ctx.client.ip, "console sign-in refused");
        return Err(ApiError::unauthorized_admin());
    }
    let created = state.admin_key.console().create(ctx.now);
    tracing::info!(client_ip = ?ctx.client.ip, "console signed in");
    let mut response = web::json(StatusCode::OK, &info(state, created.expires_at));
    let cookie = guard::set_cookie(ctx, &created.id, sessions::MAX_AGE);
    response.headers_mut().insert(
        SET_COOKIE,
        HeaderValue::from_str(&cookie).expect("the cookie is base64url and ASCII attributes"),
    );
    Ok(response)
}

/// `GET /console/session`: 200 with [`SessionInfo`] for a live session, else 401.
fn session_info(
    state: &State,
    request: &Request<Incoming>,
    ctx: &RequestContext,
) -> Result<Response<Body>, ApiError> {
    let id =
        guard::session_cookie(request.headers(), ctx).ok_or_else(ApiError::unauthorized_admin)?;
    guard::same_origin(request.method(), request.headers(), ctx)?;
    let expires_at = state
        .admin_key
        .console()
        .touch(id, ctx.now)
        .ok_or_else(ApiError::unauthorized_admin)?;
    Ok(web::json(StatusCode::OK, &info(state, expires_at)))
}

/// `DELETE /console/session`: ends the session and drops the cookie. 204.
fn sign_out(
    state: &State,
    request: &Request<Incoming>,
    ctx: &RequestContext,
) -> Result<Response<Body>, ApiError> {
    guard::same_origin(request.method(), request.headers(), ctx)?;
    if let Some(id) = guard::session_cookie(request.headers(), ctx) {
        state.admin_key.console().remove(id);
        tracing::info!(client_ip = ?ctx.client.ip, "console signed out");
    }
    let mut response = web::status(StatusCode::NO_CONTENT);
    response.headers_mut().insert(
        SET_COOKIE,
        HeaderValue::from_str(&guard::clear_cookie(ctx)).expect("ASCII cookie attributes"),
    );
    Ok(response)
}

fn info(state: &State, expires_at: i64) -> SessionInfo {
    let url = &state.config.store.url;
    let store = url.split_once(':').map_or("unknown", |(scheme, _)| scheme);
    SessionInfo {
        app_id: state.config.app.id.clone(),
        group_id: GROUP_ID,
        version: env!("CARGO_PKG_VERSION"),
        store: store.to_ascii_lowercase(),
        expires_at,
    }
}
