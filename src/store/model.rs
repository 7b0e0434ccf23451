//! Rows as the gateway sees them. Timestamps are Unix seconds; secrets appear only as hashes.

use serde::Serialize;

/// A user with the identities that log in as them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct User {
    pub id: String,
    /// `"normal"` or `"server"`, as App Services.
    pub user_type: String,
    pub data: serde_json::Value,
    pub disabled: bool,
    pub created_at: i64,
    pub last_login_at: Option<i64>,
    pub identities: Vec<UserIdentity>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UserIdentity {
    pub id: String,
    pub provider_type: String,
    pub provider_id: String,
}

#[derive(Debug, Clone)]
pub struct NewUser {
    pub id: String,
    pub user_type: String,
    pub data: serde_json::Value,
    pub created_at: i64,
}

/// An identity: the provider's own key for the user (`external_id`) is unique per provider.
#[derive(Debug, Clone)]
pub struct NewIdentity {
    pub id: String,
    pub user_id: String,
    pub provider_type: String,
    pub provider_id: String,
    pub external_id: String,
}

/// A local-userpass account. `password_hash` is a PHC string: argon2id as the gateway hashes,
/// or an imported bcrypt / argon2id hash until the first login rehashes it; `''` while
/// `password_reset_required`.
#[derive(Clone)]
pub struct LocalAccount {
    pub email: String,
    pub user_id: String,
    pub password_hash: String,
    pub confirmed: bool,
    /// Imported without a password: login is refused until a reset sets one.
    pub password_reset_required: bool,
}

impl std::fmt::Debug for LocalAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalAccount")
            .field("user_id", &self.user_id)
            .field("confirmed", &self.confirmed)
            .field("password_reset_required", &self.password_reset_required)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone)]
pub struct NewSession {
    pub id: String,
    pub user_id: String,
    pub provider_type: String,
    pub device_id: String,
    /// SHA-256 of the refresh token; the token itself is never stored.
    pub refresh_hash: Vec<u8>,
    pub client_ip: Option<String>,
    pub user_agent: Option<String>,
    pub created_at: i64,
    /// `None`: the refresh token does not expire (anonymous users).
    pub expires_at: Option<i64>,
}

/// Everything one login writes, in one transaction (`Store::start_session`): so a crash, a
/// timeout or a failed insert never leaves a user without its session, or half a link.
#[derive(Debug, Clone)]
pub struct SessionStart {
    /// A user created by this login (anonymous, an external identity's first login), with
    /// its first identity.
    pub new_user: Option<(NewUser, NewIdentity)>,
    /// An identity linked to the (existing) user by this login.
    pub new_identity: Option<NewIdentity>,
    /// New data for the (existing) user.
    pub user_data: Option<serde_json::Value>,
    /// The session; its `created_at` is also stamped as the user's last login.
    pub session: NewSession,
    /// `sessions.max_per_user`, enforced in the same transaction; `None`: unlimited.
    pub cap: Option<SessionCap>,
}

/// The session cap is configuration (`[sessions]`), enforced by the store.
pub use crate::config::{OnLimit, SessionCap};

/// A refresh token that a rotation replaced (`Store::find_rotated_refresh_token`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotatedToken {
    pub session_id: String,
    /// When it was replaced, in Unix milliseconds.
    pub rotated_at_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Session {
    pub id: String,
    pub user_id: String,
    pub provider_type: String,
    pub device_id: String,
    pub client_ip: Option<String>,
    pub user_agent: Option<String>,
    pub created_at: i64,
    pub last_used_at: i64,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

impl Session {
    /// Whether the refresh token of this session may still be used at `now`.
    pub fn is_live(&self, now: i64) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|exp| exp > now)
    }
}

/// A revoked session, numbered so replicas can catch up in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Revocation {
    pub seq: i64,
    pub session_id: String,
    pub user_id: String,
    pub revoked_at: i64,
    /// When the writer committed it, Unix milliseconds of its clock (`None`: written before
    /// migration 0009).
    pub committed_at_ms: Option<i64>,
}

/// A signing key kept in the store (generated HMAC keys).
#[derive(Clone)]
pub struct SigningKeyRecord {
    pub kid: String,
    pub algorithm: String,
    pub secret: Vec<u8>,
    pub created_at: i64,
    /// The key signs new tokens from this time on (it verifies as soon as it is loaded).
    pub active_from: i64,
}

impl std::fmt::Debug for SigningKeyRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKeyRecord")
            .field("kid", &self.kid)
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

/// A page of users for the admin API.
#[derive(Debug, Clone, Default)]
pub struct UserQuery {
    /// Only users with an identity of this provider type.
    pub provider: Option<String>,
    /// Only the local-userpass user with this (normalized) email.
    pub email: Option<String>,
    /// Only users whose id sorts after this one (the previous page's last id).
    pub after: Option<String>,
    pub limit: i64,
}

/// An API key. `key_hash` is the SHA-256 digest of the key, which is shown once at creation.
#[derive(Clone, PartialEq)]
pub struct ApiKeyRecord {
    pub id: String,
    pub user_id: String,
    pub name: String,
    pub key_hash: Vec<u8>,
    pub disabled: bool,
    pub created_at: i64,
}

impl std::fmt::Debug for ApiKeyRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKeyRecord")
            .field("id", &self.id)
            .field("user_id", &self.user_id)
            .field("name", &self.name)
            .field("disabled", &self.disabled)
            .finish_non_exhaustive()
    }
}

/// What a confirmation or reset token is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserTokenKind {
    Confirm,
    Reset,
}

impl UserTokenKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Confirm => "confirm",
            Self::Reset => "reset",
        }
    }
}

/// A single-use token of a local-userpass account; only its digest is stored.
#[derive(Clone)]
pub struct UserTokenRecord {
    /// The `tokenId` the client sends back with the token.
    pub id: String,
    pub kind: UserTokenKind,
    pub email: String,
    pub token_hash: Vec<u8>,
    pub created_at: i64,
    pub expires_at: i64,
}

/// One user of an import (`Store::import_users`): the user as App Services exported it, with
/// every identity and, for an email/password user, the account.
#[derive(Debug, Clone)]
pub struct ImportUser {
    pub user: NewUser,
    pub disabled: bool,
    /// `id` is App Services' identity id; `external_id` what the provider looks it up by.
    pub identities: Vec<NewIdentity>,
    pub account: Option<LocalAccount>,
}

/// What an import did, or would have done, with one user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportOutcome {
    Created,
    /// The user exists exactly as imported.
    Skipped,
    /// Conflicts with what the store holds; the reason says with what.
    Refused(String),
}
