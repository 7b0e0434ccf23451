//! sessiongate: an authentication gateway that answers the App Services client auth API,
//! manages sessions and guards an upstream API as a reverse proxy.
//!
//! - `admin`: admin listener — health, readiness, App Services Admin API v3 paths, `/openapi.json`
//! - `assertion`: the signed identity assertion for the upstream, its keys and their JWKS
//! - `app`: `App::build` (store, keys, listeners) and `App::run` (serve until shutdown)
//! - `auth`: login providers, passwords, the login / refresh / logout lifecycle
//! - `cli`: clap types and one file per subcommand
//! - `client_api`: App Services client API routes
//! - `config`: `Config`, `load()` — TOML + `SESSIONGATE_*` environment, validated
//! - `cors`: CORS policy of the client listener — preflights, headers on every response
//! - `error`: `ApiError`, the one mapping from errors to status + JSON body
//! - `events`: session lifecycle events (`[events]`): what happened, for the app's backend
//! - `ids`: ObjectId-shaped ids, randomness, the clock
//! - `metrics`: Prometheus recorder (installed once per process), typed recording, `/metrics` text
//! - `outbound`: the outbound HTTP clients (upstream, webhooks, JWKS, admin CLI), their TLS trust
//! - `proxy`: route table, credential, identity headers, pooled streaming forwarder
//! - `router`: the route tables of the gateway's own endpoints (matchit; 405 + `Allow` per row)
//! - `server`: accept loop, rustls, HTTP/1.1 + HTTP/2, graceful shutdown
//! - `sessions`: Agnost-style session listing, sign-out, grants, activity, live streams by session
//! - `store`: `trait Store`, SQLite and PostgreSQL
//! - `telemetry`: log subscriber (text or JSON)
//! - `throttle`: `[login_limits]` — failed attempts counted per account and client in the store
//! - `tokens`: access JWTs, refresh tokens, keys, verified-token cache, revocation list
//! - `web`: body type, JSON responses, bounded body reading
#![forbid(unsafe_code)]

pub mod admin;
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
pub mod store;
pub mod telemetry;
pub mod throttle;
pub mod tokens;
pub mod web;
