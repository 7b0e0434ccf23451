//! sessiongate: an authentication gateway that answers the App Services client auth API,
//! manages sessions and guards an upstream API as a reverse proxy.
#![forbid(unsafe_code)]

pub mod admin; // admin listener: health, readiness, App Services Admin API v3 paths
pub mod app; // App::build (store, keys, listeners) and App::run (serve until shutdown)
pub mod auth; // providers, passwords, and the login / refresh / logout lifecycle
pub mod cli; // clap types and one file per subcommand
pub mod client_api; // App Services client API routes: location, login, register, profile, session
pub mod config; // Config, load(): TOML + SESSIONGATE_* environment, validated
pub mod error; // ApiError: the one mapping from errors to status + JSON body
pub mod ids; // ObjectId-shaped ids, randomness, the clock
pub mod proxy; // route table, credential, identity headers, pooled streaming forwarder
pub mod server; // accept loop, rustls, HTTP/1.1 + HTTP/2, graceful shutdown
pub mod store; // trait Store + SQLite backend
pub mod telemetry;
pub mod tokens; // access JWTs, refresh tokens, keys, verified-token cache, revocation list
pub mod web; // body type, JSON responses, bounded body reading // log subscriber (text or JSON), one line per request
