//! sessiongate: an authentication gateway that answers the App Services client auth API,
//! manages sessions and guards an upstream API as a reverse proxy.
//!
//! Modules, lowest first: each uses only modules above it in this list (no cycles;
//! `tests/module_order.rs` checks it).
//!
//! - `config`: `Config`, `load()` — TOML + `SESSIONGATE_*` environment, validated; custom-token
//!   key files parsed once here
//! - `web`: body type, JSON responses, bounded body reading (`BodyError`), `RequestContext`,
//!   `ClientInfo`
//! - `ids`: ObjectId-shaped ids, randomness, the clock
//! - `store`: `trait Store`, SQLite and PostgreSQL
//! - `metrics`: Prometheus recorder (installed once per process), typed recording, `/metrics` text
//! - `telemetry`: log subscriber (text or JSON)
//! - `outbound`: the outbound HTTP clients (upstream, webhooks, JWKS, admin CLI), their TLS
//!   trust, and their errors (`WebhookError`, `ForwardError`)
//! - `events`: session lifecycle events (`[events]`): what happened, for the app's backend
//! - `streams`: proxied streams still open, by session, so a revocation can close them
//! - `tokens`: access JWTs, refresh tokens, keys, verified-token cache, revocation list
//! - `auth`: login providers (grants too), passwords, the login / refresh / logout lifecycle,
//!   user administration; refusals are `AuthError`
//! - `sessions`: Agnost-style session listing, sign-out, activity; refusals are `SessionError`
//! - `throttle`: `[login_limits]` — failed attempts counted per account and client in the store
//! - `error`: `ApiError`, the one mapping from every domain error to status + JSON body
//! - `router`: the route tables of the gateway's own endpoints (matchit; 405 + `Allow` per row)
//! - `admin_access`: who may use the admin listener — admin keys, admin tokens, console sessions
//! - `assertion`: the signed identity assertion for the upstream, its keys and their JWKS
//! - `cors`: CORS policy of the client listener — preflights, headers on every response
//! - `proxy`: route table, credential, identity headers, pooled streaming forwarder
//! - `state`: `State`, what every request handler may use, and the key reloads
//! - `admin`: admin listener — health, readiness, App Services Admin API v3 paths, `/openapi.json`
//! - `server`: accept loop, rustls, HTTP/1.1 + HTTP/2, graceful shutdown
//! - `client_api`: App Services client API routes
//! - `app`: `App::build` (store, keys, listeners), `App::run` (serve until shutdown), the
//!   per-request pipeline (tower layers around the client API, proxy and admin services) and
//!   the background tasks
//! - `cli`: clap types and one file per subcommand
#![forbid(unsafe_code)]

pub mod admin;
pub mod admin_access;
pub mod app;
pub mod assertion;
pub mod auth;
pub mod cli;
pub mod client_api;
pub mod config;
pub mod cors;
pub mod error;
pub mod events;
pub mod ids;
pub mod metrics;
pub mod outbound;
pub mod proxy;
pub mod router;
pub mod server;
pub mod sessions;
pub mod state;
pub mod store;
pub mod streams;
pub mod telemetry;
pub mod throttle;
pub mod tokens;
pub mod web;
