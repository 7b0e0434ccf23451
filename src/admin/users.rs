//! Admin API user routes: `users/verify_token` and `users/{userId}/logout`.

use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use serde::{Deserialize, Serialize};

use crate::auth::AuthError;
use crate::auth::userpass::{RegisterBody, normalize_email};
use crate::error::ApiError;
use crate::events::RevokeReason;
use crate::sessions::list::UserView;
use crate::state::State;
use crate::store::UserQuery;
use crate::tokens::TokenError;
use crate::web::{self, Body};

#[derive(Deserialize)]
struct VerifyBody {
    token: Option<String>,
}

/// Decoded claims, named as the App Services Admin API answers them.
#[derive(Serialize)]
struct Decoded {
    sub: String,
    exp: i64,
    iat: i64,
    iss: String,
    domain_id: String,
    device_id: String,
    session_id: String,
    provider_type: String,
}

/// `POST users/verify_token`: 200 claims; 200 `"token expired"`; 401 `signature is invalid`.
pub async fn verify_token(
    state: &State,
    request: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    let body: VerifyBody = web::read_json(request, &state.config.server).await?;
    let token = body
        .token
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::bad_request("token is required"))?;
    match state.tokens.decode(&token) {
        Ok(claims) => Ok(web::json(
            StatusCode::OK,
            &Decoded {
                sub: claims.sub,
                exp: claims.exp,
                iat: claims.iat,
                iss: claims.iss,
                domain_id: state.auth.domain_id().to_owned(),
                device_id: claims.baas_device_id,
                session_id: claims.sid,
                provider_type: claims.baas_provider,
            },
        )),
        Err(TokenError::Expired) => Ok(web::json(StatusCode::OK, &"token expired")),
        Err(TokenError::Signing(cause)) => Err(ApiError::internal(&cause)),
        Err(_) => Ok(web::json(
            StatusCode::UNAUTHORIZED,
            &serde_json::json!({ "error": "signature is invalid", "error_code": "InvalidSession" }),
        )),
    }
}

/// `PUT users/{userId}/logout`: every session of the user is revoked. 204.
pub async fn logout(state: &State, user_id: &str) -> Result<Response<Body>, ApiError> {
    if state.store.find_user(user_id).await?.is_none() {
        return Err(user_not_found());
    }
    state
        .auth
        .revoke_user(user_id, None, RevokeReason::Admin)
        .await?;
    Ok(web::status(StatusCode::NO_CONTENT))
}

/// Largest page of `GET users`.
const MAX_PAGE: i64 = 1000;

#[derive(Deserialize, Default)]
struct ListQuery {
    provider: Option<String>,
    email: Option<String>,
    after: Option<String>,
    limit: Option<i64>,
}

/// `GET users?provider=&email=&after=&limit=`: a page of users ordered by id (pass the last
/// id as `after` for the next page).
pub async fn list(state: &State, query: Option<&str>) -> Result<Response<Body>, ApiError> {
    let query: ListQuery = match query {
        Some(q) => serde_urlencoded::from_str(q)
            .map_err(|err| ApiError::invalid_parameter(format!("invalid query: {err}")))?,
        None => ListQuery::default(),
    };
    let limit = query.limit.unwrap_or(100);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::invalid_parameter(format!(
            "limit must be between 1 and {MAX_PAGE}"
        )));
    }
    let email = query.email.map(|e| normalize_email(&e)).transpose()?;
    let users = state
        .auth
        .store()
        .list_users(&UserQuery {
            provider: query.provider,
            email,
            after: query.after,
            limit,
        })
        .await?;
    let users: Vec<UserView> = users.into_iter().map(UserView::from).collect();
    Ok(web::json(StatusCode::OK, &users))
}

/// `POST users {email, password}`: creates a confirmed local-userpass user. 201 with the user.
pub async fn create(state: &State, request: Request<Incoming>) -> Result<Response<Body>, ApiError> {
    let userpass = state.auth.userpass()?;
    let body: RegisterBody = web::read_json(request, &state.config.server).await?;
    let user_id = userpass.register_confirmed(body).await?;
    state
        .events
        .emit(crate::auth::user_created(
            &user_id,
            crate::auth::userpass::NAME,
            "normal",
        ))
        .await;
    let user = state
        .auth
        .store()
        .find_user(&user_id)
        .await?
        .ok_or_else(user_not_found)?;
    Ok(web::json(StatusCode::CREATED, &UserView::from(user)))
}

/// `GET users/{userId}`.
pub async fn get(state: &State, user_id: &str) -> Result<Response<Body>, ApiError> {
    let user = state
        .auth
        .store()
        .find_user(user_id)
        .await?
        .ok_or_else(user_not_found)?;
    Ok(web::json(StatusCode::OK, &UserView::from(user)))
}

/// `DELETE users/{userId}`: sessions revoked, then the user is gone. 204.
pub async fn delete(state: &State, user_id: &str) -> Result<Response<Body>, ApiError> {
    state.auth.delete_user(user_id).await?;
    Ok(web::status(StatusCode::NO_CONTENT))
}

/// `PUT users/{userId}/enable` and `…/disable` (disabling revokes every session). 204.
pub async fn set_disabled(
    state: &State,
    user_id: &str,
    disabled: bool,
) -> Result<Response<Body>, ApiError> {
    state.auth.set_user_disabled(user_id, disabled).await?;
    Ok(web::status(StatusCode::NO_CONTENT))
}

fn user_not_found() -> ApiError {
    AuthError::UserNotFound.into()
}
