//! `POST /app/{app}/auth/providers/{provider}/login`, and with `?link=true` identity linking:
//! the caller's ACCESS token (Bearer) names the user the new identity is added to.

use std::future::Future;

use http::{Request, Response, StatusCode};
use hyper::body::Incoming;

use crate::error::ApiError;
use crate::metrics::{self, LoginResult};
use crate::state::State;
use crate::throttle::{Attempt, Outcome};
use crate::web::{self, Body, RequestContext};

pub async fn login(
    state: &State,
    provider: &str,
    request: Request<Incoming>,
    ctx: &RequestContext,
) -> Result<Response<Body>, ApiError> {
    let link = request
        .uri()
        .query()
        .is_some_and(|q| q.split('&').any(|p| p == "link=true"));
    // The linking user is checked before the body is read.
    let caller = if link {
        Some(super::access_caller(state, request.headers(), ctx.now)?)
    } else {
        None
    };
    let body: serde_json::Value = web::read_json(request, &state.config.server).await?;
    if !body.is_object() {
        return Err(ApiError::bad_request("expected a JSON object"));
    }
    let answer = match caller {
        Some(caller) => {
            state
                .auth
                .link(provider, &body, &caller, &ctx.client)
                .await?
        }
        None => {
            // Refused by `[login_limits]` before any password is checked.
            let attempt = Attempt::login(provider, &body, ctx.client.ip);
            let ticket = state.throttle.admit(attempt).await?;
            let result = state
                .auth
                .login(provider, &body, &ctx.client)
                .await
                .map_err(ApiError::from);
            state
                .throttle
                .settle(ticket, attempt_outcome(&result))
                .await;
            metrics::record_login(provider, login_outcome(&result));
            result?
        }
    };
    let user = answer.user_id.clone();
    Ok(super::acting_for(web::json(StatusCode::OK, &answer), user))
}

/// Client mistakes (wrong password, refused token) versus our own or an upstream failure.
/// Runs `work` as an attempt `[login_limits]` counts: refused at once (429) while one of the
/// attempt's keys is blocked, else settled with how it ended.
pub(super) async fn limited<T>(
    state: &State,
    attempt: Option<Attempt>,
    work: impl Future<Output = Result<T, ApiError>>,
) -> Result<T, ApiError> {
    let ticket = state.throttle.admit(attempt).await?;
    let result = work.await;
    state
        .throttle
        .settle(ticket, attempt_outcome(&result))
        .await;
    result
}

/// How `[login_limits]` counts an attempt that was answered `result`.
fn attempt_outcome<T>(result: &Result<T, ApiError>) -> Outcome {
    match result {
        Ok(_) => Outcome::Success,
        Err(err) if err.is_failed_attempt() => Outcome::Failure,
        Err(_) => Outcome::Neutral,
    }
}

pub(super) fn login_outcome<T>(result: &Result<T, ApiError>) -> LoginResult {
    match result {
        Ok(_) => LoginResult::Success,
        Err(err) if err.status.is_client_error() => LoginResult::InvalidCredentials,
        Err(_) => LoginResult::Error,
    }
}
