//! Session management for the caller (Agnost-style), under `/api/client/v2.0/auth/sessions`,
//! with an access token in `Authorization: Bearer` or `Session`:
//!
//! | method, path | answer |
//! | --- | --- |
//! | `GET /auth/sessions` | 200 `{"sessions": [...]}`: live sessions, newest first, `current` marked |
//! | `DELETE /auth/sessions` | 204: sign out all |
//! | `DELETE /auth/sessions/others` | 204: sign out all but the current one |
//! | `GET /auth/sessions/current` | 200 the current session |
//! | `DELETE /auth/sessions/current` | 204: sign out the current session |
//! | `GET /auth/sessions/current/user` | 200 the caller's user, read from the store |
//! | `GET /auth/sessions/{id}` | 200 one of the caller's sessions, else 404 |
//! | `DELETE /auth/sessions/{id}` | 204: sign out one of the caller's sessions, else 404 |

use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use serde::Serialize;

use crate::error::ApiError;
use crate::sessions::list::{self, SessionView};
use crate::sessions::sign_out::{self, Target};
use crate::state::State;
use crate::web::{self, Body, RequestContext};

#[derive(Serialize)]
struct SessionList {
    sessions: Vec<SessionView>,
}

/// What a `GET` on the caller's sessions shows, as the table's rows name it (a sign-out names
/// its `sign_out::Target` directly).
#[derive(Debug, Clone, Copy)]
pub enum Which<'a> {
    All,
    Current,
    One(&'a str),
}

/// `GET /auth/sessions`, `/auth/sessions/current`, `/auth/sessions/{id}`.
pub async fn get(
    state: &State,
    which: Which<'_>,
    request: Request<Incoming>,
    ctx: &RequestContext,
) -> Result<Response<Body>, ApiError> {
    let caller = super::access_caller(state, request.headers(), ctx.now)?;
    let response = match which {
        Which::All => {
            let sessions = list::list_mine(state.store.as_ref(), &caller).await?;
            web::json(StatusCode::OK, &SessionList { sessions })
        }
        Which::Current => web::json(
            StatusCode::OK,
            &list::get_mine(state.store.as_ref(), &caller, caller.session_id()).await?,
        ),
        Which::One(id) => web::json(
            StatusCode::OK,
            &list::get_mine(state.store.as_ref(), &caller, id).await?,
        ),
    };
    Ok(super::acting_for(response, caller.user_id()))
}

/// `DELETE /auth/sessions[/others|/current|/{id}]`: sign out; 204.
pub async fn sign_out(
    state: &State,
    target: Target<'_>,
    request: Request<Incoming>,
    ctx: &RequestContext,
) -> Result<Response<Body>, ApiError> {
    let caller = super::access_caller(state, request.headers(), ctx.now)?;
    sign_out::sign_out(&state.auth, &caller, target).await?;
    Ok(super::acting_for(
        web::status(StatusCode::NO_CONTENT),
        caller.user_id(),
    ))
}

/// `GET /auth/sessions/current/user`: the caller's user, read from the store.
pub async fn current_user(
    state: &State,
    request: Request<Incoming>,
    ctx: &RequestContext,
) -> Result<Response<Body>, ApiError> {
    let caller = super::access_caller(state, request.headers(), ctx.now)?;
    let user = list::current_user(state.store.as_ref(), &caller).await?;
    Ok(super::acting_for(
        web::json(StatusCode::OK, &user),
        caller.user_id(),
    ))
}
