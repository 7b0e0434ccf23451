//! Series of the lifecycle-event outbox and its delivery (`crate::events`):
//! - `sessiongate_events_pending` gauge: events not delivered yet, all replicas together
//!   ([`set_events_pending`], read from the store by each delivery task every few seconds)
//! - `sessiongate_events_sent_total{type}` counter ([`record_event_sent`])
//! - `sessiongate_events_failed_attempts_total{reason}` counter ([`record_event_attempt_failed`])
//! - `sessiongate_events_dropped_total{type}` counter: given up after `events.max_age`
//!   ([`record_event_dropped`])
//! - `sessiongate_events_emit_errors_total` counter: an event that could not be recorded (the
//!   store failed after the change itself committed) ([`record_event_emit_error`])
//! - `sessiongate_events_delivery_seconds{outcome}` histogram: one attempt, request to answer
//!
//! Does not decide what failed; the deliverer names the reason from a closed set.

use std::time::Duration;

use ::metrics::{
    Unit, counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram,
};

const EVENTS_PENDING: &str = "sessiongate_events_pending";
const EVENTS_SENT: &str = "sessiongate_events_sent_total";
const EVENTS_FAILED_ATTEMPTS: &str = "sessiongate_events_failed_attempts_total";
const EVENTS_DROPPED: &str = "sessiongate_events_dropped_total";
const EVENTS_EMIT_ERRORS: &str = "sessiongate_events_emit_errors_total";
const EVENTS_DELIVERY: &str = "sessiongate_events_delivery_seconds";

/// Why one delivery attempt failed (the `reason` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventFailure {
    /// The receiver answered, but not 2xx.
    Status,
    /// No complete answer within `events.timeout`.
    Timeout,
    /// Connection refused or reset, TLS or HTTP failure.
    Unreachable,
}

impl EventFailure {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Status => "status",
            Self::Timeout => "timeout",
            Self::Unreachable => "unreachable",
        }
    }
}

pub(super) fn describe() {
    describe_gauge!(
        EVENTS_PENDING,
        "Lifecycle events recorded and not delivered yet (all replicas)"
    );
    describe_counter!(EVENTS_SENT, "Lifecycle events delivered, by type");
    describe_counter!(
        EVENTS_FAILED_ATTEMPTS,
        "Failed lifecycle event delivery attempts (retried), by reason"
    );
    describe_counter!(
        EVENTS_DROPPED,
        "Lifecycle events given up after events.max_age, by type"
    );
    describe_counter!(
        EVENTS_EMIT_ERRORS,
        "Lifecycle events that could not be recorded in the outbox"
    );
    describe_histogram!(
        EVENTS_DELIVERY,
        Unit::Seconds,
        "One lifecycle event delivery attempt, request sent to answer read, by outcome"
    );
}

#[allow(clippy::cast_precision_loss)] // a count of rows, far below 2^52
pub fn set_events_pending(count: i64) {
    gauge!(EVENTS_PENDING).set(count.max(0) as f64);
}

/// One event delivered (`event_type` is one of SPEC §10's names).
pub fn record_event_sent(event_type: &'static str, elapsed: Duration) {
    counter!(EVENTS_SENT, "type" => event_type).increment(1);
    histogram!(EVENTS_DELIVERY, "outcome" => "sent").record(elapsed.as_secs_f64());
}

/// One attempt failed; the event is retried (or given up, [`record_event_dropped`]).
pub fn record_event_attempt_failed(reason: EventFailure, elapsed: Duration) {
    counter!(EVENTS_FAILED_ATTEMPTS, "reason" => reason.as_str()).increment(1);
    histogram!(EVENTS_DELIVERY, "outcome" => "failed").record(elapsed.as_secs_f64());
}

pub fn record_event_dropped(event_type: &'static str) {
    counter!(EVENTS_DROPPED, "type" => event_type).increment(1);
}

pub fn record_event_emit_error() {
    counter!(EVENTS_EMIT_ERRORS).increment(1);
}
