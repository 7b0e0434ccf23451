//! `POST users/import`: users from an App Services export, with their ids (`auth::import`).
//!
//! The body has its own limit, `admin.import_max_bytes` (an export is far larger than the
//! own endpoints' `server.max_body_bytes`), and the same read deadline.

use http::{Request, Response, StatusCode};
use hyper::body::Incoming;

use crate::error::ApiError;
use crate::state::State;
use crate::web::{self, Body};

/// 200 with the report (`created`, `skipped`, `refused`: index, `_id`, reason); a refused
/// import writes nothing and answers 400 (malformed entries) or 409 (conflicts with the
/// store) with the report beside `error` and `error_code`.
pub async fn import(state: &State, request: Request<Incoming>) -> Result<Response<Body>, ApiError> {
    let (parts, body) = request.into_parts();
    let read = web::read_body(&parts.headers, body, state.config.admin.import_max_bytes);
    let bytes = tokio::time::timeout(state.config.server.body_read_timeout, read)
        .await
        .map_err(|_| ApiError::request_timeout())??;
    match state.auth.import_users(&bytes).await {
        Ok(report) => Ok(web::json(StatusCode::OK, &report)),
        Err(refused) => {
            Ok(ApiError::from(refused.error).into_response_with(refused.report.as_ref()))
        }
    }
}
