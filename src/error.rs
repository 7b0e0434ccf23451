//! `ApiError`: the only place an error becomes a status and an App Services JSON body.
//!
//! Modules report what went wrong in their own words (`TokenError`, `StoreError`, …); the
//! `From` impls below map each to the wire in one readable list. Our own faults become a
//! generic 500 whose cause is logged here, never sent to the client.

use http::StatusCode;
use serde::Serialize;

use crate::auth::custom_token::Refusal as TokenRefusal;
use crate::auth::oidc::OidcError;
use crate::proxy::ForwardError;
use crate::store::StoreError;
use crate::tokens::{KeyError, TokenError};
use crate::web::{self, Body};

/// App Services `error_code` values (plus the gateway's own for proxy faults).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ErrorCode {
    InvalidSession,
    AuthProviderNotFound,
    InvalidPassword,
    AuthError,
    AccountNameInUse,
    /// No API key with that id belongs to the caller.
    #[serde(rename = "APIKeyNotFound")]
    ApiKeyNotFound,
    /// The caller already has an API key of that name.
    #[serde(rename = "APIKeyAlreadyExists")]
    ApiKeyAlreadyExists,
    /// A confirmation or reset token that is unknown, used or expired.
    UserpassTokenInvalid,
    /// An imported email/password account without a password: a reset must set one first.
    PasswordResetRequired,
    /// A user import refused whole: malformed entries (400) or conflicts with the store (409).
    ImportRefused,
    /// The caller is known but may not do this (an anonymous user creating an API key).
    Forbidden,
    UserDisabled,
    UserNotFound,
    /// A login refused because the user holds `sessions.max_per_user` live sessions and
    /// `sessions.on_limit` is `reject` (409: signing out another session resolves it).
    SessionLimitReached,
    AppNotFound,
    BadRequest,
    InvalidParameter,
    NotFound,
    MethodNotAllowed,
    PayloadTooLarge,
    RequestHeaderFieldsTooLarge,
    /// The client did not send its request (head or body) in time.
    RequestTimeout,
    Unauthorized,
    UpstreamUnavailable,
    UpstreamTimeout,
    ServiceUnavailable,
    /// Too many failed attempts for this account or from this client (`[login_limits]`):
    /// answered 429 with `Retry-After`, before any password is checked.
    TooManyRequests,
    InternalServerError,
}

/// An error answered to a client: status, message and code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: ErrorCode,
    pub message: String,
    /// Why, in one word for the access log (`expired`, `revoked`, …); not sent to the client.
    pub reason: Option<&'static str>,
    /// The connection cannot be trusted for another request after this answer.
    pub close: bool,
    /// `Allow` of a 405: the methods the resource answers (RFC 9110 requires it).
    pub allow: Option<&'static str>,
    /// `Retry-After` in seconds (a 429 or a shed 503).
    pub retry_after: Option<u64>,
}

/// Response extension: the refusal reason, read by the access log.
#[derive(Debug, Clone, Copy)]
pub struct Refusal(pub &'static str);

/// Response extension: close the (HTTP/1) connection after this response.
#[derive(Debug, Clone, Copy)]
pub struct CloseConnection;

#[derive(Serialize)]
struct WireError<'a> {
    error: &'a str,
    error_code: ErrorCode,
    /// The request's id (`server.request_id_header`), when answered inside a request.
    #[serde(skip_serializing_if = "Option::is_none")]
    request_id: Option<String>,
}

#[derive(Serialize)]
struct WireErrorWith<'a, T> {
    #[serde(flatten)]
    error: WireError<'a>,
    #[serde(flatten)]
    details: &'a T,
}

impl ApiError {
    pub fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            reason: None,
            close: false,
            allow: None,
            retry_after: None,
        }
    }

    /// Sends `Retry-After: <seconds>` (at least 1) with the answer.
    pub fn with_retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds.max(1));
        self
    }

    /// 429: `[login_limits]` refuses this attempt for `retry_after` seconds.
    pub fn too_many_attempts(retry_after: u64, reason: &'static str) -> Self {
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::TooManyRequests,
            "too many failed attempts, try again later",
        )
        .with_reason(reason)
        .with_retry_after(retry_after)
    }

    /// 503: the password hash pool and its queue are full (a login storm); shed at once.
    pub fn hash_pool_full() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::ServiceUnavailable,
            "too many logins at once, try again shortly",
        )
        .with_reason("hash_pool_full")
        .with_retry_after(1)
    }

    /// Names the refusal for the access log.
    pub fn with_reason(mut self, reason: &'static str) -> Self {
        self.reason = Some(reason);
        self
    }

    /// Asks the server to close the connection after the answer (framing in doubt).
    pub fn closing(mut self) -> Self {
        self.close = true;
        self
    }

    /// 431: the request's header block is over `limit` bytes; the connection is closed.
    pub fn headers_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            ErrorCode::RequestHeaderFieldsTooLarge,
            format!("request headers are larger than {limit} bytes"),
        )
        .with_reason("headers_too_large")
        .closing()
    }

    /// 408: the client did not send its request body in time; the connection is closed.
    pub fn request_timeout() -> Self {
        Self::new(
            StatusCode::REQUEST_TIMEOUT,
            ErrorCode::RequestTimeout,
            "request body was not received in time",
        )
        .with_reason("body_timeout")
        .closing()
    }

    /// 400 for a request whose HTTP framing is ambiguous; the connection is closed.
    pub fn bad_framing(message: impl Into<String>) -> Self {
        Self::bad_request(message).with_reason("framing").closing()
    }

    /// Missing, malformed, expired or revoked token: what the SDKs answer by refreshing.
    pub fn invalid_session() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            ErrorCode::InvalidSession,
            "invalid session",
        )
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, ErrorCode::BadRequest, message)
    }

    /// A request body without a field the operation needs: 400 naming the field (never a
    /// 401 that would read as wrong credentials).
    pub fn missing_field(field: &str) -> Self {
        Self::bad_request(format!("{field} is required")).with_reason("missing_field")
    }

    pub fn invalid_parameter(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidParameter,
            message,
        )
    }

    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, ErrorCode::NotFound, "not found")
    }

    /// One of the gateway's paths under another app id.
    pub fn app_not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            ErrorCode::AppNotFound,
            "app not found",
        )
    }

    /// 405 for a resource that answers only `allow` (e.g. `"GET, DELETE"`), sent as `Allow`.
    pub fn method_not_allowed(allow: &'static str) -> Self {
        let mut err = Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::MethodNotAllowed,
            "method not allowed",
        );
        err.allow = Some(allow);
        err
    }

    /// 403 to a CORS preflight the policy refuses (`[cors]`): an origin not listed, or a
    /// method or request header not allowed. Sent without CORS headers, so the browser stops.
    pub fn cors_refused(message: impl Into<String>, reason: &'static str) -> Self {
        Self::new(StatusCode::FORBIDDEN, ErrorCode::Forbidden, message).with_reason(reason)
    }

    /// 400: a `sessiongate.bearer.<token>` WebSocket protocol entry offered alone. A browser
    /// fails a handshake whose answer names none of the protocols it offered, and the answer
    /// must not carry the token.
    pub fn websocket_token_alone() -> Self {
        Self::bad_request(
            "offer the sessiongate.bearer.<token> protocol together with the app's own \
             WebSocket subprotocol",
        )
        .with_reason("websocket_token_alone")
    }

    pub fn provider_not_found(provider: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            ErrorCode::AuthProviderNotFound,
            format!("authentication provider {provider:?} not found"),
        )
    }

    /// Wrong username or password, and unknown username: the same answer for both.
    pub fn invalid_password() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            ErrorCode::InvalidPassword,
            "invalid username/password",
        )
    }

    pub fn unauthorized_admin() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            ErrorCode::Unauthorized,
            "invalid or missing admin key",
        )
    }

    pub fn service_unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::ServiceUnavailable,
            "store unavailable, try again",
        )
    }

    /// Our own fault: the cause is logged, the client sees a generic message.
    /// 401: an imported account that has no password yet; the message says what to do.
    pub fn password_reset_required() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            ErrorCode::PasswordResetRequired,
            "password reset required: this account was imported without a password; \
             request a reset (reset/send) and set a new one",
        )
        .with_reason("password_reset_required")
    }

    /// An import refused whole, nothing written: `malformed` entries are the file's fault
    /// (400), the rest conflict with users the store holds (409).
    pub fn import_refused(malformed: bool, refused: usize) -> Self {
        let (status, reason, what) = if malformed {
            (StatusCode::BAD_REQUEST, "import_malformed", "malformed")
        } else {
            (
                StatusCode::CONFLICT,
                "import_conflict",
                "in conflict with the store",
            )
        };
        Self::new(
            status,
            ErrorCode::ImportRefused,
            format!("nothing was imported: {refused} entries are {what} (see refused)"),
        )
        .with_reason(reason)
    }

    /// 409: the user holds `max` live sessions, the cap (`sessions.on_limit = "reject"`).
    /// Not 401 (the credentials were right; an SDK would ask for them again) and not 429 (no
    /// amount of waiting helps): the user resolves it by signing out another session.
    pub fn session_limit_reached(max: u32) -> Self {
        Self::new(
            StatusCode::CONFLICT,
            ErrorCode::SessionLimitReached,
            format!(
                "session limit reached: this user already has {max} active sessions; sign out \
                 of one of them first"
            ),
        )
        .with_reason("session_limit")
    }

    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::InternalServerError,
            "internal server error",
        )
    }

    pub fn into_response(self) -> http::Response<Body> {
        self.into_response_with(&serde_json::Map::new())
    }

    /// The error body with the fields of `details` beside `error` and `error_code` (an
    /// import's report).
    pub fn into_response_with<T: Serialize>(self, details: &T) -> http::Response<Body> {
        let request_id = web::REQUEST_ID
            .try_with(|id| id.to_str().ok().map(str::to_owned))
            .ok()
            .flatten();
        let body = WireErrorWith {
            error: WireError {
                error: &self.message,
                error_code: self.code,
                request_id,
            },
            details,
        };
        let mut response = web::json(self.status, &body);
        if let Some(allow) = self.allow {
            response
                .headers_mut()
                .insert(http::header::ALLOW, http::HeaderValue::from_static(allow));
        }
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(http::header::RETRY_AFTER, http::HeaderValue::from(seconds));
        }
        if let Some(reason) = self.reason {
            response.extensions_mut().insert(Refusal(reason));
        }
        if self.close {
            response.extensions_mut().insert(CloseConnection);
        }
        response
    }
}

impl From<TokenError> for ApiError {
    fn from(err: TokenError) -> Self {
        match err {
            TokenError::Malformed => Self::invalid_session().with_reason("malformed"),
            TokenError::Expired => Self::invalid_session().with_reason("expired"),
            TokenError::BadSignature => Self::invalid_session().with_reason("bad_signature"),
            TokenError::UnknownKey => Self::invalid_session().with_reason("unknown_key"),
            TokenError::Revoked => Self::invalid_session().with_reason("revoked"),
            TokenError::NotYetValid => Self::invalid_session().with_reason("not_yet_valid"),
            TokenError::LifetimeTooLong => Self::invalid_session().with_reason("lifetime_too_long"),
            TokenError::UnsupportedHeader => {
                Self::invalid_session().with_reason("unsupported_header")
            }
            TokenError::UnsafeIdentity => Self::invalid_session().with_reason("unsafe_identity"),
            TokenError::RevocationsStale => {
                Self::service_unavailable().with_reason("stale_revocations")
            }
            TokenError::Signing(cause) => Self::internal(&cause),
        }
    }
}

impl From<KeyError> for ApiError {
    fn from(err: KeyError) -> Self {
        match err {
            KeyError::NotFound(_) => {
                Self::new(StatusCode::NOT_FOUND, ErrorCode::NotFound, err.to_string())
            }
            KeyError::Configured | KeyError::StillSigning(_) => Self::new(
                StatusCode::CONFLICT,
                ErrorCode::InvalidParameter,
                err.to_string(),
            ),
            KeyError::Store(err) => err.into(),
            KeyError::BadKey(_) => Self::internal(&err),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound => {
                Self::new(StatusCode::NOT_FOUND, ErrorCode::NotFound, "not found")
            }
            StoreError::Conflict(what) => Self::new(
                StatusCode::CONFLICT,
                ErrorCode::AccountNameInUse,
                format!("{what} already in use"),
            ),
            StoreError::Unavailable(_) | StoreError::TimedOut(_) => {
                tracing::warn!(error = %err, "store call failed");
                Self::service_unavailable()
            }
            StoreError::Corrupt(what) => Self::internal(&what),
            // Refused at start-up; a request never meets it.
            other @ StoreError::SchemaTooNew { .. } => Self::internal(&other),
            StoreError::SessionCapReached(max) => Self::session_limit_reached(max),
        }
    }
}

/// OpenID Connect logins. A refused id token or code is `401 AuthError` (realm-web shows the
/// message; it does not refresh on it, as it would on `InvalidSession`); a request the
/// gateway cannot act on (a redirect URL not allowed, a callback `state` unknown) is
/// `400 InvalidParameter`; an issuer that cannot be reached is `502 UpstreamUnavailable`.
impl From<OidcError> for ApiError {
    fn from(err: OidcError) -> Self {
        let message = err.to_string();
        let unauthorized = |reason| {
            Self::new(
                StatusCode::UNAUTHORIZED,
                ErrorCode::AuthError,
                message.clone(),
            )
            .with_reason(reason)
        };
        match &err {
            OidcError::Token(TokenRefusal::Expired) => unauthorized("id_token_expired"),
            OidcError::Token(TokenRefusal::Audience) => unauthorized("id_token_audience"),
            OidcError::Token(TokenRefusal::Issuer) => unauthorized("id_token_issuer"),
            OidcError::Token(TokenRefusal::BadSignature) => unauthorized("id_token_signature"),
            OidcError::Token(TokenRefusal::Algorithm) => unauthorized("id_token_algorithm"),
            OidcError::Token(TokenRefusal::UnknownKey) => unauthorized("id_token_unknown_key"),
            OidcError::Token(TokenRefusal::KeysUnavailable) | OidcError::Unavailable => Self::new(
                StatusCode::BAD_GATEWAY,
                ErrorCode::UpstreamUnavailable,
                "identity provider unavailable",
            )
            .with_reason("issuer_unavailable"),
            OidcError::Token(_) => unauthorized("id_token_invalid"),
            OidcError::Nonce => unauthorized("id_token_nonce"),
            OidcError::CodeRefused(_) => unauthorized("code_refused"),
            OidcError::AuthorizationRefused(_) => unauthorized("authorization_refused"),
            OidcError::RedirectNotAllowed => {
                Self::invalid_parameter(message).with_reason("redirect_not_allowed")
            }
            OidcError::UnknownState => Self::invalid_parameter(message).with_reason("oauth_state"),
        }
    }
}

/// Logs nothing: the cause goes on the request's access line (`proxy::Proxied::error`).
impl From<ForwardError> for ApiError {
    fn from(err: ForwardError) -> Self {
        match err {
            ForwardError::Unavailable(_) => Self::new(
                StatusCode::BAD_GATEWAY,
                ErrorCode::UpstreamUnavailable,
                "upstream unavailable",
            ),
            ForwardError::Timeout(_) => Self::new(
                StatusCode::GATEWAY_TIMEOUT,
                ErrorCode::UpstreamTimeout,
                "upstream timed out",
            ),
            ForwardError::UnaskedUpgrade => Self::new(
                StatusCode::BAD_GATEWAY,
                ErrorCode::UpstreamUnavailable,
                "upstream unavailable",
            )
            .closing(),
            ForwardError::ClientBodyMalformed => {
                { Self::bad_request("request body is malformed").with_reason("malformed_body") }
                    .closing()
            }
            ForwardError::ClientBodyStalled => Self::request_timeout(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[tokio::test]
    async fn error_body_has_error_and_error_code() {
        let response = ApiError::invalid_session().into_response();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(value["error_code"], "InvalidSession");
        assert_eq!(value["error"], "invalid session");
    }

    #[test]
    fn method_not_allowed_names_the_allowed_methods() {
        let response = ApiError::method_not_allowed("GET, DELETE").into_response();
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(response.headers()[http::header::ALLOW], "GET, DELETE");
        let response = ApiError::not_found().into_response();
        assert!(!response.headers().contains_key(http::header::ALLOW));
    }

    #[test]
    fn every_token_failure_is_invalid_session() {
        for err in [
            TokenError::Malformed,
            TokenError::Expired,
            TokenError::BadSignature,
            TokenError::UnknownKey,
            TokenError::Revoked,
            TokenError::NotYetValid,
            TokenError::LifetimeTooLong,
            TokenError::UnsupportedHeader,
            TokenError::UnsafeIdentity,
        ] {
            let api = ApiError::from(err);
            assert_eq!(
                (api.status, api.code),
                (StatusCode::UNAUTHORIZED, ErrorCode::InvalidSession)
            );
        }
    }
}
