//! What the token benches share: tokens shaped like an anonymous login's, and forging one.

use sessiongate::ids;
use sessiongate::tokens::{MintRequest, Tokens};

/// An access token shaped like an anonymous login's (object ids, `anon-user`, empty user data),
/// about 420 bytes.
pub fn mint(tokens: &Tokens, session_id: &str, now: i64) -> String {
    let user_id = ids::object_id();
    let device_id = ids::object_id();
    let user_data = serde_json::json!({});
    let request = MintRequest {
        user_id: &user_id,
        session_id,
        provider: "anon-user",
        device_id: &device_id,
        user_data: &user_data,
    };
    tokens
        .mint(&request, now)
        .expect("HS256 signing cannot fail")
}

/// Changes one character in the middle of the signature (not the last one, whose low bits are
/// padding and would make the token malformed rather than forged).
pub fn tamper_signature(token: &str) -> String {
    let mut bytes = token.as_bytes().to_vec();
    let at = bytes.len() - 10;
    bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
    String::from_utf8(bytes).expect("base64url stays ASCII")
}
