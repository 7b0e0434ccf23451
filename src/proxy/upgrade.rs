//! Which protocol switches may pass the proxy: WebSocket only.
//!
//! # Security
//! A protocol switch hands the raw connection to the upstream: every later byte on it skips
//! the token check and the identity-header rewrite. An `h2c` upgrade accepted by the upstream
//! would turn one checked request into an unchecked HTTP/2 connection. So only a WebSocket
//! handshake (`GET`, HTTP/1.1, `Upgrade: websocket`) is passed on, and only after the route's
//! auth rule passed; any other `Upgrade` is stripped and the request forwarded as a plain one.
//! (The server closes the client connection after any upgrade request that did not end in
//! 101, so bytes sent in the hoped-for protocol are never read as the next request.)

use http::{HeaderValue, Method, Version};

/// The `Upgrade` value to pass upstream, if the request is a WebSocket handshake.
pub fn allowed(method: &Method, version: Version, upgrade: HeaderValue) -> Option<HeaderValue> {
    let websocket = upgrade
        .to_str()
        .is_ok_and(|value| value.trim().eq_ignore_ascii_case("websocket"));
    (websocket && method == Method::GET && version == Version::HTTP_11).then_some(upgrade)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(text: &'static str) -> HeaderValue {
        HeaderValue::from_static(text)
    }

    #[test]
    fn only_a_websocket_get_over_http11_may_switch() {
        let get = Method::GET;
        let v11 = Version::HTTP_11;
        assert!(allowed(&get, v11, value("websocket")).is_some());
        assert!(allowed(&get, v11, value("WebSocket")).is_some());
        for other in [
            "h2c",
            "websocket, h2c",
            "h2c, websocket",
            "TLS/1.2",
            "",
            "websocketx",
        ] {
            assert!(allowed(&get, v11, value(other)).is_none(), "{other}");
        }
        assert!(allowed(&Method::POST, v11, value("websocket")).is_none());
        assert!(allowed(&get, Version::HTTP_10, value("websocket")).is_none());
    }
}
