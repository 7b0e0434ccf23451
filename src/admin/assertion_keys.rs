//! Admin API `security/assertion_keys`: the identity assertion keys (list ids, rotate).
//!
//! Ids and times only: a private key never leaves `assertion::keys`. The public halves are on
//! the client listener's `/.well-known/jwks.json`.

use http::{Response, StatusCode};
use serde::Serialize;

use crate::assertion::{Assertions, keys};
use crate::error::ApiError;
use crate::ids;
use crate::state::State;
use crate::web::{self, Body};

#[derive(Serialize)]
struct KeyInfo {
    kid: String,
    /// Unix time from which the key signs.
    active_from: i64,
    /// Whether this replica signs new assertions with it now.
    signing: bool,
}

#[derive(Serialize)]
struct Rotated {
    kid: String,
    /// Unix time from which the new key signs; it is published from now on.
    active_from: i64,
}

fn assertions(state: &State) -> Result<&Assertions, ApiError> {
    state.proxy.assertions().ok_or_else(|| {
        ApiError::state_conflict(
            "identity assertions are off (identity_headers.assertion is empty)",
        )
    })
}

/// `GET security/assertion_keys`: the published keys of this replica, oldest first; `[]`
/// while assertions are off.
pub fn list(state: &State) -> Response<Body> {
    let now = ids::now();
    let list: Vec<KeyInfo> = state.proxy.assertions().map_or_else(Vec::new, |a| {
        let set = a.keys().current();
        let signing = set.signing_key(now).map(|k| k.kid.clone());
        set.keys()
            .iter()
            .map(|k| KeyInfo {
                kid: k.kid.clone(),
                active_from: k.active_from,
                signing: signing.as_deref() == Some(k.kid.as_str()),
            })
            .collect()
    });
    web::json(StatusCode::OK, &list)
}

/// `POST security/assertion_keys`: adds a key, published at once (this replica reloads
/// before answering, the others within their key reload) and signing `KEY_LEAD` later; the
/// previous key stays published until its last assertion expired. 201; 409 while assertions
/// are off.
pub async fn rotate(state: &State) -> Result<Response<Body>, ApiError> {
    assertions(state)?;
    let (kid, active_from) = keys::rotate(state.store.as_ref(), ids::now()).await?;
    state.reload_assertion_keys().await;
    tracing::info!(kid, active_from, "assertion key rotated");
    Ok(web::json(
        StatusCode::CREATED,
        &Rotated { kid, active_from },
    ))
}
