//! Metrics of live proxied streams and of revocation propagation.
//!
//! Series:
//! - `sessiongate_streams_open{kind}` gauge: WebSocket tunnels and streaming responses that are
//!   registered for closing now ([`opened`], [`dropped`])
//! - `sessiongate_streams_closed_total{kind,reason}` counter: streams the gateway closed, for
//!   a revoked session or an expired token ([`closed`])
//! - `sessiongate_revocation_propagation_seconds` histogram: on the replica that applies a
//!   revocation read from the store, now minus the writer's commit time ([`record_propagation`])
//!
//! Does not decide when to record; `streams` and `tokens::revocation` do.

use ::metrics::{
    Unit, counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram,
};

const STREAMS_OPEN: &str = "sessiongate_streams_open";
const STREAMS_CLOSED: &str = "sessiongate_streams_closed_total";
const PROPAGATION: &str = "sessiongate_revocation_propagation_seconds";

/// What kind of stream: the `kind` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamKind {
    /// A WebSocket tunnel (an upgraded connection).
    WebSocket,
    /// A proxied response body still streaming.
    Response,
}

impl StreamKind {
    /// The label value: `websocket`, `response`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::WebSocket => "websocket",
            Self::Response => "response",
        }
    }
}

/// The `# HELP` lines; called by `metrics::describe`.
pub(super) fn describe() {
    describe_gauge!(
        STREAMS_OPEN,
        "Proxied streams of authenticated sessions open now, by kind (websocket, response)"
    );
    describe_counter!(
        STREAMS_CLOSED,
        "Proxied streams the gateway closed, by kind and reason (revoked session, expired token)"
    );
    describe_histogram!(
        PROPAGATION,
        Unit::Seconds,
        "Time from a revocation's commit on the replica that wrote it to its application here \
         (revocations read from the store; clocks of the replicas are compared)"
    );
    for kind in [StreamKind::WebSocket, StreamKind::Response] {
        gauge!(STREAMS_OPEN, "kind" => kind.as_str()).increment(0.0);
    }
}

/// One stream registered.
pub fn opened(kind: StreamKind) {
    gauge!(STREAMS_OPEN, "kind" => kind.as_str()).increment(1.0);
}

/// One stream deregistered (ended for any reason).
pub fn dropped(kind: StreamKind) {
    gauge!(STREAMS_OPEN, "kind" => kind.as_str()).decrement(1.0);
}

/// One stream closed by the gateway.
/// `reason` is the close reason's label (`streams::CloseReason::as_str`).
pub fn closed(kind: StreamKind, reason: &'static str) {
    counter!(STREAMS_CLOSED, "kind" => kind.as_str(), "reason" => reason).increment(1);
}

/// One revocation applied `delay` after the writer committed it.
pub fn record_propagation(delay: std::time::Duration) {
    histogram!(PROPAGATION).record(delay.as_secs_f64());
}
