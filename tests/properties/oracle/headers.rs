//! The proxy's header rewrite (its public half: hop-by-hop strip, identity strip and set):
//! only the verified identity and no hop-by-hop header survive.

use http::header::{CONNECTION, TE, TRAILER, TRANSFER_ENCODING, UPGRADE};
use http::{HeaderMap, HeaderName};
use sessiongate::config::IdentityHeaders;
use sessiongate::proxy::hop_by_hop;
use sessiongate::proxy::identity::Identity;
use sessiongate::tokens::Verified;

use super::header_map;

pub const IDENTITY_NAMES: [&str; 3] = ["x-user-id", "x-session-id", "x-user-provider"];

pub fn identity() -> Identity {
    Identity::new(IdentityHeaders {
        user_id: HeaderName::from_static(IDENTITY_NAMES[0]),
        session_id: HeaderName::from_static(IDENTITY_NAMES[1]),
        provider: HeaderName::from_static(IDENTITY_NAMES[2]),
    })
}

pub fn caller() -> Verified {
    Verified::new(
        "verified-user",
        "verified-session",
        "anon-user",
        "device",
        0,
        i64::MAX,
    )
}

/// Whether a header name is an identity header once case and `_` are folded.
pub fn folds_to_identity(name: &str) -> bool {
    let folded = name.to_ascii_lowercase().replace('_', "-");
    IDENTITY_NAMES.contains(&folded.as_str())
}

/// The public half of the proxy's header rewrite (hop-by-hop strip, identity strip, identity
/// set) on client headers: only the verified identity and no hop-by-hop header survive.
pub fn check_header_rewrite(client: &HeaderMap, authenticated: bool) {
    let named: Vec<HeaderName> = client
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|t| HeaderName::from_bytes(t.trim().as_bytes()).ok())
        .collect();
    let mut headers = client.clone();
    let identity = identity();
    let caller = caller();
    let upgrade = hop_by_hop::strip(&mut headers);
    identity.strip_client_copies(&mut headers);
    if authenticated {
        identity.set(&mut headers, &caller);
    }
    let expected = [caller.user_id(), caller.session_id(), caller.provider()];
    for (name, value) in &headers {
        if folds_to_identity(name.as_str()) {
            let index = IDENTITY_NAMES
                .iter()
                .position(|n| *n == name.as_str())
                .unwrap_or_else(|| panic!("client spelling {name} survived: {headers:?}"));
            assert!(authenticated, "identity header {name} without a caller");
            assert_eq!(value, expected[index], "forged {name}");
        }
    }
    for name in IDENTITY_NAMES {
        let count = headers.get_all(name).iter().count();
        assert_eq!(count, usize::from(authenticated), "{name}: {headers:?}");
    }
    for name in &named {
        assert!(
            folds_to_identity(name.as_str()) || !headers.contains_key(name),
            "{name} is named in Connection and was kept: {headers:?}"
        );
    }
    for name in [CONNECTION, TE, TRAILER, TRANSFER_ENCODING, UPGRADE] {
        assert!(!headers.contains_key(&name), "hop-by-hop {name} kept");
    }
    for name in ["keep-alive", "proxy-connection", "proxy-authorization"] {
        assert!(!headers.contains_key(name), "hop-by-hop {name} kept");
    }
    if upgrade.is_some() {
        assert!(
            named.contains(&UPGRADE),
            "Upgrade passed without Connection: upgrade"
        );
    }
}

/// The header fuzz target: first byte says whether a caller was authenticated.
pub fn check_header_bytes(data: &[u8]) {
    if let Some((first, rest)) = data.split_first() {
        check_header_rewrite(&header_map(rest), first & 1 == 1);
    }
}
