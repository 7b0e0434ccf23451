//! The signature of an event body: `X-Sessiongate-Signature: sha256=<hex HMAC-SHA256(secret,
//! body)>`, computed over the exact bytes sent.
//!
//! # Security
//! A receiver recomputes the HMAC over the raw body it received (before parsing it) with the
//! shared `events.secret` and compares in constant time. The body carries a unique `id` and
//! `occurred_at`, so a receiver that remembers ids (it must, to de-duplicate) also refuses a
//! replayed delivery. Does not verify anything itself: the gateway only signs.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The header that carries the signature.
pub const SIGNATURE_HEADER: &str = "x-sessiongate-signature";

/// `sha256=<lowercase hex HMAC-SHA256(secret, body)>`.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_rfc_4231_test_case_2() {
        // RFC 4231 §4.3: key "Jefe", data "what do ya want for nothing?".
        assert_eq!(
            sign(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
