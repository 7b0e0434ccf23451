//! Series of the proxied requests' upstream: failures by kind, retries on a fresh connection,
//! and how long it took to answer (by status class, or the failure).

use std::sync::OnceLock;
use std::time::Duration;

use ::metrics::{Histogram, Unit, counter, describe_counter, describe_histogram, histogram};

pub(super) const UPSTREAM_ERRORS_TOTAL: &str = "sessiongate_upstream_errors_total";
const UPSTREAM_RETRIES: &str = "sessiongate_upstream_retries_total";
pub(super) const UPSTREAM_DURATION: &str = "sessiongate_upstream_duration_seconds";

pub(super) fn describe() {
    describe_counter!(
        UPSTREAM_ERRORS_TOTAL,
        "Proxied requests the upstream failed, by kind"
    );
    describe_counter!(
        UPSTREAM_RETRIES,
        "Idempotent requests sent again after a pooled upstream connection died unanswered"
    );
    describe_histogram!(
        UPSTREAM_DURATION,
        Unit::Seconds,
        "Time from sending a proxied request to the upstream's response head (or its failure), \
         by outcome: status class, unavailable or timeout"
    );
}

/// How the upstream failed a proxied request: the `kind` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamErrorKind {
    /// Could not connect, or the connection broke (the client got 502).
    Unavailable,
    /// No response in time (the client got 504).
    Timeout,
}

impl UpstreamErrorKind {
    /// The label value: `unavailable`, `timeout`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unavailable => "unavailable",
            Self::Timeout => "timeout",
        }
    }
}

/// Counts one proxied request that the upstream failed.
pub fn record_upstream_error(kind: UpstreamErrorKind) {
    counter!(UPSTREAM_ERRORS_TOTAL, "kind" => kind.as_str()).increment(1);
}

/// Counts one idempotent request retried on a fresh upstream connection.
pub fn record_upstream_retry() {
    counter!(UPSTREAM_RETRIES).increment(1);
}

/// Records how long the upstream took to answer a proxied request (its response head), or to
/// fail: `Ok(status)` for an answer, `Err(kind)` when there was none.
pub fn record_upstream_duration(outcome: Result<u16, UpstreamErrorKind>, elapsed: Duration) {
    /// By outcome: the five status classes, `other`, then the two failures.
    static DURATIONS: [OnceLock<Histogram>; 8] = [const { OnceLock::new() }; 8];
    let (label, slot) = match outcome {
        Ok(status) => status_class(status),
        Err(UpstreamErrorKind::Unavailable) => ("unavailable", 6),
        Err(UpstreamErrorKind::Timeout) => ("timeout", 7),
    };
    super::with_series(
        &DURATIONS[slot],
        || histogram!(UPSTREAM_DURATION, "outcome" => label),
        |durations| durations.record(elapsed.as_secs_f64()),
    );
}

/// `1xx` … `5xx`, else `other`, and a slot for each (`0..6`).
fn status_class(status: u16) -> (&'static str, usize) {
    match status {
        100..=199 => ("1xx", 0),
        200..=299 => ("2xx", 1),
        300..=399 => ("3xx", 2),
        400..=499 => ("4xx", 3),
        500..=599 => ("5xx", 4),
        _ => ("other", 5),
    }
}
