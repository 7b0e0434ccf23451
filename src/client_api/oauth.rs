//! The OpenID Connect redirect flow, as realm-web drives it with
//! `Credentials.google({redirectUrl})` / `Credentials.apple(redirectUrl)`:
//!
//! 1. `GET /app/{app}/auth/providers/{provider}/login?state=…&redirect=…[&device=…]`: the
//!    gateway checks `redirect` against the provider's `redirect_uris`, remembers the login
//!    (its own `state`, a PKCE verifier, a nonce) and answers `302` to the issuer's
//!    authorization endpoint. With `?link=true` (and the user's access token) realm-web asks
//!    `providerRedirectHeader=true`: the answer is then `200` with the URL in
//!    `X-BAAS-Location`.
//! 2. The issuer sends the user to `GET|POST /api/client/v2.0/auth/callback?code=…&state=…`
//!    (Apple POSTs a form when it sends names or emails). The `state` is taken (once), the
//!    code exchanged with the verifier, the id token verified with the nonce, and the user
//!    logged in (or the identity linked) — then `302` to the app's `redirect` with
//!    `#_baas_client_app_id=…&_baas_ua=<access>$<refresh>$<user id>$<device id>&_baas_state=…`,
//!    or `#_baas_error=…&_baas_state=…` when the login failed: realm-web's
//!    `handleAuthRedirect` reads exactly these.
//!
//! A callback whose `state` is missing, unknown, expired or used answers 400 JSON: there is no
//! app to send the user back to.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use hyper::body::Incoming;
use serde::Deserialize;

use crate::auth::oidc::OidcError;
use crate::auth::oidc::redirect::{self, PendingLogin};
use crate::error::{ApiError, Refusal};
use crate::metrics;
use crate::proxy::credential::{self, Credential};
use crate::state::State;
use crate::web::{self, Body, RequestContext};

/// Longest app `state` accepted.
const MAX_APP_STATE: usize = 512;
/// Longest `device` parameter decoded.
const MAX_DEVICE: usize = 4096;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StartQuery {
    state: Option<String>,
    redirect: Option<String>,
    device: Option<String>,
    link: Option<String>,
    provider_redirect_header: Option<String>,
}

#[derive(Deserialize)]
struct CallbackQuery {
    state: Option<String>,
    code: Option<String>,
    error: Option<String>,
}

fn query<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, ApiError> {
    serde_urlencoded::from_str(text).map_err(|_| ApiError::bad_request("malformed query string"))
}

/// Step 1: off to the issuer.
pub async fn start(
    state: &State,
    provider: &str,
    request: Request<Incoming>,
    ctx: &RequestContext,
) -> Result<Response<Body>, ApiError> {
    // The login row answers GET for the redirect flow of OpenID Connect providers only.
    if !crate::auth::oidc::is_oidc_name(provider) {
        return Err(ApiError::method_not_allowed("POST"));
    }
    let provider = state.auth.oidc(provider)?.clone();
    let params: StartQuery = query(request.uri().query().unwrap_or_default())?;
    let app_state = params
        .state
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::bad_request("state is required"))?;
    if app_state.len() > MAX_APP_STATE || app_state.bytes().any(|b| !b.is_ascii_graphic()) {
        return Err(ApiError::bad_request("state is malformed"));
    }
    let redirect = params
        .redirect
        .filter(|r| !r.is_empty())
        .ok_or_else(|| ApiError::bad_request("redirect is required"))?;
    let redirect = provider.allowed_redirect(&redirect)?;
    let link = match params.link.as_deref() {
        Some("true") => {
            let caller = super::access_caller(state, request.headers(), ctx.now)?;
            let token = match credential::extract(request.headers()) {
                Credential::Token(token) => token.to_owned(),
                Credential::Absent | Credential::Malformed => {
                    return Err(ApiError::invalid_session());
                }
            };
            Some((caller, token))
        }
        _ => None,
    };
    let device = params.device.as_deref().and_then(decode_device);
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok());
    let callback = format!(
        "{}{}/auth/callback",
        super::location::base_url(state, host, ctx),
        super::BASE
    );
    let discovered = provider.discovered().await?;
    let verifier = redirect::random_token();
    let nonce = redirect::random_token();
    let user = link.as_ref().map(|(caller, _)| caller.user_id().to_owned());
    let pending = PendingLogin {
        provider: crate::auth::Provider::name(provider.as_ref()),
        app_state,
        redirect,
        verifier: verifier.clone(),
        nonce: nonce.clone(),
        callback: callback.clone(),
        link: link.map(|(_, token)| token),
        device,
    };
    let our_state = state.auth.pending_logins().start(pending);
    let url = provider.authorization_url(&discovered, &callback, &our_state, &nonce, &verifier);
    let location = HeaderValue::from_str(url.as_str())
        .map_err(|err| ApiError::internal(&format_args!("authorization URL: {err}")))?;
    let response = if params.provider_redirect_header.as_deref() == Some("true") {
        let mut response = web::json(StatusCode::OK, &serde_json::json!({}));
        response.headers_mut().insert("x-baas-location", location);
        response.headers_mut().insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static("X-BAAS-Location"),
        );
        response
    } else {
        let mut response = web::status(StatusCode::FOUND);
        response.headers_mut().insert(header::LOCATION, location);
        response
    };
    Ok(super::acting_for_any(no_store(response), user))
}

/// The SDK's `device` parameter (base64 of its device JSON), when it decodes to an object.
fn decode_device(text: &str) -> Option<serde_json::Value> {
    if text.len() > MAX_DEVICE {
        return None;
    }
    let bytes = STANDARD
        .decode(text)
        .or_else(|_| URL_SAFE.decode(text))
        .or_else(|_| URL_SAFE_NO_PAD.decode(text))
        .ok()?;
    serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .filter(serde_json::Value::is_object)
}

/// Step 2: back from the issuer.
pub async fn callback(
    state: &State,
    request: Request<Incoming>,
    ctx: &RequestContext,
) -> Result<Response<Body>, ApiError> {
    let params: CallbackQuery = if request.method() == Method::POST {
        let limits = &state.config.server;
        let (parts, body) = request.into_parts();
        let read = web::read_body(&parts.headers, body, limits.max_body_bytes);
        let bytes = tokio::time::timeout(limits.body_read_timeout, read)
            .await
            .map_err(|_| ApiError::request_timeout())??;
        let text = std::str::from_utf8(&bytes)
            .map_err(|_| ApiError::bad_request("malformed form body"))?;
        serde_urlencoded::from_str(text)
            .map_err(|_| ApiError::bad_request("malformed form body"))?
    } else {
        query(request.uri().query().unwrap_or_default())?
    };
    let our_state = params
        .state
        .filter(|s| !s.is_empty())
        .ok_or(OidcError::UnknownState)?;
    let pending = state
        .auth
        .pending_logins()
        .take(&our_state)
        .ok_or(OidcError::UnknownState)?;
    let result = finish(state, &pending, params.code, params.error, ctx).await;
    let (location, user, refusal) = match result {
        Ok(answer) => {
            let ua = format!(
                "{}${}${}${}",
                answer.access_token, answer.refresh_token, answer.user_id, answer.device_id
            );
            let mut fields = vec![
                ("_baas_client_app_id", state.config.app.id.as_str()),
                ("_baas_ua", ua.as_str()),
                ("_baas_state", pending.app_state.as_str()),
            ];
            if pending.link.is_some() {
                fields.push(("_baas_link", "ok"));
            }
            (
                redirect::app_redirect(&pending.redirect, &fields),
                Some(answer.user_id),
                None,
            )
        }
        Err(err) => {
            let fields = [
                ("_baas_error", err.message.as_str()),
                ("_baas_state", pending.app_state.as_str()),
            ];
            (
                redirect::app_redirect(&pending.redirect, &fields),
                None,
                err.reason,
            )
        }
    };
    let location = HeaderValue::from_str(&location)
        .map_err(|err| ApiError::internal(&format_args!("app redirect URL: {err}")))?;
    let mut response = web::status(StatusCode::FOUND);
    response.headers_mut().insert(header::LOCATION, location);
    if let Some(reason) = refusal {
        response.extensions_mut().insert(Refusal(reason));
    }
    Ok(super::acting_for_any(no_store(response), user))
}

/// The code exchanged and the user logged in (or the identity linked).
async fn finish(
    state: &State,
    pending: &PendingLogin,
    code: Option<String>,
    error: Option<String>,
    ctx: &RequestContext,
) -> Result<crate::auth::LoginResponse, ApiError> {
    if let Some(error) = error {
        return Err(
            OidcError::AuthorizationRefused(crate::auth::oidc::sanitized_error(&error)).into(),
        );
    }
    let code = code
        .filter(|c| !c.is_empty())
        .ok_or_else(|| ApiError::bad_request("code is required"))?;
    let provider = state.auth.oidc(pending.provider)?;
    // A linking user whose session ended meanwhile links nothing (checked before the code is
    // spent).
    let caller = match &pending.link {
        Some(token) => Some(state.tokens.authenticate(token, ctx.now)?),
        None => None,
    };
    let id_token = provider
        .exchange(&code, Some(&pending.callback), Some(&pending.verifier))
        .await?;
    let mut body = serde_json::json!({"id_token": id_token, "nonce": pending.nonce});
    if let Some(device) = &pending.device {
        body["options"] = serde_json::json!({ "device": device });
    }
    match caller {
        Some(caller) => state
            .auth
            .link(pending.provider, &body, &caller, &ctx.client)
            .await
            .map_err(ApiError::from),
        None => {
            let result = state
                .auth
                .login(pending.provider, &body, &ctx.client)
                .await
                .map_err(ApiError::from);
            metrics::record_login(pending.provider, super::login::login_outcome(&result));
            result
        }
    }
}

/// Answers that carry or lead to tokens are never cached.
fn no_store(mut response: Response<Body>) -> Response<Body> {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
