//! `ForwardError`: why a forwarded request got no answer from the upstream (the proxy's
//! forwarder); `crate::error` answers each (502, 504, 400, 408).

use std::time::Duration;

/// Why the upstream gave no answer.
#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    /// Connection refused, reset, TLS failure, malformed answer.
    #[error("upstream unavailable: {0}")]
    Unavailable(String),
    /// No response headers within `upstream.timeout`.
    #[error("upstream did not answer within {0:?}")]
    Timeout(Duration),
    /// The client's body could not be read: broken chunked framing, or it hung up.
    #[error("client request body is malformed")]
    ClientBodyMalformed,
    /// The client stopped sending its body before the upstream answered.
    #[error("client request body stalled")]
    ClientBodyStalled,
    /// The upstream switched protocols without being asked to.
    #[error("upstream answered 101 to a request that did not ask to upgrade")]
    UnaskedUpgrade,
}
