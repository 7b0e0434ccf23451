//! Admin API: a user's sessions and one-time grants.
//!
//! | method, path (under `groups/{groupId}/apps/{appId}/`) | answer |
//! | --- | --- |
//! | `GET users/{userId}/sessions` | 200 every session of the user (revoked ones too), newest first |
//! | `DELETE users/{userId}/sessions/{sessionId}` | 204; 404 if not that user's session |
//! | `POST users/{userId}/grants` `{ttl_seconds?}` | 201 `{token, user_id, expires_at}`, shown once |

use std::time::Duration;

use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use serde::Deserialize;

use crate::auth::grants;
use crate::error::ApiError;
use crate::events::RevokeReason;
use crate::sessions::{SessionError, list};
use crate::state::State;
use crate::web::{self, Body};

pub async fn list(state: &State, user_id: &str) -> Result<Response<Body>, ApiError> {
    let sessions = list::list_for_admin(state.store.as_ref(), user_id).await?;
    Ok(web::json(StatusCode::OK, &sessions))
}

pub async fn revoke(
    state: &State,
    user_id: &str,
    session_id: &str,
) -> Result<Response<Body>, ApiError> {
    let session = state
        .auth
        .store()
        .find_session(session_id)
        .await?
        .filter(|s| s.user_id == user_id)
        .ok_or(SessionError::NotFound)?;
    if session.revoked_at.is_none() {
        state
            .auth
            .revoke_session(&session, RevokeReason::Admin)
            .await?;
    }
    Ok(web::status(StatusCode::NO_CONTENT))
}

#[derive(Deserialize)]
struct GrantRequest {
    #[serde(default, deserialize_with = "web::whole_number")]
    ttl_seconds: Option<u64>,
}

pub async fn mint_grant(
    state: &State,
    user_id: &str,
    request: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    let body: GrantRequest = web::read_json(request, &state.config.server).await?;
    let ttl = body
        .ttl_seconds
        .map_or(grants::DEFAULT_TTL, Duration::from_secs);
    let grant = grants::mint(state.store.as_ref(), user_id, ttl).await?;
    tracing::info!(user_id, expires_at = grant.expires_at, "grant minted");
    Ok(web::json(StatusCode::CREATED, &grant))
}
