//! User-Agent parsing benches: a current desktop Chrome header, the crafted 8 KB header that the
//! 512-byte bound defuses (and, for comparison, the same header matched without the bound), and
//! the one-time cost of compiling the uap-core rules.
//!
//! Run: `cargo bench --bench user_agent -- --warm-up-time 1 --measurement-time 2`

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use sessiongate::sessions::user_agent::UserAgentParser;

const CHROME: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like \
                      Gecko) Chrome/124.0.0.0 Safari/537.36";

fn bench_parse(c: &mut Criterion) {
    let parser = UserAgentParser::new().expect("vendored regexes.yaml compiles");
    let crafted = format!("Mozilla/5.0 ({})", "a;".repeat(4000));
    let mut group = c.benchmark_group("user_agent");
    group.bench_function("parse_chrome", |b| {
        b.iter(|| parser.parse(black_box(CHROME)))
    });
    group.bench_function("parse_crafted_8kb", |b| {
        b.iter(|| parser.parse(black_box(&crafted)))
    });

    // What the 512-byte bound buys: the same rules run over the whole 8 KB.
    let regexes: ua_parser::Regexes<'static> =
        serde_norway::from_str(include_str!("../src/sessions/regexes.yaml")).expect("yaml");
    let unbounded = ua_parser::Extractor::try_from(regexes).expect("compiles");
    group.bench_function("unbounded_crafted_8kb", |b| {
        b.iter(|| unbounded.extract(black_box(&crafted)))
    });
    group.finish();
}

/// Start-up cost, paid once per process: deserialize regexes.yaml and compile every rule.
fn bench_build(c: &mut Criterion) {
    let mut group = c.benchmark_group("user_agent_build");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(10));
    group.bench_function("new", |b| {
        b.iter(|| UserAgentParser::new().expect("compiles"))
    });
    group.finish();
}

criterion_group!(benches, bench_parse, bench_build);
criterion_main!(benches);
