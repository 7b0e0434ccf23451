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

use http::{HeaderMap, Method, Response, StatusCode};
use serde::Serialize;

use crate::app::State;
use crate::error::ApiError;
use crate::sessions::list::{self, SessionView};
use crate::sessions::sign_out::{self, Target};
use crate::web::{self, Body, RequestContext};

#[derive(Serialize)]
struct SessionList {
    sessions: Vec<SessionView>,
}

pub async fn handle(
    state: &State,
    method: &Method,
    rest: &[String],
    headers: &HeaderMap,
    ctx: &RequestContext,
) -> Result<(Response<Body>, Option<String>), ApiError> {
    let caller = super::access_caller(state, headers, ctx.now)?;
    let auth = &state.auth;
    let rest: Vec<&str> = rest.iter().map(String::as_str).collect();
    let response = match (method, rest.as_slice()) {
        (&Method::GET, []) => {
            let sessions = list::list_mine(auth, &caller).await?;
            web::json(StatusCode::OK, &SessionList { sessions })
        }
        (&Method::DELETE, []) => signed_out(sign_out::sign_out(auth, &caller, Target::All).await?),
        (&Method::DELETE, ["others"]) => {
            signed_out(sign_out::sign_out(auth, &caller, Target::AllButCurrent).await?)
        }
        (&Method::GET, ["current"]) => web::json(
            StatusCode::OK,
            &list::get_mine(auth, &caller, caller.session_id()).await?,
        ),
        (&Method::DELETE, ["current"]) => {
            signed_out(sign_out::sign_out(auth, &caller, Target::Current).await?)
        }
        (&Method::GET, ["current", "user"]) => {
            web::json(StatusCode::OK, &list::current_user(auth, &caller).await?)
        }
        (&Method::GET, ["others"]) => return Err(ApiError::method_not_allowed("DELETE")),
        (&Method::GET, [id]) => {
            web::json(StatusCode::OK, &list::get_mine(auth, &caller, id).await?)
        }
        (&Method::DELETE, [id]) => {
            signed_out(sign_out::sign_out(auth, &caller, Target::One(id)).await?)
        }
        _ => {
            return Err(allowed_methods(&rest)
                .map_or_else(ApiError::not_found, ApiError::method_not_allowed));
        }
    };
    Ok((response, Some(caller.user_id().to_owned())))
}

/// The methods `/auth/sessions/…` answers for the segments after `sessions` (the `Allow` of
/// its 405), or `None` for no such resource.
pub fn allowed_methods(rest: &[&str]) -> Option<&'static str> {
    Some(match rest {
        [] | ["current"] => "GET, DELETE",
        ["others"] => "DELETE",
        ["current", "user"] => "GET",
        [_] => "GET, DELETE",
        _ => return None,
    })
}

fn signed_out(_count: usize) -> Response<Body> {
    web::status(StatusCode::NO_CONTENT)
}
