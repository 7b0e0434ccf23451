//! `AuthError`: why a login, a credential or a user operation was refused, in the auth
//! domain's words. `crate::error` maps each variant to its status and `ErrorCode`.

use std::fmt::Display;

use super::custom_token::Refusal;
use super::oidc::OidcError;
use crate::outbound::WebhookError;
use crate::store::StoreError;
use crate::tokens::{KeyError, TokenError};

/// A refusal of the auth domain (logins, API keys, local-userpass flows, user operations).
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Wrong username or password, and unknown username: one answer for both.
    #[error("invalid username/password")]
    InvalidPassword,
    /// A registered email/password account not confirmed yet.
    #[error("confirmation required")]
    ConfirmationRequired,
    /// An imported email/password account without a password: a reset must set one first.
    #[error("password reset required")]
    PasswordResetRequired,
    /// An unknown, disabled or deleted API key: one answer for all three.
    #[error("invalid api key")]
    InvalidApiKey,
    /// The caller's own user is gone (deleted while its token lived): the SDK refreshes.
    #[error("invalid session")]
    InvalidSession,
    /// A refresh token that names no live session (realm-web reads the text as "already
    /// logged out").
    #[error("invalid session: failed to find refresh token")]
    RefreshTokenNotFound,
    /// A refresh token that a rotation already replaced, presented again: the same answer as
    /// `RefreshTokenNotFound` (the family is revoked), named apart for the access log.
    #[error("invalid session: failed to find refresh token")]
    RefreshTokenReused,
    /// No user with the id the request names.
    #[error("user not found")]
    UserNotFound,
    /// The user logging in (or exchanging a grant, or linking) is disabled: the credentials
    /// no longer open a session.
    #[error("user disabled")]
    UserDisabled,
    /// An operator's request that needs an enabled user (minting a grant) names a disabled
    /// one. A separate variant from `UserDisabled` because the wire contract answers it
    /// differently (409, tests/sessions.rs): the request conflicts with the user's state; no
    /// credential of the caller failed, so it must not read as a 401.
    #[error("user disabled")]
    UserDisabledConflict,
    /// A login provider that is not enabled (or does not exist).
    #[error("authentication provider {0:?} not found")]
    ProviderNotFound(String),
    /// No API key with that id belongs to the caller.
    #[error("api key not found")]
    ApiKeyNotFound,
    /// The caller already has an API key of that name.
    #[error("an api key with that name already exists")]
    ApiKeyNameTaken,
    /// An email/password registration whose email is taken.
    #[error("name already in use")]
    NameInUse,
    /// Linking an identity that belongs to another user.
    #[error("identity already belongs to another user")]
    IdentityTaken,
    /// A login webhook refused the login; the message (cleaned) is for the client.
    #[error("{0}")]
    Refused(String),
    /// The caller is known but may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// A confirmation or reset token that is unknown, used or expired.
    #[error("invalid token data")]
    UserpassTokenInvalid,
    /// The `reset/call` webhook answered `fail`.
    #[error("password reset refused")]
    ResetRefused,
    /// A one-time grant that is unknown, used or expired.
    #[error("invalid or used grant")]
    GrantInvalid,
    /// A grant lifetime outside 1..=`max` seconds.
    #[error("ttl_seconds must be between 1 and {max}")]
    GrantTtl { max: u64 },
    /// The request body lacks a field the operation needs (never a 401 that would read as
    /// wrong credentials).
    #[error("{0} is required")]
    MissingField(String),
    /// A malformed request; the message says what is wrong.
    #[error("{0}")]
    BadRequest(String),
    /// A parameter outside its allowed form or range.
    #[error("{0}")]
    InvalidParameter(String),
    /// The password hash pool and its queue are full (a login storm): shed at once.
    #[error("too many logins at once, try again shortly")]
    HashPoolFull,
    /// An import refused whole, nothing written: `malformed` entries are the file's fault,
    /// the rest conflict with users the store holds.
    #[error("nothing was imported: {refused} entries are {} (see refused)", if *malformed { "malformed" } else { "in conflict with the store" })]
    ImportRefused { malformed: bool, refused: usize },
    /// Our own fault; the cause is logged when the error is answered, the client sees a
    /// generic message.
    #[error("{0}")]
    Internal(String),
    /// A custom token refused.
    #[error(transparent)]
    CustomToken(#[from] Refusal),
    /// An OpenID Connect login that failed at the issuer or in its answer.
    #[error(transparent)]
    Oidc(#[from] OidcError),
    /// An access or refresh token refused (linking, profile).
    #[error(transparent)]
    Token(#[from] TokenError),
    /// Signing keys unusable.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// A login or local-userpass webhook gave no usable answer.
    #[error(transparent)]
    Webhook(#[from] WebhookError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl AuthError {
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::BadRequest(message.into())
    }

    pub fn missing_field(field: &str) -> Self {
        Self::MissingField(field.to_owned())
    }

    pub fn invalid_parameter(message: impl Into<String>) -> Self {
        Self::InvalidParameter(message.into())
    }

    pub fn hash_pool_full() -> Self {
        Self::HashPoolFull
    }

    pub fn import_refused(malformed: bool, refused: usize) -> Self {
        Self::ImportRefused { malformed, refused }
    }

    /// Our own fault: `cause` is logged when the error is answered, never shown.
    pub fn internal(cause: &dyn Display) -> Self {
        Self::Internal(cause.to_string())
    }
}
