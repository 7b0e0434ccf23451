//! Random identifiers and the wall clock, in one place so every id has the same shape.
//!
//! Ids are 24 lowercase hex characters, like MongoDB ObjectIds (4 bytes of time, 8 random
//! bytes): the official SDKs parse `device_id` as an ObjectId.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Unix time in seconds.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Unix time in milliseconds (revocation commit times, propagation delays).
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Fills `buf` from the operating system's CSPRNG.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    getrandom::fill(&mut buf).expect("the operating system's random source is available");
    buf
}

/// A request id: 24 hex digits, unique per process run and across processes with high
/// probability (a random 64-bit prefix drawn once, then a counter). Not a secret, so no
/// randomness is spent per request; this runs for every request.
pub fn request_id() -> [u8; 24] {
    static PREFIX: OnceLock<u64> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let prefix = *PREFIX.get_or_init(|| u64::from_be_bytes(random_bytes()));
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut bytes = [0u8; 12];
    bytes[..8].copy_from_slice(&prefix.wrapping_add(count >> 32).to_be_bytes());
    bytes[8..].copy_from_slice(
        &u32::try_from(count & 0xffff_ffff)
            .unwrap_or(0)
            .to_be_bytes(),
    );
    let mut text = [0u8; 24];
    hex::encode_to_slice(bytes, &mut text).expect("24 hex digits fit 12 bytes");
    text
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

    #[test]
    fn request_ids_are_24_hex_and_unique() {
        let ids: std::collections::HashSet<[u8; 24]> = (0..1000).map(|_| request_id()).collect();
        assert_eq!(ids.len(), 1000);
        assert!(ids.iter().all(|id| id.iter().all(u8::is_ascii_hexdigit)));
    }
}
