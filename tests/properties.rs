//! Property tests for the code that reads hostile input: credential extraction and token
//! verification, path normalization, route matching (the bypass oracle) and the header
//! rewrite, the last also end to end through a real gateway and echo upstream.
//!
//! The oracles live in `properties/oracle/` and are shared with the cargo-fuzz targets in
//! `fuzz/` (`.ci/fuzz` runs them for a bounded time); the inputs those found, minimized, are
//! kept in `fuzz/regressions/<target>/` and replayed here. Case counts are bounded so the whole
//! file runs in seconds; failures are not persisted (a found case goes to `fuzz/regressions/`).

mod common;

#[path = "properties/headers.rs"]
mod headers;
#[path = "properties/oracle/mod.rs"]
mod oracle;
#[path = "properties/paths.rs"]
mod paths;
#[path = "support/raw_http.rs"]
mod raw_http;
#[path = "properties/routes.rs"]
mod routes;
#[path = "properties/tokens.rs"]
mod tokens;

use std::path::Path;

/// A bounded number of cases; failures are not persisted (found cases go to
/// `fuzz/regressions/`, or into the test as an explicit example).
fn cases(cases: u32) -> proptest::test_runner::Config {
    proptest::test_runner::Config {
        cases,
        failure_persistence: None,
        ..proptest::test_runner::Config::default()
    }
}

/// A fuzz target's oracle: panics when its property does not hold for the input.
type Oracle = fn(&[u8]);

/// Every input kept in `fuzz/regressions/<target>/` still passes its target's oracle.
#[test]
fn fuzz_regressions_replay() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions");
    let targets: [(&str, Oracle); 3] = [
        ("credential_token", oracle::check_credential_bytes),
        ("path_route", oracle::check_path_bytes),
        ("header_rewrite", oracle::check_header_bytes),
    ];
    let mut replayed = 0;
    let mut failures = Vec::new();
    for (target, check) in targets {
        let dir = root.join(target);
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|err| panic!("{}: {err}", dir.display()))
            .map(|entry| entry.expect("directory entry").path())
            .filter(|path| path.is_file())
            .collect();
        files.sort();
        for file in files {
            let input = std::fs::read(&file).expect("regression input");
            replayed += 1;
            if std::panic::catch_unwind(|| check(&input)).is_err() {
                let name = file.file_name().unwrap_or_default().to_string_lossy();
                failures.push(format!("{target}/{name}"));
            }
        }
    }
    assert!(
        replayed > 0,
        "no regression inputs under {}",
        root.display()
    );
    assert!(failures.is_empty(), "regressions failing: {failures:#?}");
}
