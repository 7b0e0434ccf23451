//! Session lifecycle events (SPEC §10): what happened to a session or a user, for the app's
//! backend (`[events]`).
//!
//! Code that changes a session or a user calls [`Events::emit`] once the change is committed.
//! `emit` records the event in the store's outbox (awaited: it is durable before the request
//! answers); the delivery task of every process ([`deliver`]) POSTs recorded events to
//! `events.url`, signed, in order per user, retrying with backoff — see `events/delivery.rs`
//! for the guarantees. With `events.url` empty, `emit` does nothing and nothing is recorded.
//!
//! Does not decide what counts as an event: callers name what happened.

mod delivery;
mod signature;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use tokio::sync::Notify;

use crate::config::EventsConfig;
use crate::store::{OutboxEvent, Store};

pub use delivery::{Source, deliver};
pub use signature::{SIGNATURE_HEADER, sign};

/// The event names of SPEC §10, as sent on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum EventName {
    #[serde(rename = "session.created")]
    SessionCreated,
    #[serde(rename = "session.refreshed")]
    SessionRefreshed,
    #[serde(rename = "session.revoked")]
    SessionRevoked,
    /// A rotated-out refresh token was presented again: possible theft, the session is revoked.
    #[serde(rename = "refresh_token.reused")]
    RefreshTokenReused,
    #[serde(rename = "user.created")]
    UserCreated,
    #[serde(rename = "user.disabled")]
    UserDisabled,
    #[serde(rename = "user.deleted")]
    UserDeleted,
    #[serde(rename = "login.throttled")]
    LoginThrottled,
}

impl EventName {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SessionCreated => "session.created",
            Self::SessionRefreshed => "session.refreshed",
            Self::SessionRevoked => "session.revoked",
            Self::RefreshTokenReused => "refresh_token.reused",
            Self::UserCreated => "user.created",
            Self::UserDisabled => "user.disabled",
            Self::UserDeleted => "user.deleted",
            Self::LoginThrottled => "login.throttled",
        }
    }

    /// The name of a wire name (as stored in the outbox), for metric labels.
    pub fn parse(name: &str) -> Option<Self> {
        [
            Self::SessionCreated,
            Self::SessionRefreshed,
            Self::SessionRevoked,
            Self::RefreshTokenReused,
            Self::UserCreated,
            Self::UserDisabled,
            Self::UserDeleted,
            Self::LoginThrottled,
        ]
        .into_iter()
        .find(|known| known.as_str() == name)
    }
}

/// Why a session ended (`session.revoked`'s `reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RevokeReason {
    /// `DELETE /auth/session` with the session's refresh token.
    Logout,
    /// The user signed out this session, all sessions or all others.
    SignOut,
    /// An operator revoked it (admin API or CLI).
    Admin,
    UserDisabled,
    UserDeleted,
    /// `sessions.max_per_user` evicted it for a newer login.
    Cap,
    /// A rotated-out refresh token of the session was reused.
    Theft,
    /// The user reset their password: every session ends.
    PasswordReset,
}

/// One event, before delivery.
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    pub name: EventName,
    /// The user the event is about; events of one user are delivered in order. Empty only for
    /// `login.throttled` against an account that does not exist.
    pub user_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<RevokeReason>,
    /// Anything else the event carries (the provider of a new session, the throttled key, …).
    #[serde(skip_serializing_if = "serde_json::Value::is_null")]
    pub data: serde_json::Value,
}

impl Event {
    pub fn new(name: EventName, user_id: impl Into<String>) -> Self {
        Self {
            name,
            user_id: user_id.into(),
            session_id: None,
            reason: None,
            data: serde_json::Value::Null,
        }
    }

    pub fn session(mut self, session_id: impl Into<String>) -> Self {
        self.session_id = Some(session_id.into());
        self
    }

    pub fn reason(mut self, reason: RevokeReason) -> Self {
        self.reason = Some(reason);
        self
    }

    pub fn data(mut self, data: serde_json::Value) -> Self {
        self.data = data;
        self
    }

    /// `session.revoked` of one session for one reason.
    pub fn revoked(user_id: &str, session_id: &str, reason: RevokeReason) -> Self {
        Self::new(EventName::SessionRevoked, user_id)
            .session(session_id)
            .reason(reason)
    }
}

/// Where events go. Shared by every `State` of a process (the outbox outlives a reload).
pub struct Events {
    store: Arc<dyn Store>,
    /// `events.url` is set (the running config's; see [`Events::configure`]).
    enabled: AtomicBool,
    /// Pinged by `emit`, so this process's delivery task sends at once instead of at its
    /// next poll.
    wake: Notify,
    /// Who holds a lease on an outbox row: this process.
    owner: String,
}

impl Events {
    /// Off until [`Events::configure`] turns it on.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self {
            store,
            enabled: AtomicBool::new(false),
            wake: Notify::new(),
            owner: crate::ids::object_id(),
        }
    }

    /// Applies `[events]` (at start and on each reload): events are recorded only while
    /// `events.url` is set.
    pub fn configure(&self, config: &EventsConfig) {
        self.enabled.store(config.enabled(), Ordering::Release);
    }

    /// Whether `emit` records events.
    pub fn enabled(&self) -> bool {
        self.enabled.load(Ordering::Acquire)
    }

    /// Records that `event` happened. Never fails the caller's request: a store error is logged
    /// and counted (`sessiongate_events_emit_errors_total`); the change itself is already
    /// committed.
    pub async fn emit(&self, event: Event) {
        if !self.enabled() {
            return;
        }
        let record = event.into_outbox(now_ms());
        match self.store.enqueue_event(&record).await {
            Ok(()) => self.wake.notify_one(),
            Err(err) => {
                crate::metrics::record_event_emit_error();
                tracing::error!(
                    event = %record.event_type,
                    event_id = %record.id,
                    error = %err,
                    "event not recorded: it will not be delivered"
                );
            }
        }
    }

    /// Records several events (the sessions of one sign-out), in order.
    pub async fn emit_all(&self, events: impl IntoIterator<Item = Event>) {
        for event in events {
            self.emit(event).await;
        }
    }
}

impl Event {
    /// The outbox row of this event, its body serialized once (sent byte for byte).
    fn into_outbox(self, now_ms: i64) -> OutboxEvent {
        let id = crate::ids::object_id();
        let occurred = UNIX_EPOCH + Duration::from_millis(u64::try_from(now_ms).unwrap_or(0));
        let body = Body {
            id: &id,
            name: self.name,
            user_id: (!self.user_id.is_empty()).then_some(self.user_id.as_str()),
            session_id: self.session_id.as_deref(),
            reason: self.reason,
            data: &self.data,
            occurred_at: humantime::format_rfc3339_millis(occurred).to_string(),
        };
        let body = serde_json::to_string(&body).expect("an event body serializes");
        let order_key = if self.user_id.is_empty() {
            // About no user (a throttled login for an unknown account): ordered by nothing.
            format!("event:{id}")
        } else {
            self.user_id
        };
        OutboxEvent {
            id,
            order_key,
            event_type: self.name.as_str().to_owned(),
            body,
            created_at: now_ms,
        }
    }
}

/// The JSON body POSTed to `events.url`.
#[derive(Serialize)]
struct Body<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    name: EventName,
    /// `null` only for an event about no known user.
    user_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    session_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<RevokeReason>,
    #[serde(skip_serializing_if = "serde_json::Value::is_null")]
    data: &'a serde_json::Value,
    /// RFC 3339, UTC, milliseconds: when the event was recorded.
    occurred_at: String,
}

/// Unix time in milliseconds (the outbox's clock).
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_carries_the_wire_names_and_leaves_out_what_is_absent() {
        let event = Event::revoked("u1", "s1", RevokeReason::UserDisabled);
        let record = event.into_outbox(1_700_000_000_123);
        let body: serde_json::Value = serde_json::from_str(&record.body).expect("json");
        assert_eq!(body["type"], "session.revoked");
        assert_eq!(body["user_id"], "u1");
        assert_eq!(body["session_id"], "s1");
        assert_eq!(body["reason"], "user_disabled");
        assert_eq!(body["id"], record.id.as_str());
        assert_eq!(body["occurred_at"], "2023-11-14T22:13:20.123Z");
        assert!(body.get("data").is_none(), "{body}");
        assert_eq!(record.order_key, "u1");
        assert_eq!(record.event_type, "session.revoked");

        let anonymous = Event::new(EventName::LoginThrottled, "")
            .data(serde_json::json!({"key": "client"}))
            .into_outbox(0);
        let body: serde_json::Value = serde_json::from_str(&anonymous.body).expect("json");
        assert!(body["user_id"].is_null());
        assert_eq!(body["data"]["key"], "client");
        assert!(body.get("session_id").is_none() && body.get("reason").is_none());
        assert_eq!(anonymous.order_key, format!("event:{}", anonymous.id));
    }

    #[test]
    fn every_name_parses_back() {
        for name in [
            EventName::SessionCreated,
            EventName::SessionRefreshed,
            EventName::SessionRevoked,
            EventName::RefreshTokenReused,
            EventName::UserCreated,
            EventName::UserDisabled,
            EventName::UserDeleted,
            EventName::LoginThrottled,
        ] {
            assert_eq!(EventName::parse(name.as_str()), Some(name));
        }
        assert_eq!(EventName::parse("session.exploded"), None);
    }
}
