//! Refresh tokens: 256 random bits, base64url, handed to the client once and stored only as
//! a SHA-256 digest.
//!
//! # Security
//! A fast digest is the right tool here (not argon2): the token carries 256 bits of entropy,
//! so there is nothing to brute-force, and lookups stay one indexed query.
//!
//! With rotation on, a token's successor is derived, not drawn: see [`successor`].

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::ids;

/// A new refresh token and the digest the store keeps.
pub fn generate() -> (String, Vec<u8>) {
    let bytes: [u8; 32] = ids::random_bytes();
    let token = URL_SAFE_NO_PAD.encode(bytes);
    let hash = super::digest(&token).to_vec();
    (token, hash)
}

/// The stored form of a presented refresh token.
pub fn hash(token: &str) -> Vec<u8> {
    super::digest(token).to_vec()
}

/// The refresh token that replaces `token` when it is rotated: base64url of
/// HMAC-SHA256(`secret`, `token`), as long as a generated token.
///
/// # Security
/// Deterministic, so every refresh that raced with one token (on any replica: the secret is
/// shared through the store) gets the same successor and the session keeps one lineage.
/// Keyed, so knowing a token (or the store, which keeps only digests) does not give its
/// successor: only a gateway holding `secret` derives it, and only from the token itself.
pub fn successor(secret: &[u8], token: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes a key of any length");
    mac.update(token.as_bytes());
    URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_carry_256_bits_and_are_stored_hashed() {
        let (token, stored) = generate();
        assert_eq!(URL_SAFE_NO_PAD.decode(&token).unwrap().len(), 32);
        assert_eq!(stored, hash(&token));
        assert!(!stored.windows(token.len()).any(|w| w == token.as_bytes()));
        assert_ne!(generate().0, token);
    }

    #[test]
    fn successor_is_deterministic_keyed_and_shaped_like_a_token() {
        let (token, _) = generate();
        let next = successor(b"secret one", &token);
        assert_eq!(next, successor(b"secret one", &token));
        assert_ne!(next, successor(b"secret two", &token));
        assert_ne!(next, token);
        assert_eq!(URL_SAFE_NO_PAD.decode(&next).unwrap().len(), 32);
        assert_ne!(successor(b"secret one", &next), next);
    }
}
