//! `/healthz` (the process answers), `/readyz` (the store takes a write too) and `/metrics`
//! (Prometheus text). Open on the admin listener, which is never exposed by default.

use std::sync::atomic::Ordering;

use http::{Response, StatusCode};

use crate::state::State;
use crate::web::{self, Body};

pub fn healthz() -> Response<Body> {
    web::json(StatusCode::OK, &serde_json::json!({ "status": "ok" }))
}

/// Ready means the gateway can do its job, and logins write: a heartbeat upsert, bounded by
/// `store.timeout`. A store that reads but cannot write (SQLite locked by another writer, disk
/// full, read-only file) is not ready.
pub async fn readyz(state: &State) -> Response<Body> {
    match state.store.probe_write(crate::ids::now()).await {
        Ok(()) => web::json(StatusCode::OK, &serde_json::json!({ "status": "ready" })),
        Err(err) => {
            tracing::warn!(error = %err, "not ready");
            web::json(
                StatusCode::SERVICE_UNAVAILABLE,
                &serde_json::json!({ "status": "store unavailable" }),
            )
        }
    }
}

/// `GET /metrics`: Prometheus text exposition.
pub fn metrics(state: &State) -> Response<Body> {
    let tokens = &state.tokens;
    let stats = tokens.stats();
    crate::metrics::set_token_cache(
        stats.cache_hits.load(Ordering::Relaxed),
        stats.cache_misses.load(Ordering::Relaxed),
        tokens.cache_entries(),
    );
    let staleness = tokens.revocations().staleness(crate::ids::now());
    crate::metrics::set_revocation_staleness(staleness as f64);
    let mut response = Response::new(web::full(state.metrics.render()));
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    response
}
