//! Admin API `security/…`: refresh-token lifetime (App Services' path) and signing keys
//! (list, rotate, retire).

use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use serde::{Deserialize, Serialize};

use crate::auth::REFRESH_TTL_SETTING;
use crate::config::{REFRESH_TTL_MAX, REFRESH_TTL_MIN};
use crate::error::ApiError;
use crate::ids;
use crate::state::State;
use crate::tokens::KeyError;
use crate::tokens::keys::{self, KEY_PROPAGATION};
use crate::web::{self, Body};

#[derive(Serialize, Deserialize)]
struct RefreshTokenExpiration {
    #[serde(default, deserialize_with = "web::whole_number")]
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
    let keys = state.tokens.keys();
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
    let kid = keys::rotate(&state.config.tokens, state.store.as_ref()).await?;
    state.reload_keys().await;
    let delay = i64::try_from(KEY_PROPAGATION.as_secs()).unwrap_or(0);
    Ok(web::json(
        StatusCode::CREATED,
        &Rotated {
            kid,
            active_from: ids::now() + delay,
        },
    ))
}

#[derive(Serialize)]
struct Retired {
    kid: String,
    /// The key this replica signs with now.
    signing: String,
}

/// `DELETE security/signing_keys/{kid}`: retires a key at once (compromised). It leaves the
/// store, this replica reloads its keys before answering and evicts the key's cached tokens,
/// other replicas are woken to do the same (PostgreSQL `NOTIFY`; else within their 5 s key
/// reload). 200 `{kid, signing}`; 404 unknown key; 409 a configured key, or the key that signs
/// now while no newer key exists (rotate first). Repeating a retirement this replica has not
/// applied yet (its reload failed) applies it.
pub async fn retire_key(state: &State, kid: &str) -> Result<Response<Body>, ApiError> {
    let config = &state.config.tokens;
    let store = &state.store;
    let tokens = &state.tokens;
    match keys::retire(config, store.as_ref(), kid, ids::now()).await {
        Ok(()) => {}
        Err(KeyError::NotFound(_)) if tokens.keys().find(kid).is_some() => {}
        Err(err) => return Err(err.into()),
    }
    // Under the reload lock: a reload that read the store before the retirement (a rotation's
    // notification, the periodic poll) must not put the retired key back after this one.
    state.reload_signing_keys().await?;
    tracing::warn!(kid, "signing key retired");
    Ok(web::json(
        StatusCode::OK,
        &Retired {
            kid: kid.to_owned(),
            signing: tokens.keys().signing_key(ids::now()).kid.clone(),
        },
    ))
}
