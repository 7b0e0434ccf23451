//! The caller's token: `Authorization: Bearer <token>` or `Session: <token>`.
//!
//! Does not verify anything; `Tokens::authenticate` does.

use http::header::AUTHORIZATION;
use http::{HeaderMap, HeaderName};

/// Agnost's session header.
pub const SESSION: HeaderName = HeaderName::from_static("session");

/// What the request carries.
#[derive(Debug, PartialEq, Eq)]
pub enum Credential<'a> {
    /// No gateway credential (no header, or an `Authorization` scheme other than Bearer).
    Absent,
    /// A token to verify.
    Token(&'a str),
    /// A header that is ours but unusable (not UTF-8, empty, two different tokens).
    Malformed,
}

/// Reads the credential. `Authorization: Bearer` and `Session` may both be sent only if they
/// carry the same token; either header sent twice is malformed (which copy an upstream or a
/// framework would read is anyone's guess).
pub fn extract(headers: &HeaderMap) -> Credential<'_> {
    if repeated(headers, &AUTHORIZATION) || repeated(headers, &SESSION) {
        return Credential::Malformed;
    }
    let bearer = match headers.get(AUTHORIZATION).map(|v| v.to_str()) {
        None => None,
        Some(Err(_)) => return Credential::Malformed,
        Some(Ok(value)) => match value.split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => Some(token.trim()),
            _ => None,
        },
    };
    let session = match headers.get(&SESSION).map(|v| v.to_str()) {
        None => None,
        Some(Err(_)) => return Credential::Malformed,
        Some(Ok(value)) => Some(value.trim()),
    };
    match (bearer, session) {
        (None, None) => Credential::Absent,
        (Some(""), _) | (_, Some("")) => Credential::Malformed,
        (Some(a), Some(b)) if a != b => Credential::Malformed,
        (Some(token), _) | (None, Some(token)) => Credential::Token(token),
    }
}

fn repeated(headers: &HeaderMap, name: &HeaderName) -> bool {
    headers.get_all(name).iter().nth(1).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        map
    }

    #[test]
    fn bearer_and_session_headers_are_read() {
        assert_eq!(
            extract(&headers(&[("authorization", "Bearer abc")])),
            Credential::Token("abc")
        );
        assert_eq!(
            extract(&headers(&[("authorization", "bearer abc")])),
            Credential::Token("abc")
        );
        assert_eq!(
            extract(&headers(&[("session", "abc")])),
            Credential::Token("abc")
        );
        assert_eq!(
            extract(&headers(&[
                ("authorization", "Bearer abc"),
                ("session", "abc")
            ])),
            Credential::Token("abc")
        );
    }

    #[test]
    fn other_schemes_are_absent_and_conflicts_malformed() {
        assert_eq!(
            extract(&headers(&[("authorization", "Basic dXNlcjpwYXNz")])),
            Credential::Absent
        );
        assert_eq!(extract(&HeaderMap::new()), Credential::Absent);
        assert_eq!(
            extract(&headers(&[("authorization", "Bearer ")])),
            Credential::Malformed
        );
        assert_eq!(
            extract(&headers(&[("authorization", "Bearer a"), ("session", "b")])),
            Credential::Malformed
        );
        for name in ["authorization", "session"] {
            let value = if name == "session" { "a" } else { "Bearer a" };
            assert_eq!(
                extract(&headers(&[(name, value), (name, value)])),
                Credential::Malformed,
                "{name} twice"
            );
        }
    }
}
