//! Agnost-style session management on top of `auth`: list a user's sessions, sign out one /
//! all / all but the current one, one-time grants, `last_used_at` tracking, and the registry of
//! open streams that a revocation closes.
//!
//! Does not route HTTP; `client_api::sessions` and `admin` call these functions.

pub mod activity;
mod error;
pub mod grants;
pub mod list;
pub mod sign_out;
pub mod streams;
pub mod user_agent;

pub use error::SessionError;
