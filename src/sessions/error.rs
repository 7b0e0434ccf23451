//! `SessionError`: why a session or grant operation was refused, in the sessions domain's
//! words. `crate::error` maps each variant to its status and `ErrorCode`.

use crate::auth::AuthError;
use crate::store::StoreError;

/// A refusal of session management (views, sign-out).
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// No such session, or another user's: "not found", never "forbidden".
    #[error("session not found")]
    NotFound,
    /// The user the operation names (not found, disabled): the auth domain's words.
    #[error(transparent)]
    User(#[from] AuthError),
    #[error(transparent)]
    Store(#[from] StoreError),
}
