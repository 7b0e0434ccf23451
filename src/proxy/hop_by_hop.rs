//! Hop-by-hop headers: meaningful for one connection only, never forwarded (RFC 9110 §7.6.1),
//! including any header a `Connection:` header names.

use http::header::{
    CONNECTION, HeaderName, PROXY_AUTHENTICATE, PROXY_AUTHORIZATION, TE, TRAILER,
    TRANSFER_ENCODING, UPGRADE,
};
use http::{HeaderMap, HeaderValue};

/// Always hop-by-hop. Names, not strings: a lookup by string parses it first, on every
/// request. A `static`, not a `const`: a `const` array of names is built and dropped wherever
/// it is used, here once per header of every request.
static FIXED: [HeaderName; 9] = [
    CONNECTION,
    TE,
    TRAILER,
    TRANSFER_ENCODING,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    PROXY_AUTHENTICATE,
    PROXY_AUTHORIZATION,
    // The h2c upgrade's settings: meaningless once the upgrade is refused.
    HeaderName::from_static("http2-settings"),
];

/// End-to-end headers a `Connection:` list cannot take away: the message's own framing and
/// target, which the forwarded request still needs.
static PROTECTED: [HeaderName; 2] = [http::header::HOST, http::header::CONTENT_LENGTH];

/// Removes hop-by-hop headers and every header named in `Connection`. Returns the `Upgrade`
/// value, if any, so an upgrade can be passed on deliberately.
///
/// Most requests carry none, and most upstream responses only `Connection: keep-alive`: one
/// pass over the names finds which are there, and only those are removed (a removal is a hash
/// and a probe, ten of them per response when done blindly).
pub fn strip(headers: &mut HeaderMap) -> Option<HeaderValue> {
    let mut present = [false; FIXED.len()];
    let mut upgrade_present = false;
    for name in headers.keys() {
        if *name == UPGRADE {
            upgrade_present = true;
        } else if let Some(at) = FIXED.iter().position(|fixed| fixed == name) {
            present[at] = true;
        }
    }
    if !upgrade_present && !present.contains(&true) {
        return None;
    }
    // The names `Connection` lists, apart from those removed anyway (`keep-alive`, the common
    // one, is not even parsed) and those it may not take away.
    let named: Vec<HeaderName> = headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|token| {
            !FIXED
                .iter()
                .any(|fixed| token.eq_ignore_ascii_case(fixed.as_str()))
        })
        .filter_map(|token| HeaderName::from_bytes(token.as_bytes()).ok())
        .filter(|name| !PROTECTED.contains(name))
        .collect();
    // `Connection: Upgrade` names the Upgrade header itself: take it out first, and keep it
    // only when the connection really asks to upgrade.
    let upgrade = upgrade_present
        .then(|| headers.remove(UPGRADE))
        .flatten()
        .filter(|_| named.contains(&UPGRADE));
    for name in named {
        headers.remove(name);
    }
    for (name, _) in FIXED.iter().zip(present).filter(|(_, present)| *present) {
        headers.remove(name);
    }
    upgrade
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_named_and_fixed_hop_by_hop_headers_are_removed() {
        let mut headers = HeaderMap::new();
        headers.insert(
            CONNECTION,
            HeaderValue::from_static("keep-alive, X-Secret-Thing, Upgrade"),
        );
        headers.insert("x-secret-thing", HeaderValue::from_static("1"));
        headers.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        headers.insert(TE, HeaderValue::from_static("trailers"));
        headers.insert("x-kept", HeaderValue::from_static("yes"));
        headers.insert(UPGRADE, HeaderValue::from_static("websocket"));
        let upgrade = strip(&mut headers);
        assert_eq!(upgrade, Some(HeaderValue::from_static("websocket")));
        assert_eq!(headers.len(), 1);
        assert!(headers.contains_key("x-kept"));
    }

    #[test]
    fn connection_cannot_name_away_host_or_content_length() {
        let mut headers = HeaderMap::new();
        headers.insert(CONNECTION, HeaderValue::from_static("Host, Content-Length"));
        headers.insert(http::header::HOST, HeaderValue::from_static("api.example"));
        headers.insert(http::header::CONTENT_LENGTH, HeaderValue::from_static("3"));
        headers.insert(
            "http2-settings",
            HeaderValue::from_static("AAMAAABkAAQAAP__"),
        );
        strip(&mut headers);
        assert!(headers.contains_key(http::header::HOST));
        assert!(headers.contains_key(http::header::CONTENT_LENGTH));
        assert!(!headers.contains_key("http2-settings"));
    }

    #[test]
    fn upgrade_without_connection_upgrade_is_dropped() {
        let mut headers = HeaderMap::new();
        headers.insert(UPGRADE, HeaderValue::from_static("websocket"));
        assert_eq!(strip(&mut headers), None);
        assert!(headers.is_empty());
    }

    /// The straightforward rules (every fixed name removed, every `Connection` token parsed):
    /// what `strip` must do, however it skips work.
    fn reference(headers: &mut HeaderMap) -> Option<HeaderValue> {
        let named: Vec<HeaderName> = headers
            .get_all(CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|token| HeaderName::from_bytes(token.trim().as_bytes()).ok())
            .filter(|name| !PROTECTED.contains(name))
            .collect();
        let upgrade = headers.remove(UPGRADE).filter(|_| named.contains(&UPGRADE));
        for name in named {
            headers.remove(name);
        }
        for name in FIXED.iter() {
            headers.remove(name);
        }
        upgrade
    }

    const NAMES: [&str; 14] = [
        "connection",
        "keep-alive",
        "Keep-Alive",
        "te",
        "upgrade",
        "host",
        "content-length",
        "x-secret",
        "x-kept",
        "proxy-connection",
        "transfer-encoding",
        "close",
        "http2-settings",
        "bad name",
    ];

    proptest::proptest! {
        #[test]
        fn strip_does_what_the_plain_rules_do(
            picks in proptest::collection::vec(
                (0..NAMES.len(), proptest::collection::vec(0..NAMES.len(), 0..4)),
                0..8,
            )
        ) {
            let mut headers = HeaderMap::new();
            for (name, listed) in &picks {
                let Ok(name) = HeaderName::from_bytes(NAMES[*name].as_bytes()) else {
                    continue;
                };
                // A header's value: the names it lists (what matters for `Connection`).
                let value = listed.iter().map(|at| NAMES[*at]).collect::<Vec<_>>().join(", ");
                headers.append(name, HeaderValue::from_str(&value).expect("ASCII"));
            }
            let mut expected = headers.clone();
            let expected_upgrade = reference(&mut expected);
            let upgrade = strip(&mut headers);
            proptest::prop_assert_eq!(upgrade, expected_upgrade);
            proptest::prop_assert_eq!(headers, expected);
        }
    }
}
