//! Admin API `security/…`: refresh-token lifetime (App Services' path) and signing keys.

use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use serde::{Deserialize, Serialize};

use crate::app::{self, State};
use crate::auth::REFRESH_TTL_SETTING;
use crate::config::{REFRESH_TTL_MAX, REFRESH_TTL_MIN};
use crate::error::{ApiError, ErrorCode};
use crate::ids;
use crate::tokens::KeyError;
use crate::tokens::keys::{self, KEY_PROPAGATION};
use crate::web::{self, Body};

#[derive(Serialize, Deserialize)]
struct RefreshTokenExpiration {
    expiration_time_seconds: Option<i64>,
}

/// `GET security/refresh_token_expiration`.
pub async fn get_refresh_ttl(state: &State) -> Result<Response<Body>, ApiError> {
    let ttl = state.auth.refresh_ttl().await?;
    let seconds = i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX);
    Ok(web::json(
        StatusCode::OK,
        &RefreshTokenExpiration {
            expiration_time_seconds: Some(seconds),
        },
    ))
}

/// `PUT security/refresh_token_expiration`: 204, or 400 outside 1800..=15552000 seconds.
/// Applies to sessions created afterwards, on every replica (it is kept in the store).
pub async fn put_refresh_ttl(
    state: &State,
    request: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    let body: RefreshTokenExpiration = web::read_json(request, &state.config.server).await?;
    let seconds = body
        .expiration_time_seconds
        .ok_or_else(|| ApiError::invalid_parameter("expiration_time_seconds is required"))?;
    let allowed = REFRESH_TTL_MIN.as_secs()..=REFRESH_TTL_MAX.as_secs();
    if !u64::try_from(seconds).is_ok_and(|s| allowed.contains(&s)) {
        return Err(ApiError::invalid_parameter(format!(
            "expiration_time_seconds must be between {} and {}",
            allowed.start(),
            allowed.end()
        )));
    }
    state
        .auth
        .store()
        .put_setting(REFRESH_TTL_SETTING, &seconds.to_string())
        .await?;
    Ok(web::status(StatusCode::NO_CONTENT))
}

#[derive(Serialize)]
struct KeyInfo {
    kid: String,
    /// Whether this replica signs new tokens with it now.
    signing: bool,
}

#[derive(Serialize)]
struct Rotated {
    kid: String,
    /// Unix time from which the new key signs (every replica has loaded it by then).
    active_from: i64,
}

/// `GET security/signing_keys`: the key ids this replica verifies with.
pub fn list_keys(state: &State) -> Response<Body> {
    let keys = state.auth.tokens().keys();
    let signing = keys.signing_key(ids::now()).kid.clone();
    let list: Vec<KeyInfo> = keys
        .kids()
        .map(|kid| KeyInfo {
            kid: kid.to_owned(),
            signing: kid == signing,
        })
        .collect();
    web::json(StatusCode::OK, &list)
}

/// `POST security/signing_keys`: adds a generated key that signs after the propagation delay;
/// older keys keep verifying until their last token expires. 201.
pub async fn rotate_key(state: &State) -> Result<Response<Body>, ApiError> {
    let kid = match keys::rotate(&state.config.tokens, state.auth.store().as_ref()).await {
        Ok(kid) => kid,
        Err(KeyError::Configured) => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                ErrorCode::InvalidParameter,
                KeyError::Configured.to_string(),
            ));
        }
        Err(KeyError::Store(err)) => return Err(err.into()),
        Err(err @ KeyError::BadKey(_)) => return Err(ApiError::internal(&err)),
    };
    app::reload_keys(state).await;
    let delay = i64::try_from(KEY_PROPAGATION.as_secs()).unwrap_or(0);
    Ok(web::json(
        StatusCode::CREATED,
        &Rotated {
            kid,
            active_from: ids::now() + delay,
        },
    ))
}
