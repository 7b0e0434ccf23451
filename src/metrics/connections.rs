//! Series of client connections and their faults: requests refused for the client's framing or
//! body, connections shed at accept (listener full), connections closed for idling.

use ::metrics::{counter, describe_counter};

const CLIENT_FAULTS: &str = "sessiongate_client_faults_total";
const CONNECTIONS_SHED: &str = "sessiongate_connections_shed_total";
const CONNECTIONS_TIMED_OUT: &str = "sessiongate_connections_timed_out_total";

pub(super) fn describe() {
    describe_counter!(
        CLIENT_FAULTS,
        "Requests refused for the client's own framing or body faults, by kind"
    );
    describe_counter!(
        CONNECTIONS_SHED,
        "Connections closed at accept because server.max_connections were open"
    );
    describe_counter!(
        CONNECTIONS_TIMED_OUT,
        "Connections closed for sending nothing within their deadline (preface, idle)"
    );
}

/// Counts one request refused for a fault of the client's making: `kind` is a fixed label
/// such as `malformed_body`, `body_timeout`, `framing`.
pub fn record_client_fault(kind: &'static str) {
    counter!(CLIENT_FAULTS, "kind" => kind).increment(1);
}

/// Counts one connection closed at accept because the listener was full.
pub fn record_connection_shed(listener: &'static str) {
    counter!(CONNECTIONS_SHED, "listener" => listener).increment(1);
}

/// Counts one connection closed for idling past its deadline.
pub fn record_connection_timed_out() {
    counter!(CONNECTIONS_TIMED_OUT).increment(1);
}
