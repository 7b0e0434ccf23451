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

use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use serde::Deserialize;

use crate::app::State;
use crate::auth::{anon, api_key};
use crate::error::{ApiError, ErrorCode};
use crate::store::{Session, User};
use crate::web::{self, Body};

#[derive(Deserialize)]
struct CreateBody {
    #[serde(default)]
    name: Option<String>,
}

pub async fn handle(
    state: &State,
    rest: &[String],
    request: Request<Incoming>,
) -> Result<(Response<Body>, Option<String>), ApiError> {
    let keys = state.auth.api_keys()?;
    let token = super::refresh_token(request.headers())?;
    let (session, user) = state.auth.refresh_session(token).await?;
    let method = request.method().clone();
    let rest: Vec<&str> = rest.iter().map(String::as_str).collect();
    let response = match (&method, rest.as_slice()) {
        (&Method::POST, []) => {
            may_create_keys(&session, &user)?;
            let body: CreateBody = web::read_json(request, &state.config.server).await?;
            let created = keys.create(&user.id, body.name.as_deref()).await?;
            web::json(StatusCode::CREATED, &created)
        }
        (&Method::GET, []) => web::json(StatusCode::OK, &keys.list(&user.id).await?),
        (&Method::GET, [id]) => web::json(StatusCode::OK, &keys.get(&user.id, id).await?),
        (&Method::DELETE, [id]) => {
            keys.delete(&user.id, id).await?;
            web::status(StatusCode::NO_CONTENT)
        }
        (&Method::PUT, [id, action @ ("enable" | "disable")]) => {
            keys.set_disabled(&user.id, id, *action == "disable")
                .await?;
            web::status(StatusCode::NO_CONTENT)
        }
        _ => {
            return Err(allowed_methods(&rest)
                .map_or_else(ApiError::not_found, ApiError::method_not_allowed));
        }
    };
    Ok((response, Some(user.id)))
}

/// The methods `/auth/api_keys/…` answers for the segments after `api_keys` (the `Allow` of
/// its 405), or `None` for no such resource.
pub fn allowed_methods(rest: &[&str]) -> Option<&'static str> {
    Some(match rest {
        [] => "GET, POST",
        [_] => "GET, DELETE",
        [_, "enable" | "disable"] => "PUT",
        _ => return None,
    })
}

fn may_create_keys(session: &Session, user: &User) -> Result<(), ApiError> {
    let anonymous = user
        .identities
        .iter()
        .all(|identity| identity.provider_type == anon::NAME);
    if anonymous {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            ErrorCode::Forbidden,
            "anonymous users cannot create api keys",
        ));
    }
    if session.provider_type == api_key::NAME {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            ErrorCode::Forbidden,
            "a session started with an api key cannot create api keys",
        ));
    }
    Ok(())
}
