//! Random identifiers and the wall clock, in one place so every id has the same shape.
//!
//! Ids are 24 lowercase hex characters, like MongoDB ObjectIds (4 bytes of time, 8 random
//! bytes): the official SDKs parse `device_id` as an ObjectId.

use std::time::{SystemTime, UNIX_EPOCH};

/// Unix time in seconds.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Fills `buf` from the operating system's CSPRNG.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    getrandom::fill(&mut buf).expect("the operating system's random source is available");
    buf
}

/// A new ObjectId-shaped id: 8 hex digits of time, 16 random hex digits.
pub fn object_id() -> String {
    let time = u32::try_from(now()).unwrap_or(u32::MAX).to_be_bytes();
    let random: [u8; 8] = random_bytes();
    let mut bytes = [0u8; 12];
    bytes[..4].copy_from_slice(&time);
    bytes[4..].copy_from_slice(&random);
    hex::encode(bytes)
}

/// Whether `text` has the shape of an ObjectId (24 hex digits).
pub fn is_object_id(text: &str) -> bool {
    text.len() == 24 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_ids_are_24_hex_and_unique() {
        let a = object_id();
        let b = object_id();
        assert!(is_object_id(&a), "{a}");
        assert_ne!(a, b);
        assert!(!is_object_id("not-an-id"));
    }
}
