//! Server API keys (Admin API `api_keys`): each key has its own `server` user, created with
//! the key and deleted with it.
//!
//! | method, path | answer |
//! | --- | --- |
//! | `GET api_keys` | 200 `[{_id, name, disabled}]` |
//! | `POST api_keys {name}` | 201 `{_id, key, name, disabled}`: the only time `key` is shown |
//! | `GET api_keys/{id}` | 200 `{_id, name, disabled}` |
//! | `DELETE api_keys/{id}` | 204: the key and its server user are gone, sessions revoked |
//! | `PUT api_keys/{id}/enable`, `…/disable` | 204; disabling also revokes the server user's sessions |
//!
//! A user API key's id is 404 here, like an unknown one.

use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use serde::Deserialize;

use crate::error::ApiError;
use crate::events::RevokeReason;
use crate::state::State;
use crate::web::{self, Body};

#[derive(Deserialize)]
struct CreateBody {
    #[serde(default)]
    name: Option<String>,
}

pub async fn list(state: &State) -> Result<Response<Body>, ApiError> {
    let keys = state.auth.api_keys()?.list_server_keys().await?;
    Ok(web::json(StatusCode::OK, &keys))
}

pub async fn create(state: &State, request: Request<Incoming>) -> Result<Response<Body>, ApiError> {
    let keys = state.auth.api_keys()?;
    let body: CreateBody = web::read_json(request, &state.config.server).await?;
    let created = keys.create_server_key(body.name.as_deref()).await?;
    Ok(web::json(StatusCode::CREATED, &created))
}

pub async fn get(state: &State, key_id: &str) -> Result<Response<Body>, ApiError> {
    let key = state.auth.api_keys()?.get_server_key(key_id).await?;
    Ok(web::json(StatusCode::OK, &key))
}

pub async fn delete(state: &State, key_id: &str) -> Result<Response<Body>, ApiError> {
    let owner = state.auth.api_keys()?.server_key_owner(key_id).await?;
    state.auth.delete_user(&owner).await?;
    Ok(web::status(StatusCode::NO_CONTENT))
}

pub async fn set_disabled(
    state: &State,
    key_id: &str,
    disabled: bool,
) -> Result<Response<Body>, ApiError> {
    let keys = state.auth.api_keys()?;
    let owner = keys.server_key_owner(key_id).await?;
    keys.set_disabled(&owner, key_id, disabled).await?;
    if disabled {
        state
            .auth
            .revoke_user(&owner, None, RevokeReason::Admin)
            .await?;
    }
    Ok(web::status(StatusCode::NO_CONTENT))
}
