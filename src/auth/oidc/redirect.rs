//! The redirect flow's memory: logins that went to the issuer and have not come back yet,
//! keyed by the `state` the gateway generated (not the app's), each with its PKCE verifier
//! and nonce. Bounded (`MAX_PENDING`) and short-lived (`PENDING_TTL`); taking one removes it,
//! so a `state` works once.
//!
//! The store is per process and per config generation: the callback must reach the replica
//! (and config) that started the login — a reload or another replica answers "unknown state".
//!
//! Also the wire shapes: the PKCE S256 challenge, and the URL back to the app — realm-web's
//! `handleAuthRedirect` reads `_baas_*` fields from the fragment, as App Services sent them.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use sha2::{Digest, Sha256};
use url::Url;

use crate::ids;

/// Logins awaiting their callback, at most.
const MAX_PENDING: u64 = 10_000;
/// How long a user may take at the issuer.
const PENDING_TTL: Duration = Duration::from_secs(600);

/// A login sent to the issuer.
pub struct PendingLogin {
    pub provider: &'static str,
    /// The app's own `state` (realm-web matches the result to it).
    pub app_state: String,
    /// Where the user goes back to (one of the provider's `redirect_uris`).
    pub redirect: Url,
    pub verifier: String,
    pub nonce: String,
    /// Our callback URL as sent to the issuer (the code exchange repeats it).
    pub callback: String,
    /// `?link=true`: the access token of the signed-in user the identity is added to (checked
    /// again at the callback: a session revoked meanwhile links nothing).
    pub link: Option<String>,
    /// The SDK's device information (`options.device`), if it sent any.
    pub device: Option<serde_json::Value>,
}

pub struct PendingLogins {
    cache: moka::sync::Cache<String, Arc<PendingLogin>>,
}

impl Default for PendingLogins {
    fn default() -> Self {
        Self {
            cache: moka::sync::Cache::builder()
                .max_capacity(MAX_PENDING)
                .time_to_live(PENDING_TTL)
                .build(),
        }
    }
}

impl PendingLogins {
    /// Remembers `login`; returns the `state` that finds it again.
    pub fn start(&self, login: PendingLogin) -> String {
        let state = random_token();
        self.cache.insert(state.clone(), Arc::new(login));
        state
    }

    /// The login of `state`, removed (a second call with the same `state` finds nothing).
    pub fn take(&self, state: &str) -> Option<Arc<PendingLogin>> {
        self.cache.remove(state)
    }
}

/// 256 random bits, base64url: states, nonces and PKCE verifiers (43 characters, within
/// RFC 7636's 43..=128).
pub fn random_token() -> String {
    URL_SAFE_NO_PAD.encode(ids::random_bytes::<32>())
}

/// The PKCE S256 challenge of `verifier` (RFC 7636 §4.2).
pub fn challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// Characters kept as they are in a fragment value: what `encodeURIComponent` keeps.
const FRAGMENT_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'!')
    .remove(b'~')
    .remove(b'*')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')');

/// `redirect` with `fields` as its fragment (`#k=v&k=v`, values percent-encoded: realm-web
/// splits on `&` and `=` and then `decodeURIComponent`s each value).
pub fn app_redirect(redirect: &Url, fields: &[(&str, &str)]) -> String {
    let fragment: Vec<String> = fields
        .iter()
        .map(|(key, value)| format!("{key}={}", utf8_percent_encode(value, FRAGMENT_VALUE)))
        .collect();
    let mut url = redirect.clone();
    url.set_fragment(None);
    format!("{url}#{}", fragment.join("&"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenge_is_rfc7636_s256() {
        // RFC 7636 appendix B.
        assert_eq!(
            challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        assert_eq!(random_token().len(), 43);
        assert_ne!(random_token(), random_token());
    }

    #[test]
    fn pending_login_is_taken_once() {
        let logins = PendingLogins::default();
        let state = logins.start(PendingLogin {
            provider: "oidc-x",
            app_state: "abc".into(),
            redirect: Url::parse("https://app.example/done").unwrap(),
            verifier: random_token(),
            nonce: random_token(),
            callback: "https://gw.example/api/client/v2.0/auth/callback".into(),
            link: None,
            device: None,
        });
        assert_eq!(
            logins.take(&state).map(|p| p.app_state.clone()),
            Some("abc".into())
        );
        assert!(logins.take(&state).is_none());
        assert!(logins.take("other").is_none());
    }

    #[test]
    fn app_redirect_puts_fields_in_the_fragment_encoded() {
        let redirect = Url::parse("https://app.example/cb?x=1").unwrap();
        assert_eq!(
            app_redirect(
                &redirect,
                &[("_baas_ua", "a$b$c$d"), ("_baas_error", "no way: x&y=z")]
            ),
            "https://app.example/cb?x=1#_baas_ua=a%24b%24c%24d&_baas_error=no%20way%3A%20x%26y%3Dz"
        );
    }
}
