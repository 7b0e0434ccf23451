//! Series of refresh-token rotation and the session cap (issue #11):
//! - `sessiongate_refresh_rotations_total{outcome}` counter ([`record_refresh_rotation`]):
//!   `rotated` (the current token), `grace` (a racing refresh answered with the same
//!   successor), `reused` (a rotated-out token: the session was revoked as stolen)
//! - `sessiongate_session_cap_total{action}` counter ([`record_session_cap`]): `evicted`
//!   sessions, `rejected` logins
//!
//! Does not decide anything; `auth` calls these after the store committed.

use ::metrics::{counter, describe_counter};

const REFRESH_ROTATIONS: &str = "sessiongate_refresh_rotations_total";
const SESSION_CAP: &str = "sessiongate_session_cap_total";

/// What a refresh with rotation on did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RotationOutcome {
    Rotated,
    Grace,
    Reused,
}

impl RotationOutcome {
    fn as_str(self) -> &'static str {
        match self {
            Self::Rotated => "rotated",
            Self::Grace => "grace",
            Self::Reused => "reused",
        }
    }
}

/// What `sessions.max_per_user` did to a login.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CapAction {
    Evicted,
    Rejected,
}

impl CapAction {
    fn as_str(self) -> &'static str {
        match self {
            Self::Evicted => "evicted",
            Self::Rejected => "rejected",
        }
    }
}

/// Counts one refresh with rotation on.
pub fn record_refresh_rotation(outcome: RotationOutcome) {
    counter!(REFRESH_ROTATIONS, "outcome" => outcome.as_str()).increment(1);
}

/// Adds `count` sessions evicted, or logins rejected, by the session cap.
pub fn record_session_cap(action: CapAction, count: u64) {
    counter!(SESSION_CAP, "action" => action.as_str()).increment(count);
}

pub(super) fn describe() {
    describe_counter!(
        REFRESH_ROTATIONS,
        "Refreshes with rotation on, by outcome (rotated, grace, reused = theft)"
    );
    describe_counter!(
        SESSION_CAP,
        "Sessions evicted and logins rejected by sessions.max_per_user"
    );
}
