//! Identity headers: removes every client-sent copy, then sets the verified user's.
//!
//! # Security
//! The upstream trusts these headers, so a client must never supply them. Copies are removed
//! whatever their case (HTTP names are case-insensitive) and in the underscore spelling that
//! CGI-style servers (nginx, PHP, WSGI) fold into the same variable.

use http::{HeaderMap, HeaderName};

use crate::config::IdentityHeaders;
use crate::tokens::Verified;

/// Header names parsed once at start-up, with their underscore-folded forms.
pub struct Identity {
    names: IdentityHeaders,
    /// The identity header names folded, and the assertion header's when it is on.
    folded: Vec<String>,
}

fn fold(name: &str) -> String {
    name.to_ascii_lowercase().replace('_', "-")
}

/// Whether a (lowercase) header name equals `folded` once `_` reads as `-`; no allocation,
/// as this runs for every header of every proxied request.
fn folds_to(name: &str, folded: &str) -> bool {
    name.len() == folded.len()
        && name
            .bytes()
            .zip(folded.bytes())
            .all(|(a, b)| a.to_ascii_lowercase() == b || (a == b'_' && b == b'-'))
}

impl Identity {
    pub fn new(names: IdentityHeaders) -> Self {
        let folded = vec![
            fold(names.user_id.as_str()),
            fold(names.session_id.as_str()),
            fold(names.provider.as_str()),
        ];
        Self { names, folded }
    }

    /// Also removes client copies of the identity assertion header (`None`: it is off).
    #[must_use]
    pub fn with_assertion(mut self, header: Option<&HeaderName>) -> Self {
        if let Some(header) = header {
            self.folded.push(fold(header.as_str()));
        }
        self
    }

    /// Removes any header that folds to one of the identity header names.
    pub fn strip_client_copies(&self, headers: &mut HeaderMap) {
        let doomed: Vec<HeaderName> = headers
            .keys()
            .filter(|name| self.folded.iter().any(|f| folds_to(name.as_str(), f)))
            .cloned()
            .collect();
        for name in doomed {
            headers.remove(name);
        }
    }

    /// Sets the identity of a verified caller (values made once per verified token).
    pub fn set(&self, headers: &mut HeaderMap, caller: &Verified) {
        let names = [
            &self.names.user_id,
            &self.names.session_id,
            &self.names.provider,
        ];
        for (name, value) in names.into_iter().zip(caller.header_values()) {
            // Our own ids are ASCII; a value that is not (impossible) is left out, not forged.
            if let Some(value) = value {
                headers.insert(name.clone(), value.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn identity() -> Identity {
        Identity::new(IdentityHeaders {
            user_id: HeaderName::from_static("x-user-id"),
            session_id: HeaderName::from_static("x-session-id"),
            provider: HeaderName::from_static("x-user-provider"),
        })
    }

    #[test]
    fn client_supplied_identity_headers_are_removed_in_every_spelling() {
        let mut headers = HeaderMap::new();
        headers.insert("X-User-Id", HeaderValue::from_static("admin"));
        headers.insert("x_user_id", HeaderValue::from_static("admin"));
        headers.insert("X_SESSION_ID", HeaderValue::from_static("s"));
        headers.append("x-user-provider", HeaderValue::from_static("p"));
        headers.append("x-user-provider", HeaderValue::from_static("q"));
        headers.insert("x-user-idx", HeaderValue::from_static("kept"));
        identity().strip_client_copies(&mut headers);
        assert_eq!(headers.len(), 1, "{headers:?}");
        assert!(headers.contains_key("x-user-idx"));
    }

    #[test]
    fn client_supplied_assertions_are_removed_in_every_spelling() {
        let identity =
            identity().with_assertion(Some(&HeaderName::from_static("x-sessiongate-assertion")));
        let mut headers = HeaderMap::new();
        headers.insert(
            "X-Sessiongate-Assertion",
            HeaderValue::from_static("forged"),
        );
        headers.insert(
            "x_sessiongate_assertion",
            HeaderValue::from_static("forged"),
        );
        headers.insert("x-sessiongate-assertions", HeaderValue::from_static("kept"));
        identity.strip_client_copies(&mut headers);
        assert_eq!(headers.len(), 1, "{headers:?}");
    }

    #[test]
    fn verified_identity_is_set() {
        let caller = Verified::new("u1", "s1", "anon-user", "d", 0, 1);
        let mut headers = HeaderMap::new();
        identity().set(&mut headers, &caller);
        assert_eq!(headers["x-user-id"], "u1");
        assert_eq!(headers["x-session-id"], "s1");
        assert_eq!(headers["x-user-provider"], "anon-user");
    }
}
