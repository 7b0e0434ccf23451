//! Token attacks through the real gateway (issue 8, "Tokens, cache and revocation"), one test
//! binary: validly signed tokens with a lifetime past the cap, a future `iat`/`nbf`, `crit` or
//! nested-JWT headers, identities that cannot be header values (`claims`); a revoked long-lived
//! token after the TTL was lowered (`revocation`); retiring a (compromised) signing key, also
//! across replicas on PostgreSQL (`keys`); HMAC secrets that are key material or guessable
//! (`secrets`).
//!
//! The echo upstream is the oracle: a refused token must never reach it.

#[path = "../common/mod.rs"]
mod common;

mod claims;
mod keys;
mod revocation;
mod secrets;

use std::time::Duration;

use common::*;
use serde_json::Value;

/// Upper bound for a child process run; a guard against hanging, not a synchronisation.
const GUARD: Duration = Duration::from_secs(60);

fn now() -> i64 {
    sessiongate::ids::now()
}

fn with(claims: &Value, changes: Value) -> Value {
    let mut claims = claims.clone();
    for (key, value) in changes.as_object().expect("object") {
        claims[key] = value.clone();
    }
    claims
}

/// Each token is refused with 401 `InvalidSession` and the upstream sees none of them.
async fn assert_all_refused(gw: &TestGateway, cases: &[(&str, String)]) {
    let before = gw.upstream.request_count();
    for (name, token) in cases {
        for path in ["/data/x", "/maybe/x"] {
            let response = gw.get_upstream(path, token).await;
            assert_eq!(response.status(), 401, "{name} on {path}");
            let body = assert_json_error(response, 401).await;
            assert_eq!(body["error_code"], "InvalidSession", "{name}: {body}");
        }
    }
    assert_eq!(
        gw.upstream.request_count(),
        before,
        "no refused token reached the upstream"
    );
}
