//! Running sessiongate in production, with the real binary: `backup` during a write load,
//! private store files, `config check`'s failure cases and TOML output, `migrate` and the
//! refusal of a store newer than the binary (SQLite, and PostgreSQL when
//! `SESSIONGATE_TEST_POSTGRES_URL` is set), and the packaging (systemd unit checked by
//! `systemd-analyze`, Kubernetes example, Containerfile, LICENSE), and config reload on SIGHUP.

mod common;

#[path = "ops/backup.rs"]
mod backup;
#[path = "ops/config_check.rs"]
mod config_check;
#[path = "ops/files.rs"]
mod files;
#[path = "ops/migrate.rs"]
mod migrate;
#[path = "ops/packaging.rs"]
mod packaging;
#[path = "ops/reload.rs"]
mod reload;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;

pub const BIN: &str = env!("CARGO_BIN_EXE_sessiongate");
pub const APP: &str = common::APP_ID;
pub const ADMIN_KEY: &str = "ops-admin-key-0123456789";
/// Upper bound for a command that must exit on its own; a guard against hanging, not a sync.
const GUARD: Duration = Duration::from_secs(120);

/// A config with both listeners on port 0 and the store at `store_url`; `extra` at the end.
pub fn config_text(store_url: &str, extra: &str) -> String {
    format!(
        r#"
[server]
listen = "127.0.0.1:0"
admin_listen = "127.0.0.1:0"
shutdown_grace = "5s"

[app]
id = "{APP}"

[store]
url = "{store_url}"

[upstream]
url = "http://127.0.0.1:9"

[auth]
password_hash_concurrency = 2
{extra}
"#
    )
}

/// A SQLite URL for `path`.
pub fn sqlite_url(path: &Path) -> String {
    format!("sqlite://{}", path.display())
}

/// Writes `text` as `dir/sessiongate.toml`.
pub fn write_config(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("sessiongate.toml");
    std::fs::write(&path, text).expect("write config");
    path
}

/// The binary with a clean `SESSIONGATE_*` environment (the caller's must not leak in).
pub fn command(args: &[&str]) -> Command {
    let mut command = Command::new(BIN);
    command.args(args);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("SESSIONGATE_") {
            command.env_remove(name);
        }
    }
    command.env("NO_COLOR", "1").kill_on_drop(true);
    command
}

/// What a finished command left: exit code, stdout, stderr.
pub struct Outcome {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Outcome {
    /// Asserts the exit code, showing both streams when it differs.
    pub fn expect_code(self, code: i32) -> Self {
        assert_eq!(
            self.code,
            Some(code),
            "stdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        self
    }
}

/// Runs a command that must exit on its own.
pub async fn run(mut command: Command) -> Outcome {
    let child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn sessiongate");
    let output = tokio::time::timeout(GUARD, child.wait_with_output())
        .await
        .expect("sessiongate exits on its own")
        .expect("wait for sessiongate");
    Outcome {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Runs `sessiongate ARGS --config CONFIG` with the admin key in the environment.
pub async fn run_with_config(args: &[&str], config: &Path, env: &[(&str, &str)]) -> Outcome {
    let mut command = command(args);
    command
        .arg("--config")
        .arg(config)
        .env("SESSIONGATE_ADMIN__API_KEY", ADMIN_KEY);
    for (key, value) in env {
        command.env(key, value);
    }
    run(command).await
}

/// The permission bits of a file or directory.
pub fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .unwrap_or_else(|err| panic!("{}: {err}", path.display()))
        .permissions()
        .mode()
        & 0o777
}
