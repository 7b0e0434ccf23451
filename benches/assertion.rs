//! The identity assertion's cost per proxied request: an ES256 assertion signed fresh (ring),
//! the same request served from the per (session, audience, window) cache, the cache's miss
//! path (sign + insert), and a lookup for a session the cache has never seen among many.
//!
//! Does not measure the network path; `bench/proxy.sh` runs wrk against the real binary.
//!
//! Run: `cargo bench --bench assertion -- --warm-up-time 1 --measurement-time 3`

use std::collections::BTreeMap;
use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use sessiongate::assertion::{Assertions, KeyRing, keys};
use sessiongate::config::{self, Config};
use sessiongate::ids;
use sessiongate::tokens::Verified;

/// Distinct sessions already in the cache, so a hit is a lookup among many.
const SESSIONS: usize = 10_000;

fn config(cache: bool) -> Config {
    let text = format!(
        "[app]\nid = \"myapp-abcde\"\n[upstream]\nurl = \"http://127.0.0.1:9000\"\n\
         [identity_headers]\nassertion = \"X-Sessiongate-Assertion\"\nassertion_cache = {cache}\n"
    );
    config::from_toml_str(&text, &BTreeMap::new(), Path::new(".")).expect("bench config loads")
}

/// The key ring as `App::build` loads it (a generated key in a fresh store).
fn ring() -> Arc<KeyRing> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let set = runtime.block_on(async {
        let store = sessiongate::store::connect("sqlite::memory:")
            .await
            .expect("store");
        keys::load(store.as_ref(), Duration::ZERO, ids::now())
            .await
            .expect("keys")
    });
    let ring = Arc::new(KeyRing::default());
    ring.replace(set);
    ring
}

/// A caller shaped like an anonymous login's.
fn caller(now: i64) -> Verified {
    Verified::new(
        &ids::object_id(),
        &ids::object_id(),
        "anon-user",
        &ids::object_id(),
        now,
        now + 1_800,
    )
}

fn bench_assertion(c: &mut Criterion) {
    let ring = ring();
    let audience: Arc<str> = Arc::from("http://127.0.0.1:9000");
    let fresh = Assertions::new(&config(false), ring.clone()).expect("assertions on");
    let cached = Assertions::new(&config(true), ring).expect("assertions on");
    let now = ids::now();
    let me = caller(now);
    let others: Vec<Verified> = (0..SESSIONS).map(|_| caller(now)).collect();
    for other in &others {
        cached.value(other, &audience, now).expect("signs");
    }
    let mut group = c.benchmark_group("assertion");
    group.bench_function("sign_fresh_es256", |b| {
        b.iter(|| black_box(fresh.value(black_box(&me), &audience, now).expect("signs")));
    });
    cached.value(&me, &audience, now).expect("signs");
    group.bench_function("cached_hit", |b| {
        b.iter(|| black_box(cached.value(black_box(&me), &audience, now).expect("hit")));
    });
    // A new window each time: the cache is consulted, misses, signs and inserts.
    let mut window = 0_i64;
    group.bench_function("cached_miss_sign_insert", |b| {
        b.iter(|| {
            window += 60;
            black_box(cached.value(&me, &audience, now + window).expect("signs"))
        });
    });
    group.finish();
}

criterion_group!(benches, bench_assertion);
criterion_main!(benches);
