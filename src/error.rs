//! `ApiError`: the only place an error becomes a status and an App Services JSON body.
//!
//! Modules report what went wrong in their own words (`AuthError`, `SessionError`,
//! `WebhookError`, `TokenError`, `StoreError`, …); the `From` impls in `map` turn each into a
//! status and an `ErrorCode` in one readable list, and the named constructors below are the
//! only other place a status is chosen. Our own faults become a generic 500 whose cause is
//! logged here, never sent to the client.

use http::StatusCode;
use serde::Serialize;

mod map;
#[cfg(test)]
mod tests;
mod wire;

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

    /// 403 `Forbidden`: the caller is known but may not do this (an anonymous user creating
    /// an API key; a console request from another site).
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, ErrorCode::Forbidden, message)
    }

    /// 404 `AppNotFound`: a path naming another app id than this gateway's.
    pub fn app_not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            ErrorCode::AppNotFound,
            "app not found",
        )
    }

    /// 409 `InvalidParameter`: a well-formed request the gateway's present state refuses
    /// (rotating assertion keys while assertions are off, deleting a configured key).
    pub fn state_conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, ErrorCode::InvalidParameter, message)
    }

    /// 413: the request body is over `limit` bytes.
    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::PayloadTooLarge,
            format!("request body is larger than {limit} bytes"),
        )
    }

    /// Whether `[login_limits]` counts the answer as a failed attempt: refused credentials
    /// (401, 403) and taken names (409), but not a login refused only by
    /// `sessions.max_per_user` (the credentials were right).
    pub fn is_failed_attempt(&self) -> bool {
        self.code != ErrorCode::SessionLimitReached
            && matches!(
                self.status,
                StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN | StatusCode::CONFLICT
            )
    }

    /// Whether the error is the gateway's or a dependency's fault (a 5xx: store down,
    /// webhook or issuer unreachable) rather than a refusal of the caller's request.
    pub fn is_server_fault(&self) -> bool {
        self.status.is_server_error()
    }

    /// Our own fault: the cause is logged, the client sees a generic message.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::InternalServerError,
            "internal server error",
        )
    }
}
