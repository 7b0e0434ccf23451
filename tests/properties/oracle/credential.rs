//! Tokens and credential extraction: only tokens we minted, unaltered, verify; the extractor
//! hands on only a token that is present, trimmed and unambiguous.

use std::sync::OnceLock;
use std::time::Duration;

use http::header::AUTHORIZATION;
use http::{HeaderMap, HeaderValue};
use sessiongate::config::SigningAlgorithm;
use sessiongate::proxy::credential::{self, Credential};
use sessiongate::tokens::{MintRequest, SigningKeySet, Tokens};

use super::header_map;

pub const SECRET: &[u8] = b"properties-signing-secret-0123456789abcdef";
pub const ISSUER: &str = "properties-app";

// --- tokens -------------------------------------------------------------------------------

/// One verifier for the whole process (HS256, the secret above).
pub fn tokens() -> &'static Tokens {
    static TOKENS: OnceLock<Tokens> = OnceLock::new();
    TOKENS.get_or_init(|| {
        Tokens::new(
            SigningKeySet::from_secret(SigningAlgorithm::HS256, SECRET),
            ISSUER.to_owned(),
            Duration::from_secs(1800),
            1000,
        )
    })
}

/// A token the verifier accepts (minted once, valid for 30 minutes).
pub fn valid_token() -> &'static str {
    static TOKEN: OnceLock<String> = OnceLock::new();
    TOKEN.get_or_init(|| {
        let data = serde_json::json!({});
        let request = MintRequest {
            user_id: "user-1",
            session_id: "session-1",
            provider: "anon-user",
            device_id: "device-1",
            user_data: &data,
        };
        let token = tokens()
            .mint(&request, sessiongate::ids::now())
            .expect("minting with a valid key works");
        tokens()
            .authenticate(&token, sessiongate::ids::now())
            .expect("a freshly minted token verifies");
        token
    })
}

/// Nothing but a token we minted verifies: any other string is refused (never a panic).
pub fn check_foreign_token(token: &str) {
    if token == valid_token() {
        return;
    }
    let now = sessiongate::ids::now();
    assert!(
        tokens().authenticate(token, now).is_err(),
        "a token we never minted was accepted: {token:?}"
    );
    assert!(tokens().decode(token).is_err(), "decode accepted {token:?}");
}

/// A valid token with one byte replaced (`position` modulo its length) is refused.
pub fn check_mutated_token(position: usize, byte: u8) {
    let token = valid_token().as_bytes();
    let mut mutated = token.to_vec();
    let position = position % mutated.len();
    if mutated[position] == byte {
        return;
    }
    mutated[position] = byte;
    // The header value cannot carry anything but a string; non-UTF-8 never reaches verify.
    if let Ok(mutated) = std::str::from_utf8(&mutated) {
        check_foreign_token(mutated);
    }
}

// --- credential extraction -------------------------------------------------------------------

/// A header's text: `None` when absent, `Some(None)` when not visible ASCII.
fn usable(value: Option<&HeaderValue>) -> Option<Option<&str>> {
    value.map(|v| v.to_str().ok())
}

/// What `extract` may answer, from the first `Authorization` and `Session` values only.
pub fn check_credential(headers: &HeaderMap) {
    let got = credential::extract(headers);
    let bearer = usable(headers.get(AUTHORIZATION)).map(|v| {
        v.map(|v| match v.split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => Some(token.trim()),
            _ => None,
        })
    });
    let session = usable(headers.get(credential::SESSION)).map(|v| v.map(str::trim));
    match &got {
        Credential::Absent => {
            assert!(
                session.is_none() && bearer.flatten().flatten().is_none(),
                "a credential was ignored: {headers:?}"
            );
        }
        Credential::Token(token) => {
            assert!(!token.is_empty(), "empty token from {headers:?}");
            assert_eq!(token.trim(), *token, "untrimmed token from {headers:?}");
            for candidate in [bearer.flatten().flatten(), session.flatten()]
                .into_iter()
                .flatten()
            {
                assert_eq!(candidate, *token, "two different tokens were not refused");
            }
            check_foreign_token(token);
        }
        Credential::Malformed => {}
    }
}

/// Stricter than `check_credential`: every `Authorization: Bearer` and `Session` value counts,
/// so a request that carries two different tokens (in repeated headers) is `Malformed`, as the
/// `Credential` docs promise, and an upstream that reads the last copy sees the verified one.
pub fn check_credential_repeated(headers: &HeaderMap) {
    let mut seen: Vec<&str> = Vec::new();
    for value in headers.get_all(AUTHORIZATION) {
        let Ok(text) = value.to_str() else { return };
        if let Some((scheme, token)) = text.split_once(' ')
            && scheme.eq_ignore_ascii_case("bearer")
            && !seen.contains(&token.trim())
        {
            seen.push(token.trim());
        }
    }
    for value in headers.get_all(credential::SESSION) {
        let Ok(text) = value.to_str() else { return };
        if !seen.contains(&text.trim()) {
            seen.push(text.trim());
        }
    }
    if seen.len() > 1 {
        assert_eq!(
            credential::extract(headers),
            Credential::Malformed,
            "two different tokens in one request were not refused: {headers:?}"
        );
    }
}

/// The credential fuzz target: headers, then every token shape the extractor can hand on.
pub fn check_credential_bytes(data: &[u8]) {
    match data.split_first() {
        Some((0, rest)) => check_foreign_token(&String::from_utf8_lossy(rest)),
        Some((1, [a, b, byte, ..])) => {
            check_mutated_token(usize::from(*a) << 8 | usize::from(*b), *byte)
        }
        Some((_, rest)) => {
            let headers = header_map(rest);
            check_credential(&headers);
            check_credential_repeated(&headers);
        }
        None => {}
    }
}
