//! User API keys under `/api/client/v2.0/auth/api_keys`, with the REFRESH token (as
//! realm-web's `user.apiKeys` sends it):
//!
//! | method, path | answer |
//! | --- | --- |
//! | `POST /auth/api_keys {name}` | 201 `{_id, key, name, disabled}`: the only time `key` is shown |
//! | `GET /auth/api_keys` | 200 `[{_id, name, disabled}]`, oldest first |
//! | `GET /auth/api_keys/{id}` | 200 `{_id, name, disabled}` |
//! | `DELETE /auth/api_keys/{id}` | 204 |
//! | `PUT /auth/api_keys/{id}/enable`, `…/disable` | 204 |
//!
//! Another user's key id is 404 `APIKeyNotFound`, like an unknown one. With the `api-key`
//! provider disabled every route is 404 `AuthProviderNotFound`.
//!
//! Creating a key is 403 `Forbidden` for an anonymous user (a user whose identities are all
//! `anon-user`: the key would outlive the user, deleted after `anon_user_ttl`) and for a
//! session that was itself started with an API key (a key must not mint keys that outlive it).

use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use serde::Deserialize;

use crate::auth::{anon, api_key};
use crate::error::ApiError;
use crate::state::State;
use crate::store::{Session, User};
use crate::web::{self, Body};

#[derive(Deserialize)]
struct CreateBody {
    #[serde(default)]
    name: Option<String>,
}

/// What a request on the caller's keys acts on.
#[derive(Debug, Clone, Copy)]
pub enum Action<'a> {
    Create,
    List,
    Get(&'a str),
    Delete(&'a str),
    /// `PUT …/{id}/enable` (false) or `…/disable` (true).
    SetDisabled(&'a str, bool),
}

/// Answers one request on the caller's API keys (the table routes each path and method here
/// with its `Action`).
pub async fn handle(
    state: &State,
    action: Action<'_>,
    request: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    let keys = state.auth.api_keys()?;
    let token = super::refresh_token(request.headers())?;
    let (session, user) = state.auth.refresh_session(token).await?;
    let response = match action {
        Action::Create => {
            may_create_keys(&session, &user)?;
            let body: CreateBody = web::read_json(request, &state.config.server).await?;
            let created = keys.create(&user.id, body.name.as_deref()).await?;
            web::json(StatusCode::CREATED, &created)
        }
        Action::List => web::json(StatusCode::OK, &keys.list(&user.id).await?),
        Action::Get(id) => web::json(StatusCode::OK, &keys.get(&user.id, id).await?),
        Action::Delete(id) => {
            keys.delete(&user.id, id).await?;
            web::status(StatusCode::NO_CONTENT)
        }
        Action::SetDisabled(id, disabled) => {
            keys.set_disabled(&user.id, id, disabled).await?;
            web::status(StatusCode::NO_CONTENT)
        }
    };
    Ok(super::acting_for(response, user.id))
}

fn may_create_keys(session: &Session, user: &User) -> Result<(), ApiError> {
    let anonymous = user
        .identities
        .iter()
        .all(|identity| identity.provider_type == anon::NAME);
    if anonymous {
        return Err(ApiError::forbidden(
            "anonymous users cannot create api keys",
        ));
    }
    if session.provider_type == api_key::NAME {
        return Err(ApiError::forbidden(
            "a session started with an api key cannot create api keys",
        ));
    }
    Ok(())
}
