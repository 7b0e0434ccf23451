//! Every domain error to the wire: one `From` impl per error type, each a readable list of
//! variant → status, `ErrorCode` and (for the access log) reason.

use http::StatusCode;

use super::{ApiError, ErrorCode};
use crate::auth::AuthError;
use crate::auth::custom_token::Refusal as TokenRefusal;
use crate::auth::oidc::OidcError;
use crate::outbound::{ForwardError, WebhookError};
use crate::sessions::SessionError;
use crate::store::StoreError;
use crate::throttle::ThrottleError;
use crate::tokens::{KeyError, TokenError};
use crate::web::BodyError;

/// Logins, credentials and user operations. A refused credential is 401; a user or key the
/// request names that does not exist is 404; a name or identity taken, or an operation on a
/// disabled user, is 409.
impl From<AuthError> for ApiError {
    fn from(err: AuthError) -> Self {
        let message = err.to_string();
        match err {
            AuthError::InvalidPassword => Self::invalid_password(),
            AuthError::ConfirmationRequired | AuthError::InvalidApiKey => Self::new(
                StatusCode::UNAUTHORIZED,
                ErrorCode::InvalidPassword,
                message,
            ),
            AuthError::PasswordResetRequired => Self::password_reset_required(),
            AuthError::InvalidSession => Self::invalid_session(),
            AuthError::RefreshTokenNotFound => {
                Self::new(StatusCode::UNAUTHORIZED, ErrorCode::InvalidSession, message)
            }
            AuthError::RefreshTokenReused => {
                Self::new(StatusCode::UNAUTHORIZED, ErrorCode::InvalidSession, message)
                    .with_reason("refresh_token_reused")
            }
            AuthError::GrantInvalid => {
                Self::new(StatusCode::UNAUTHORIZED, ErrorCode::InvalidSession, message)
            }
            AuthError::GrantTtl { .. } | AuthError::InvalidParameter(_) => {
                Self::invalid_parameter(message)
            }
            AuthError::MissingField(_) => Self::bad_request(message).with_reason("missing_field"),
            AuthError::BadRequest(message) => Self::bad_request(message),
            AuthError::HashPoolFull => Self::hash_pool_full(),
            AuthError::ImportRefused { malformed, refused } => {
                Self::import_refused(malformed, refused)
            }
            AuthError::Internal(cause) => Self::internal(&cause),
            AuthError::CustomToken(err) => err.into(),
            AuthError::Oidc(err) => err.into(),
            AuthError::Token(err) => err.into(),
            AuthError::Key(err) => err.into(),
            AuthError::UserNotFound => {
                Self::new(StatusCode::NOT_FOUND, ErrorCode::UserNotFound, message)
            }
            AuthError::UserDisabled => {
                Self::new(StatusCode::UNAUTHORIZED, ErrorCode::UserDisabled, message)
            }
            AuthError::UserDisabledConflict => {
                Self::new(StatusCode::CONFLICT, ErrorCode::UserDisabled, message)
            }
            AuthError::ProviderNotFound(provider) => Self::provider_not_found(&provider),
            AuthError::ApiKeyNotFound => {
                Self::new(StatusCode::NOT_FOUND, ErrorCode::ApiKeyNotFound, message)
            }
            AuthError::ApiKeyNameTaken => Self::new(
                StatusCode::CONFLICT,
                ErrorCode::ApiKeyAlreadyExists,
                message,
            ),
            AuthError::NameInUse | AuthError::IdentityTaken => {
                Self::new(StatusCode::CONFLICT, ErrorCode::AccountNameInUse, message)
            }
            AuthError::Refused(message) => {
                Self::new(StatusCode::UNAUTHORIZED, ErrorCode::AuthError, message)
            }
            AuthError::Forbidden(message) => Self::forbidden(message),
            AuthError::UserpassTokenInvalid => Self::new(
                StatusCode::BAD_REQUEST,
                ErrorCode::UserpassTokenInvalid,
                message,
            ),
            AuthError::ResetRefused => Self::bad_request(message),
            AuthError::Webhook(err) => err.into(),
            AuthError::Store(err) => err.into(),
        }
    }
}

/// Request bodies: too large is 413, too slow is 408 with the connection closed (the rest
/// of the body may still be coming), anything unreadable or not JSON is 400.
impl From<BodyError> for ApiError {
    fn from(err: BodyError) -> Self {
        match err {
            BodyError::TooLarge(limit) => Self::payload_too_large(limit),
            BodyError::TimedOut => Self::request_timeout(),
            BodyError::Unreadable | BodyError::InvalidJson(_) => Self::bad_request(err.to_string()),
        }
    }
}

/// `[login_limits]`: 429 with `Retry-After`.
impl From<ThrottleError> for ApiError {
    fn from(err: ThrottleError) -> Self {
        match err {
            ThrottleError::TooManyAttempts {
                retry_after,
                reason,
            } => Self::too_many_attempts(retry_after, reason),
            ThrottleError::Store(err) => err.into(),
        }
    }
}

/// Session views and sign-out.
impl From<SessionError> for ApiError {
    fn from(err: SessionError) -> Self {
        let message = err.to_string();
        match err {
            SessionError::NotFound => {
                Self::new(StatusCode::NOT_FOUND, ErrorCode::NotFound, message)
            }
            SessionError::User(err) => err.into(),
            SessionError::Store(err) => err.into(),
        }
    }
}

/// Every login webhook: a broken webhook is the operator's fault, not the user's, so it is a
/// 5xx like any other upstream (502, or 504 when it is too slow).
impl From<WebhookError> for ApiError {
    fn from(err: WebhookError) -> Self {
        match err {
            WebhookError::TimedOut(message) => Self::new(
                StatusCode::GATEWAY_TIMEOUT,
                ErrorCode::UpstreamTimeout,
                message,
            ),
            WebhookError::Unavailable(message) => Self::new(
                StatusCode::BAD_GATEWAY,
                ErrorCode::UpstreamUnavailable,
                message,
            ),
        }
    }
}

/// A refused custom token: 401 `AuthError` with the refusal's words, but 502 when the JWKS
/// URL could not be fetched (the identity provider's fault, not the token's).
impl From<TokenRefusal> for ApiError {
    fn from(refusal: TokenRefusal) -> Self {
        match refusal {
            TokenRefusal::KeysUnavailable => Self::new(
                StatusCode::BAD_GATEWAY,
                ErrorCode::UpstreamUnavailable,
                refusal.to_string(),
            ),
            other => Self::new(
                StatusCode::UNAUTHORIZED,
                ErrorCode::AuthError,
                other.to_string(),
            ),
        }
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
