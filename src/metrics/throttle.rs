//! Series of the login limits (`crate::throttle`) and of the hash pool's storm shedding:
//!
//! - `sessiongate_login_throttled_total{action,scope}` counter ([`record_login_throttled`]):
//!   attempts refused 429 before any password was checked, by the key that refused them
//! - `sessiongate_login_throttle_trips_total{action,scope}` counter ([`record_throttle_trip`]):
//!   keys that went over their limit and were blocked
//! - `sessiongate_login_shed_total` counter ([`record_login_shed`]): password hashes refused
//!   503 at once because the hash pool's queue was full

use ::metrics::{counter, describe_counter};

const LOGIN_THROTTLED: &str = "sessiongate_login_throttled_total";
const THROTTLE_TRIPS: &str = "sessiongate_login_throttle_trips_total";
const LOGIN_SHED: &str = "sessiongate_login_shed_total";

pub(super) fn describe() {
    describe_counter!(
        LOGIN_THROTTLED,
        "Attempts refused 429 by login_limits before any password check, by action and by the \
         scope of the key that refused (account, client, account_client)"
    );
    describe_counter!(
        THROTTLE_TRIPS,
        "login_limits keys that went over their limit and were blocked, by action and scope"
    );
    describe_counter!(
        LOGIN_SHED,
        "Password hashes refused 503 at once because auth.password_hash_queue was full"
    );
    counter!(LOGIN_SHED).increment(0);
}

/// Counts one attempt refused by `[login_limits]`. Labels are fixed names
/// (`login`/`register`/`send`/`refresh`; `account`/`client`/`account_client`).
pub fn record_login_throttled(action: &'static str, scope: &'static str) {
    counter!(LOGIN_THROTTLED, "action" => action, "scope" => scope).increment(1);
}

/// Counts one key blocked for going over its limit.
pub fn record_throttle_trip(action: &'static str, scope: &'static str) {
    counter!(THROTTLE_TRIPS, "action" => action, "scope" => scope).increment(1);
}

/// Counts one password hash shed because the hash pool's queue was full.
pub fn record_login_shed() {
    counter!(LOGIN_SHED).increment(1);
}
