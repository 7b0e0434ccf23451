//! Hot-path benches: the token check (`Tokens::authenticate`) on a cache hit, a cache miss (full
//! HS256 verification), a forged signature and a revoked session, and the proxy's per-request
//! header rewrite and path normalization.
//!
//! Does not measure the network path; `bench/proxy.sh` runs wrk against the real binary.
//!
//! Run: `cargo bench --bench token_check -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use http::header::{
    ACCEPT, ACCEPT_ENCODING, ACCEPT_LANGUAGE, AUTHORIZATION, CACHE_CONTROL, CONNECTION,
    CONTENT_LENGTH, CONTENT_TYPE, COOKIE, HOST, ORIGIN, REFERER, USER_AGENT,
};
use http::{HeaderMap, HeaderName, HeaderValue};
use sessiongate::config::{IdentityHeaders, SigningAlgorithm};
use sessiongate::proxy::identity::Identity;
use sessiongate::proxy::{credential, hop_by_hop, path};
use sessiongate::tokens::{SigningKeySet, TokenError, Tokens, Verified};
use sessiongate::{ids, tokens};

mod common;
use common::{mint, tamper_signature};

/// The shipped defaults (`config/sessiongate.toml`): 30 min tokens, 100 000 cached, the store
/// allowed to be unreachable for 30 s.
const ACCESS_TTL: Duration = Duration::from_secs(30 * 60);
const CACHE_CAPACITY: u64 = 100_000;
const FAIL_OPEN_FOR: Duration = Duration::from_secs(30);
const ISSUER: &str = "myapp-abcde";
const SECRET: &[u8] = b"bench-signing-secret-of-at-least-32-bytes-0123456789";
/// Other sessions on the revocation list, so the revocation lookup is not into an empty map.
const OTHER_REVOKED: usize = 1_000;
/// Distinct tokens minted up front for the miss bench (see `bench_miss`).
const MISS_POOL: usize = 20_000;

/// A `Tokens` as `App::build` makes it, with a freshly synced revocation list.
fn gateway(now: i64) -> Tokens {
    let tokens = Tokens::new(
        SigningKeySet::from_secret(SigningAlgorithm::HS256, SECRET),
        ISSUER.to_owned(),
        ACCESS_TTL,
        CACHE_CAPACITY,
    )
    .with_fail_open_window(FAIL_OPEN_FOR);
    let others: Vec<String> = (0..OTHER_REVOKED).map(|_| ids::object_id()).collect();
    tokens
        .revocations()
        .revoke(others.iter().map(String::as_str), now);
    tokens.revocations().mark_synced(now);
    tokens
}

fn bench_tokens(c: &mut Criterion) {
    let now = ids::now();
    let mut group = c.benchmark_group("authenticate");

    // (a) Hit: the same token again and again; after the first call it is in the cache.
    let tokens = gateway(now);
    let token = mint(&tokens, &ids::object_id(), now);
    tokens
        .authenticate(&token, now)
        .expect("fresh token is valid");
    group.bench_function("hit", |b| {
        b.iter(|| tokens.authenticate(black_box(&token), black_box(now)))
    });
    assert_eq!(
        signature_checks(&tokens),
        1,
        "the hit bench must never reach the signature check"
    );

    // What a hit costs before the cache is even consulted: SHA-256 of the whole token.
    group.bench_function("digest", |b| b.iter(|| tokens::digest(black_box(&token))));

    bench_miss(&mut group, now);

    // A forged token (one signature character changed) is never cached: every request that
    // carries it pays a full verification and is refused.
    let forged = tamper_signature(&token);
    assert!(matches!(
        tokens.authenticate(&forged, now),
        Err(TokenError::BadSignature)
    ));
    group.bench_function("forged_signature", |b| {
        b.iter(|| tokens.authenticate(black_box(&forged), black_box(now)))
    });

    // (c) Revoked: the token is cached (its signature was good) but its session is on the
    // revocation list, so every call goes cache -> expiry -> revocation and is refused.
    let session_id = ids::object_id();
    let revoked = mint(&tokens, &session_id, now);
    tokens
        .authenticate(&revoked, now)
        .expect("fresh token is valid");
    tokens.revocations().revoke([session_id.as_str()], now);
    assert!(matches!(
        tokens.authenticate(&revoked, now),
        Err(TokenError::Revoked)
    ));
    group.bench_function("revoked", |b| {
        b.iter(|| tokens.authenticate(black_box(&revoked), black_box(now)))
    });

    group.finish();
}

/// (b) Miss: a full HS256 verification plus the cache insert, exactly what the first request
/// with a new token costs.
///
/// How the miss is kept honest: `MISS_POOL` distinct tokens are minted once, outside the
/// measurement. Each batch of iterations gets a fresh `Tokens` (shipped capacity, empty cache,
/// built untimed) and authenticates each pool token once, so every timed call is a genuine miss:
/// different digest, nothing cached. Batches larger than the pool are split, with a new
/// `Tokens` per chunk. The alternatives were rejected: a capacity-1 moka cache still answers
/// hits for entries its deferred eviction has not processed yet, and re-verifying one token
/// whose digest "isn't cached" would need a cache that never caches, which the gateway does
/// not have. The cache-miss counter is checked after every chunk.
fn bench_miss(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    now: i64,
) {
    let minter = gateway(now);
    let pool: Vec<String> = (0..MISS_POOL)
        .map(|_| mint(&minter, &ids::object_id(), now))
        .collect();
    group.bench_function("miss_hs256", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut left = iters;
            while left > 0 {
                let n = usize::try_from(left).map_or(MISS_POOL, |left| left.min(MISS_POOL));
                let tokens = gateway(now);
                let started = Instant::now();
                for token in &pool[..n] {
                    black_box(tokens.authenticate(black_box(token), now).ok());
                }
                total += started.elapsed();
                let misses = tokens
                    .stats()
                    .cache_misses
                    .load(std::sync::atomic::Ordering::Relaxed);
                assert_eq!(
                    misses, n as u64,
                    "every call of the miss bench must be a miss"
                );
                left -= n as u64;
            }
            total
        })
    });
}

/// What a browser or SDK sends through the gateway: 16 headers, one of them a forged identity
/// header and one hop-by-hop.
fn client_headers(token: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    let mut add = |name: HeaderName, value: &str| {
        headers.append(
            name,
            HeaderValue::from_str(value).expect("fixture values are valid"),
        );
    };
    add(HOST, "api.example.com");
    add(
        USER_AGENT,
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Safari/537.36 RealmWeb/2.0.1",
    );
    add(ACCEPT, "application/json");
    add(ACCEPT_ENCODING, "gzip, deflate, br, zstd");
    add(ACCEPT_LANGUAGE, "en-US,en;q=0.9,de;q=0.8");
    add(AUTHORIZATION, &format!("Bearer {token}"));
    add(CONTENT_TYPE, "application/json");
    add(CONTENT_LENGTH, "42");
    add(CONNECTION, "keep-alive");
    add(COOKIE, "_ga=GA1.1.1234567890.1700000000; theme=dark");
    add(ORIGIN, "https://app.example.com");
    add(REFERER, "https://app.example.com/items?page=2");
    add(CACHE_CONTROL, "no-cache");
    add(
        HeaderName::from_static("x-request-id"),
        "5b1e2c4a-8f0d-4e2b-9a61-3c7d9e0f1a2b",
    );
    add(
        HeaderName::from_static("traceparent"),
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    );
    add(HeaderName::from_static("x-user-id"), "forged-admin");
    headers
}

fn identity() -> Identity {
    Identity::new(IdentityHeaders {
        user_id: HeaderName::from_static("x-user-id"),
        session_id: HeaderName::from_static("x-session-id"),
        provider: HeaderName::from_static("x-user-provider"),
    })
}

/// `Proxy::rewrite_headers` through the public API, with `forward_credentials = false` (the
/// default). Its `set_forwarded` step (X-Forwarded-*, Host) is private and is left out.
fn rewrite(headers: &mut HeaderMap, identity: &Identity, caller: &Verified) -> Option<HeaderValue> {
    let upgrade = hop_by_hop::strip(headers);
    identity.strip_client_copies(headers);
    headers.remove(AUTHORIZATION);
    headers.remove(credential::SESSION);
    identity.set(headers, caller);
    upgrade
}

fn bench_proxy(c: &mut Criterion) {
    let now = ids::now();
    let tokens = gateway(now);
    let token = mint(&tokens, &ids::object_id(), now);
    let caller = tokens
        .authenticate(&token, now)
        .expect("fresh token is valid");
    let identity = identity();
    let headers = client_headers(&token);
    assert_eq!(headers.len(), 16);
    {
        let mut check = headers.clone();
        rewrite(&mut check, &identity, &caller);
        assert_eq!(
            check["x-user-id"],
            caller.user_id(),
            "forged identity replaced"
        );
        assert!(!check.contains_key(AUTHORIZATION) && !check.contains_key(CONNECTION));
    }

    let mut group = c.benchmark_group("proxy");
    // The header map is cloned untimed for every call (`iter_batched`): the rewrite consumes it.
    group.bench_function("header_rewrite", |b| {
        b.iter_batched(
            || headers.clone(),
            |mut headers| {
                black_box(rewrite(&mut headers, &identity, &caller));
                headers
            },
            BatchSize::SmallInput,
        )
    });
    group.bench_function("strip_client_copies", |b| {
        b.iter_batched(
            || headers.clone(),
            |mut headers| {
                identity.strip_client_copies(&mut headers);
                headers
            },
            BatchSize::SmallInput,
        )
    });
    group.bench_function("hop_by_hop_strip", |b| {
        b.iter_batched(
            || headers.clone(),
            |mut headers| {
                black_box(hop_by_hop::strip(&mut headers));
                headers
            },
            BatchSize::SmallInput,
        )
    });
    group.bench_function("credential_extract", |b| {
        b.iter(|| {
            matches!(
                credential::extract(black_box(&headers)),
                credential::Credential::Token(_)
            )
        })
    });
    group.bench_function("path_normalize/plain", |b| {
        b.iter(|| path::normalize(black_box("/data/items/64a1f0c2e4b0a1b2c3d4e5f6")))
    });
    group.bench_function("path_normalize/dotted_escaped", |b| {
        b.iter(|| path::normalize(black_box("/public/%2e%2e/data//items/./caf%C3%A9%20x")))
    });
    group.finish();
}

/// Hits in a full cache (issue #13, P3): `N` distinct tokens are cached; `hit_among/N`
/// authenticates one of them again and again, `hit_spread/N` the next one in a fixed stride
/// through them, so lookups go all over the cache's memory instead of hitting one hot entry.
/// Also the hit with 100,000 other sessions on the revocation list instead of 1,000.
fn bench_scale(c: &mut Criterion) {
    let now = ids::now();
    let mut group = c.benchmark_group("authenticate_at_scale");
    for (name, count) in [
        ("hit_spread/10k", 10_000usize),
        ("hit_spread/1m", 1_000_000),
    ] {
        let tokens = Tokens::new(
            SigningKeySet::from_secret(SigningAlgorithm::HS256, SECRET),
            ISSUER.to_owned(),
            ACCESS_TTL,
            u64::try_from(count + count / 10).unwrap_or(u64::MAX),
        )
        .with_fail_open_window(FAIL_OPEN_FOR);
        tokens.revocations().mark_synced(now);
        let pool: Vec<String> = (0..count)
            .map(|_| mint(&tokens, &ids::object_id(), now))
            .collect();
        for token in &pool {
            tokens
                .authenticate(token, now)
                .expect("fresh token is valid");
        }
        let checks_before = signature_checks(&tokens);
        // One user's token again and again while the cache holds the others (the issue's
        // "cached token check at N cached tokens").
        let hot = &pool[count / 2];
        group.bench_function(name.replace("hit_spread", "hit_among"), |b| {
            b.iter(|| tokens.authenticate(black_box(hot), black_box(now)))
        });
        let mut at = 0usize;
        group.bench_function(name, |b| {
            b.iter(|| {
                // A stride coprime with both sizes: every token in turn, far apart in memory.
                at = (at + 7_919) % count;
                tokens.authenticate(black_box(&pool[at]), black_box(now))
            })
        });
        assert_eq!(
            signature_checks(&tokens),
            checks_before,
            "every call of {name} must be a cache hit"
        );
    }

    let tokens = gateway(now);
    let more: Vec<String> = (0..100_000).map(|_| ids::object_id()).collect();
    tokens
        .revocations()
        .revoke(more.iter().map(String::as_str), now);
    tokens.revocations().mark_synced(now);
    let token = mint(&tokens, &ids::object_id(), now);
    tokens
        .authenticate(&token, now)
        .expect("fresh token is valid");
    group.bench_function("hit/revoked_list_101k", |b| {
        b.iter(|| tokens.authenticate(black_box(&token), black_box(now)))
    });
    group.finish();
}

fn signature_checks(tokens: &Tokens) -> u64 {
    tokens
        .stats()
        .signature_checks
        .load(std::sync::atomic::Ordering::Relaxed)
}

criterion_group!(benches, bench_tokens, bench_proxy, bench_scale);
criterion_main!(benches);
