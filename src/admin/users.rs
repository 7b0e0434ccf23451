//! Admin API user routes: `users/verify_token` and `users/{userId}/logout`.

use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use serde::{Deserialize, Serialize};

use crate::app::State;
use crate::error::ApiError;
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
    let (parts, body) = request.into_parts();
    let bytes = web::read_body(&parts.headers, body, state.config.server.max_body_bytes).await?;
    let body: VerifyBody = web::parse_json(&parts.headers, &bytes)?;
    let token = body
        .token
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::bad_request("token is required"))?;
    match state.auth.tokens().decode(&token) {
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
    if state.auth.store().find_user(user_id).await?.is_none() {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            crate::error::ErrorCode::UserNotFound,
            "user not found",
        ));
    }
    state.auth.revoke_user(user_id).await?;
    Ok(web::status(StatusCode::NO_CONTENT))
}
