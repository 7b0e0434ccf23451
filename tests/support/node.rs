//! What the Node- and browser-driven tests share: whether a program is on this machine, and
//! installing a harness's pinned npm packages once.

use std::path::Path;
use std::process::Stdio;

/// Whether `program --version` runs and succeeds here.
pub fn have(program: &str) -> bool {
    std::process::Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// `npm ci` in `dir` (its package-lock.json pins every package) unless `marker`, a file of the
/// pinned package, is already there. Tests of one binary run on parallel threads: one installs
/// while the others wait, since two `npm ci` in one directory delete each other's files.
pub fn npm_ci(dir: &Path, marker: &str) {
    static INSTALLING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = INSTALLING
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if dir.join(marker).exists() {
        return;
    }
    let status = std::process::Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
        .current_dir(dir)
        .status()
        .expect("npm runs");
    assert!(status.success(), "npm ci in {} failed", dir.display());
}
