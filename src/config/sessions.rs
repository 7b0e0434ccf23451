//! `[sessions]`: the cap on a user's live sessions (`max_per_user`, `on_limit`), checked at
//! load so that a typo in `on_limit` stops start-up instead of silently evicting.
//!
//! Does not enforce anything; `Auth` passes the cap to the store with every new session.

use serde::Serialize;

use super::{ConfigError, raw::RawSessions};

/// Highest `sessions.max_per_user` (a cap this high is no cap; 0 says so plainly).
const MAX_PER_USER_MAX: u32 = 10_000;

/// `[sessions]`: limits on a user's sessions.
#[derive(Debug, Clone, Serialize)]
pub struct SessionsConfig {
    /// Live sessions a user may hold at once; 0: unlimited.
    pub max_per_user: u32,
    /// What a login beyond `max_per_user` does.
    pub on_limit: OnLimit,
}

impl SessionsConfig {
    /// The cap to enforce when a session starts; `None` when unlimited.
    pub fn cap(&self) -> Option<SessionCap> {
        (self.max_per_user > 0).then_some(SessionCap {
            max: self.max_per_user,
            on_limit: self.on_limit,
        })
    }
}

pub(super) fn validate(raw: RawSessions) -> Result<SessionsConfig, ConfigError> {
    let max_per_user = raw.max_per_user.unwrap_or(0);
    if max_per_user > MAX_PER_USER_MAX {
        return Err(ConfigError::new(
            "sessions.max_per_user",
            format!("{max_per_user} is above the maximum {MAX_PER_USER_MAX} (0 means unlimited)"),
        ));
    }
    let on_limit = match raw.on_limit.as_deref() {
        None | Some("evict_oldest") => OnLimit::EvictOldest,
        Some("reject") => OnLimit::Reject,
        Some(other) => {
            return Err(ConfigError::new(
                "sessions.on_limit",
                format!("{other:?}: expected \"evict_oldest\" or \"reject\""),
            ));
        }
    };
    Ok(SessionsConfig {
        max_per_user,
        on_limit,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(max: Option<u32>, on_limit: Option<&str>) -> RawSessions {
        RawSessions {
            max_per_user: max,
            on_limit: on_limit.map(str::to_owned),
        }
    }

    #[test]
    fn unlimited_by_default_and_evicting_when_capped() {
        let config = validate(raw(None, None)).unwrap();
        assert_eq!(config.cap(), None);
        let config = validate(raw(Some(3), None)).unwrap();
        assert_eq!(
            config.cap(),
            Some(SessionCap {
                max: 3,
                on_limit: OnLimit::EvictOldest
            })
        );
        let config = validate(raw(Some(1), Some("reject"))).unwrap();
        assert_eq!(config.cap().unwrap().on_limit, OnLimit::Reject);
    }

    #[test]
    fn unknown_on_limit_and_huge_caps_name_the_key() {
        let err = validate(raw(Some(2), Some("evict_newest"))).unwrap_err();
        assert_eq!(err.key, "sessions.on_limit");
        let err = validate(raw(Some(MAX_PER_USER_MAX + 1), None)).unwrap_err();
        assert_eq!(err.key, "sessions.max_per_user");
    }
}

/// A cap on a user's live sessions, checked when a session starts (`SessionStart::cap`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionCap {
    /// Live sessions a user may hold, the new one included (at least 1).
    pub max: u32,
    /// What a login beyond the cap does.
    pub on_limit: OnLimit,
}

/// `sessions.on_limit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OnLimit {
    /// The login succeeds; the least recently used live sessions are revoked to make room.
    EvictOldest,
    /// The login is refused (`StoreError::SessionCapReached`); nothing is written.
    Reject,
}
