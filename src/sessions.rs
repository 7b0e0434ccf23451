//! Agnost-style session management on top of `auth`: list a user's sessions, sign out one /
//! all / all but the current one, and `last_used_at` tracking.
//!
//! Does not route HTTP; `client_api::sessions` and `admin` call these functions.

pub mod activity;
mod error;
pub mod list;
pub mod sign_out;
pub mod user_agent;

pub use error::SessionError;
