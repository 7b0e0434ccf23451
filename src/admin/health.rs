//! `/healthz` (the process answers) and `/readyz` (the store answers too).

use http::{Response, StatusCode};

use crate::app::State;
use crate::web::{self, Body};

pub fn healthz() -> Response<Body> {
    web::json(StatusCode::OK, &serde_json::json!({ "status": "ok" }))
}

pub async fn readyz(state: &State) -> Response<Body> {
    match state.auth.store().ping().await {
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
