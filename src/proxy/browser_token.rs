//! The access token where a browser can put it when it cannot set `Authorization`: as a
//! `Sec-WebSocket-Protocol` entry (`sessiongate.bearer.<token>`) or, on routes that name one,
//! in a query parameter. Both are taken out of the request before it is forwarded.
//!
//! Does not verify the token (`Tokens::authenticate` does) and decides nothing about routes:
//! the proxy says which sources a route accepts.
//!
//! # Security
//! A token entry is removed from `Sec-WebSocket-Protocol` on every route, opted in or not, so
//! a token never reaches an upstream through it (`proxy.forward_credentials` governs only
//! `Authorization` and `Session`). The query parameter is removed on the routes that name it.
//! Neither ends up in a log line: the access line logs the path without its query, and no
//! header value is logged.

use http::HeaderMap;
use http::HeaderValue;
use http::header::SEC_WEBSOCKET_PROTOCOL;

/// What a `Sec-WebSocket-Protocol` entry starts with when it carries the access token.
pub const PROTOCOL_PREFIX: &str = "sessiongate.bearer.";

/// A token found outside the usual headers.
#[derive(Debug, PartialEq, Eq)]
pub enum Found {
    None,
    Token(String),
    /// Two different tokens, an empty one, or a header that is not text.
    Malformed,
    /// The token entry was the only protocol offered (see [`take_from_protocol`]).
    Alone,
}

/// Removes every `sessiongate.bearer.` entry from `Sec-WebSocket-Protocol` and returns the
/// token it carried. The other entries stay, in their order, for the upstream to choose from.
///
/// The token entry must come with at least one real subprotocol: a browser that offered
/// protocols fails the handshake unless the answer names one of them, and the answer must
/// never carry the token, so a lone token entry is [`Found::Alone`].
pub fn take_from_protocol(headers: &mut HeaderMap) -> Found {
    if !headers.contains_key(SEC_WEBSOCKET_PROTOCOL) {
        return Found::None;
    }
    let mut kept: Vec<String> = Vec::new();
    let mut tokens: Vec<String> = Vec::new();
    let mut text_ok = true;
    for value in headers.get_all(SEC_WEBSOCKET_PROTOCOL) {
        let Ok(text) = value.to_str() else {
            text_ok = false;
            continue;
        };
        for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            match strip_prefix_ignore_case(entry, PROTOCOL_PREFIX) {
                Some(token) => tokens.push(token.to_owned()),
                None => kept.push(entry.to_owned()),
            }
        }
    }
    if tokens.is_empty() {
        return Found::None;
    }
    headers.remove(SEC_WEBSOCKET_PROTOCOL);
    if !kept.is_empty() {
        if let Ok(value) = HeaderValue::from_str(&kept.join(", ")) {
            headers.insert(SEC_WEBSOCKET_PROTOCOL, value);
        }
    }
    if !text_ok || tokens.iter().any(|t| t.is_empty() || *t != tokens[0]) {
        return Found::Malformed;
    }
    if kept.is_empty() {
        return Found::Alone;
    }
    Found::Token(tokens.swap_remove(0))
}

/// Takes the parameter `name` out of `query`: the token it carried (percent-decoded) and the
/// query without it (`None` when nothing is left). A name written with percent-escapes counts
/// as the name, so no spelling of it reaches the upstream.
pub fn take_from_query(query: Option<&str>, name: &str) -> (Found, Option<String>) {
    let Some(query) = query else {
        return (Found::None, None);
    };
    let mut kept: Vec<&str> = Vec::new();
    let mut tokens: Vec<String> = Vec::new();
    let mut malformed = false;
    for pair in query.split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        if decode(key).as_deref() != Some(name) {
            if !pair.is_empty() {
                kept.push(pair);
            }
            continue;
        }
        match decode(value) {
            Some(token) => tokens.push(token),
            None => malformed = true,
        }
    }
    if tokens.is_empty() && !malformed {
        return (Found::None, Some(query.to_owned()));
    }
    let rest = (!kept.is_empty()).then(|| kept.join("&"));
    let found = if malformed || tokens.iter().any(|t| t.is_empty() || *t != tokens[0]) {
        Found::Malformed
    } else {
        Found::Token(tokens.swap_remove(0))
    };
    (found, rest)
}

/// Percent-decoded (`+` is a space, as in forms) UTF-8, or `None`.
fn decode(text: &str) -> Option<String> {
    let spaced = text.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8()
        .ok()
        .map(|s| s.into_owned())
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &text[prefix.len()..])
}

/// The token a browser put where the route allows it (a `Sec-WebSocket-Protocol` entry, a query
/// parameter), and, on a route with a token query parameter, the query to forward instead of
/// the request's. Token entries leave `Sec-WebSocket-Protocol` on every route, and the route's
/// query parameter leaves the query, so neither reaches the upstream.
pub(super) fn credential(
    route: &super::Route,
    parts: &mut http::request::Parts,
) -> (Found, Option<Option<String>>) {
    let from_protocol = take_from_protocol(&mut parts.headers);
    let (from_query, query) = match &route.token_query_param {
        Some(name) => {
            let (found, rest) = take_from_query(parts.uri.query(), name);
            (found, Some(rest))
        }
        None => (Found::None, None),
    };
    let from_protocol = if route.websocket_token_protocol {
        from_protocol
    } else {
        Found::None
    };
    let found = match (from_protocol, from_query) {
        (Found::None, found) | (found, Found::None) => found,
        (Found::Alone, _) | (_, Found::Alone) => Found::Alone,
        (Found::Token(a), Found::Token(b)) if a == b => Found::Token(a),
        _ => Found::Malformed,
    };
    (found, query)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for value in values {
            map.append(
                SEC_WEBSOCKET_PROTOCOL,
                HeaderValue::from_str(value).unwrap(),
            );
        }
        map
    }

    fn protocols(map: &HeaderMap) -> Vec<String> {
        map.get_all(SEC_WEBSOCKET_PROTOCOL)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect()
    }

    #[test]
    fn the_token_entry_is_taken_and_the_app_protocols_stay_in_order() {
        let mut map = headers(&["chat.v2, sessiongate.bearer.abc.def", "chat.v1"]);
        assert_eq!(take_from_protocol(&mut map), Found::Token("abc.def".into()));
        assert_eq!(protocols(&map), ["chat.v2, chat.v1"]);
    }

    #[test]
    fn without_a_token_entry_the_header_is_untouched() {
        let mut map = headers(&["chat.v2", "chat.v1"]);
        assert_eq!(take_from_protocol(&mut map), Found::None);
        assert_eq!(protocols(&map), ["chat.v2", "chat.v1"]);
        assert_eq!(take_from_protocol(&mut HeaderMap::new()), Found::None);
    }

    #[test]
    fn two_tokens_an_empty_one_or_a_lone_one_are_refused_and_still_removed() {
        let mut map = headers(&["sessiongate.bearer.a, chat", "SessionGate.Bearer.b"]);
        assert_eq!(take_from_protocol(&mut map), Found::Malformed);
        assert_eq!(protocols(&map), ["chat"]);
        let mut map = headers(&["sessiongate.bearer., chat"]);
        assert_eq!(take_from_protocol(&mut map), Found::Malformed);
        let mut map = headers(&["sessiongate.bearer.abc"]);
        assert_eq!(take_from_protocol(&mut map), Found::Alone);
        assert!(protocols(&map).is_empty(), "the token never goes upstream");
        let mut map = headers(&["sessiongate.bearer.a, sessiongate.bearer.a, chat"]);
        assert_eq!(take_from_protocol(&mut map), Found::Token("a".into()));
    }

    #[test]
    fn the_query_token_is_taken_whatever_its_spelling_and_the_rest_kept() {
        assert_eq!(
            take_from_query(Some("a=1&access_token=t.k.n&b=2"), "access_token"),
            (Found::Token("t.k.n".into()), Some("a=1&b=2".into()))
        );
        assert_eq!(
            take_from_query(Some("access%5Ftoken=t%2Ek"), "access_token"),
            (Found::Token("t.k".into()), None)
        );
        assert_eq!(
            take_from_query(Some("access_token=a&access_token=b"), "access_token"),
            (Found::Malformed, None)
        );
        assert_eq!(
            take_from_query(Some("access_token="), "access_token"),
            (Found::Malformed, None)
        );
        assert_eq!(
            take_from_query(Some("access_token=%FF"), "access_token"),
            (Found::Malformed, None)
        );
        assert_eq!(
            take_from_query(Some("x=1&&y"), "access_token"),
            (Found::None, Some("x=1&&y".into()))
        );
        assert_eq!(take_from_query(None, "access_token"), (Found::None, None));
    }
}
