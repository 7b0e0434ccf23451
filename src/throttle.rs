//! `[login_limits]`: brute-force and credential-stuffing protection, counted in the store so
//! that every replica on one PostgreSQL sees the same counts.
//!
//! A handler asks [`Throttle::admit`] before the attempt (one indexed read; a refusal is 429
//! with `Retry-After` before any password is hashed) and hands the result to
//! [`Throttle::settle`] after it (a failure is counted against every key of the attempt in one
//! atomic upsert). Keys and scopes are in `throttle/keys.rs`, the SQL in
//! `store/sql/throttle.rs`.
//!
//! # Guarantees
//! - Logins (local-userpass, api-key, custom-function) count failures; a success is never
//!   counted and clears the (account, client) key. Register and the confirmation/reset sends
//!   count every attempt. Refreshes count failures per client.
//! - A key that reaches its limit within `window` is refused for `block`, doubling on each
//!   further trip up to `max_block`; a key without failures for `forget_after` starts over.
//! - No lockout by others: a client that logged in to an account within `known_client_ttl` is
//!   exempt from that account's loose limit (`per_account`), so an attacker elsewhere can delay
//!   only first logins from new addresses, never one from a known client.
//! - Attempts already past `admit` when a key trips still finish (at most the attempts in
//!   flight at that moment, bounded by the hash pool's slots and queue per replica).
//!
//! Does not hash passwords or shed storms; `auth::password` bounds its queue itself.

pub mod keys;

use std::sync::Arc;

use serde_json::json;

use crate::config::LoginLimitsConfig;
use crate::events::{Event, EventName, Events};
use crate::ids;
use crate::store::{Store, StoreError, ThrottleHit, ThrottleRules, ThrottleState};

pub use keys::{Action, Attempt, Key, Scope};

/// How an attempt ended, as the limits count it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    /// The client's credentials (or token) were refused, or a register/send went through.
    Failure,
    /// Neither: a malformed body, a provider not found, our own or an upstream fault.
    Neutral,
}

/// Why an attempt was not admitted.
#[derive(Debug, thiserror::Error)]
pub enum ThrottleError {
    /// A key of the attempt is blocked for `retry_after` more seconds; `reason` names the
    /// key's scope for the access log.
    #[error("too many failed attempts, try again later")]
    TooManyAttempts {
        retry_after: u64,
        reason: &'static str,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// An attempt that was admitted, to be settled once it ended.
#[derive(Debug)]
#[must_use = "settle the ticket with the attempt's outcome"]
pub struct Ticket {
    attempt: Option<Attempt>,
    keys: Vec<Key>,
}

pub struct Throttle {
    config: LoginLimitsConfig,
    rules: ThrottleRules,
    store: Arc<dyn Store>,
    events: Arc<Events>,
}

fn seconds(duration: std::time::Duration) -> i64 {
    i64::try_from(duration.as_secs()).unwrap_or(i64::MAX / 4)
}

impl Throttle {
    pub fn new(config: &LoginLimitsConfig, store: Arc<dyn Store>, events: Arc<Events>) -> Self {
        Self {
            rules: ThrottleRules {
                window: seconds(config.window),
                block: seconds(config.block),
                max_block: seconds(config.max_block),
                forget_after: seconds(config.forget_after),
            },
            config: config.clone(),
            store,
            events,
        }
    }

    /// Checks `attempt` against its keys: 429 `TooManyRequests` with `Retry-After` if one is
    /// blocked (the account's own only for clients it does not know), else a ticket to settle.
    /// `None` (a provider that is not limited) and disabled limits admit without a look-up.
    pub async fn admit(&self, attempt: Option<Attempt>) -> Result<Ticket, ThrottleError> {
        let Some(attempt) = attempt.filter(|_| self.config.enabled) else {
            return Ok(Ticket {
                attempt: None,
                keys: Vec::new(),
            });
        };
        let keys = attempt.keys(&self.config);
        let known_key = attempt.known_key();
        let mut wanted: Vec<String> = keys.iter().map(|k| k.key.clone()).collect();
        if let Some(known) = &known_key {
            if !wanted.contains(known) {
                wanted.push(known.clone());
            }
        }
        let states = self.store.throttle_states(&wanted).await?;
        let now = ids::now();
        let known_since = now.saturating_sub(seconds(self.config.known_client_ttl));
        let known = known_key.is_some_and(|known| {
            find(&states, &known)
                .and_then(|s| s.known_at)
                .is_some_and(|at| at > known_since)
        });
        let blocking = keys
            .iter()
            .filter(|key| !(key.scope == Scope::Account && known))
            .filter_map(|key| {
                let state = find(&states, &key.key)?;
                (state.blocked_until > now).then_some((key.scope, state.blocked_until - now))
            })
            .max_by_key(|(_, wait)| *wait);
        if let Some((scope, wait)) = blocking {
            crate::metrics::record_login_throttled(attempt.action.as_str(), scope.as_str());
            tracing::info!(
                action = attempt.action.as_str(),
                scope = scope.as_str(),
                client = %keys::client_bucket(attempt.client),
                retry_after_s = wait,
                "attempt refused by login_limits"
            );
            return Err(ThrottleError::TooManyAttempts {
                retry_after: u64::try_from(wait).unwrap_or(1),
                reason: scope.reason(),
            });
        }
        Ok(Ticket {
            attempt: Some(attempt),
            keys,
        })
    }

    /// Counts the attempt of `ticket` as it ended. Never fails the request: a store error is
    /// logged (the attempt simply goes uncounted).
    pub async fn settle(&self, ticket: Ticket, outcome: Outcome) {
        let Some(attempt) = ticket.attempt else {
            return;
        };
        let counts = match (attempt.action, outcome) {
            (_, Outcome::Neutral) => false,
            (Action::Login | Action::Refresh, Outcome::Success) => {
                if attempt.action == Action::Login {
                    self.known(&attempt).await;
                }
                false
            }
            (_, Outcome::Failure) | (Action::Register | Action::Send, Outcome::Success) => true,
        };
        if !counts {
            return;
        }
        let hits: Vec<ThrottleHit> = ticket
            .keys
            .iter()
            .map(|key| ThrottleHit {
                key: key.key.clone(),
                limit: i64::from(key.limit),
            })
            .collect();
        let now = ids::now();
        match self.store.throttle_failures(&hits, &self.rules, now).await {
            Ok(counted) => {
                for state in counted.iter().filter(|s| s.blocked_until > now) {
                    if let Some(key) = ticket.keys.iter().find(|k| k.key == state.key) {
                        self.tripped(&attempt, key.scope, state, now).await;
                    }
                }
            }
            Err(err) => tracing::warn!(error = %err, "login_limits: failure not counted"),
        }
    }

    /// A successful login: the client is known to the account, its pair key starts over.
    async fn known(&self, attempt: &Attempt) {
        let Some(key) = attempt.known_key() else {
            return;
        };
        if let Err(err) = self
            .store
            .throttle_known(&key, &self.rules, ids::now())
            .await
        {
            tracing::warn!(error = %err, "login_limits: known client not recorded");
        }
    }

    /// A key went over its limit: metric, log line and a `login.throttled` event.
    async fn tripped(&self, attempt: &Attempt, scope: Scope, state: &ThrottleState, now: i64) {
        let action = attempt.action.as_str();
        let blocked_for = state.blocked_until - now;
        crate::metrics::record_throttle_trip(action, scope.as_str());
        let client = keys::client_bucket(attempt.client);
        tracing::warn!(
            action,
            scope = scope.as_str(),
            client = %client,
            blocked_for_s = blocked_for,
            trips = state.trips,
            "login_limits: key blocked"
        );
        let user_id = match (scope, attempt.provider, attempt.account.as_deref()) {
            (Scope::Client, _, _) | (_, _, None) => String::new(),
            (_, crate::auth::userpass::NAME, Some(email)) => {
                match self.store.find_local_account(email).await {
                    Ok(account) => account.map(|a| a.user_id).unwrap_or_default(),
                    Err(_) => String::new(),
                }
            }
            _ => String::new(),
        };
        let event = Event::new(EventName::LoginThrottled, user_id).data(json!({
            "action": action,
            "scope": scope.as_str(),
            "provider": attempt.provider,
            "client": client,
            "blocked_for_s": blocked_for,
            "trips": state.trips,
        }));
        self.events.emit(event).await;
    }

    /// Deletes counters nobody needs any more (the lifecycle chore). Returns how many.
    pub async fn purge(&self) -> Result<u64, StoreError> {
        let now = ids::now();
        let idle = self.rules.window.max(self.rules.forget_after);
        self.store
            .purge_throttle(
                now.saturating_sub(idle),
                now,
                now.saturating_sub(seconds(self.config.known_client_ttl)),
            )
            .await
    }
}

fn find<'a>(states: &'a [ThrottleState], key: &str) -> Option<&'a ThrottleState> {
    states.iter().find(|s| s.key == key)
}
