//! The official `realm-web` SDK (npm, unmodified, driven from Node as a web app would) against
//! a real gateway. Installs realm-web itself with `npm ci`; without Node it says it was skipped.

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;

use common::*;

fn harness_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/realm_web")
}

fn have(program: &str) -> bool {
    std::process::Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Installs the pinned realm-web from package-lock.json unless it is already there.
fn install_realm_web() {
    let dir = harness_dir();
    if dir.join("node_modules/realm-web/package.json").exists() {
        return;
    }
    let status = std::process::Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
        .current_dir(&dir)
        .status()
        .expect("npm runs");
    assert!(status.success(), "npm ci in {} failed", dir.display());
}

/// Runs one scenario of tests/realm_web/scenario.mjs against `gateway`.
async fn run_scenario(gateway: &TestGateway, scenario: &str) {
    let output = tokio::process::Command::new("node")
        .arg("scenario.mjs")
        .current_dir(harness_dir())
        .env("SESSIONGATE_URL", &gateway.client_url)
        .env("SESSIONGATE_APP_ID", APP_ID)
        .env("SESSIONGATE_SIGNING_SECRET", SIGNING_SECRET)
        .env("SCENARIO", scenario)
        .output()
        .await
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    assert!(
        output.status.success(),
        "realm-web scenario {scenario} failed:\n{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains("ok logout"),
        "scenario did not reach its last step:\n{stdout}"
    );
}

#[tokio::test]
async fn realm_web_sdk_works_against_the_gateway() {
    if !have("node") || !have("npm") {
        println!("SKIPPED realm_web_sdk_works_against_the_gateway: node/npm not found on PATH");
        return;
    }
    install_realm_web();
    let gateway = TestGateway::start().await;
    run_scenario(&gateway, "core").await;
}
