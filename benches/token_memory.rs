//! Memory of the token cache (issue #13, P5): resident memory per cached token, and whether
//! distinct invalid tokens grow it.
//!
//! Not a criterion bench: it prints resident set sizes (`/proc/self/statm`, Linux only) at three
//! points, with the binary's allocator (mimalloc):
//! 1. a `Tokens` built as `App::build` builds it, with room for every token;
//! 2. after `COUNT` distinct valid tokens were authenticated (each cached);
//! 3. after `COUNT` distinct forged tokens (a changed signature character) were refused.
//!
//! Each token is minted, authenticated and dropped before the next, so what stays resident is
//! what the cache keeps. The result: (2 − 1) / COUNT bytes per cached token; (3 − 2) should be
//! about zero (nothing about a refused token is kept).
//!
//! Run: `cargo bench --bench token_memory` (`TOKEN_MEMORY_COUNT=100000` for a quicker look).

use std::time::{Duration, Instant};

use sessiongate::config::SigningAlgorithm;
use sessiongate::ids;
use sessiongate::tokens::{SigningKeySet, TokenError, Tokens};

mod common;
use common::{mint, tamper_signature};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const ACCESS_TTL: Duration = Duration::from_secs(30 * 60);
const SECRET: &[u8] = b"bench-signing-secret-of-at-least-32-bytes-0123456789";
const ISSUER: &str = "myapp-abcde";
const DEFAULT_COUNT: u64 = 1_000_000;

fn main() {
    let count = std::env::var("TOKEN_MEMORY_COUNT")
        .ok()
        .and_then(|value| value.parse::<u64>().ok())
        .unwrap_or(DEFAULT_COUNT);
    let now = ids::now();
    let tokens = Tokens::new(
        SigningKeySet::from_secret(SigningAlgorithm::HS256, SECRET),
        ISSUER.to_owned(),
        ACCESS_TTL,
        count + count / 10,
    );
    tokens.revocations().mark_synced(now);
    // Warm the allocator and the code paths with one token so that start-up allocations
    // (thread-local heaps, moka's housekeeper) land before the first reading.
    let warm = mint(&tokens, &ids::object_id(), now);
    tokens
        .authenticate(&warm, now)
        .expect("fresh token is valid");
    tokens.cache_entries();

    let empty = resident_bytes();
    let started = Instant::now();
    for _ in 0..count {
        let token = mint(&tokens, &ids::object_id(), now);
        tokens
            .authenticate(&token, now)
            .expect("fresh token is valid");
    }
    let cached = tokens.cache_entries();
    let full = resident_bytes();
    let valid_secs = started.elapsed().as_secs_f64();
    assert!(
        cached >= count * 99 / 100,
        "the cache must hold (almost) every token: {cached} of {count}"
    );

    let started = Instant::now();
    for _ in 0..count {
        let forged = tamper_signature(&mint(&tokens, &ids::object_id(), now));
        assert!(matches!(
            tokens.authenticate(&forged, now),
            Err(TokenError::BadSignature)
        ));
    }
    tokens.cache_entries();
    let after_invalid = resident_bytes();
    let invalid_secs = started.elapsed().as_secs_f64();

    let mib = |bytes: i64| bytes as f64 / (1024.0 * 1024.0);
    println!("tokens: {count} valid, then {count} forged (HS256, ~420-byte tokens)");
    println!("resident, empty cache:          {:8.1} MiB", mib(empty));
    println!(
        "resident, {cached} cached:    {:8.1} MiB  ({:.0} s)",
        mib(full),
        valid_secs
    );
    println!(
        "resident, after forged tokens:  {:8.1} MiB  ({:.0} s)",
        mib(after_invalid),
        invalid_secs
    );
    println!(
        "per cached token:               {:8.0} B",
        (full - empty) as f64 / cached as f64
    );
    println!(
        "growth over {count} forged tokens: {:+.1} MiB",
        mib(after_invalid - full)
    );
}

/// Resident set size of this process (`/proc/self/statm`, second field, in pages).
fn resident_bytes() -> i64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("Linux /proc");
    let pages: i64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|field| field.parse().ok())
        .expect("statm has a resident field");
    pages * 4096
}
