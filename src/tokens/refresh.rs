//! Refresh tokens: 256 random bits, base64url, handed to the client once and stored only as
//! a SHA-256 digest.
//!
//! # Security
//! A fast digest is the right tool here (not argon2): the token carries 256 bits of entropy,
//! so there is nothing to brute-force, and lookups stay one indexed query.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

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
}
