//! The README's walkthrough, run verbatim (only the two addresses swapped for port-0 ones)
//! against the real binary in front of the real example upstream, as `scripts/demo` starts them.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const DEMO_ADMIN_KEY: &str = "demo-admin-key-change-me";

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The shell block that follows `<!-- walkthrough -->` in README.md.
fn walkthrough() -> String {
    let readme = std::fs::read_to_string(repo().join("README.md")).expect("README.md");
    let (_, after) = readme
        .split_once("<!-- walkthrough -->")
        .expect("README has a walkthrough marker");
    let body = after
        .split_once("```sh\n")
        .expect("walkthrough opens a sh block")
        .1;
    body.split_once("\n```")
        .expect("walkthrough block is closed")
        .0
        .to_owned()
}

/// The example upstream binary `cargo test` builds next to ours.
fn data_api_binary() -> PathBuf {
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_sessiongate"))
        .parent()
        .expect("binary dir")
        .to_owned();
    let path = bin_dir.join("examples").join("data_api");
    assert!(
        path.exists(),
        "{} is missing: build it with `cargo build --example data_api`",
        path.display()
    );
    path
}

/// Spawns `command` and returns it with the first stdout line that contains `marker`.
async fn spawn_until(mut command: Command, marker: &str) -> (Child, String) {
    let mut child = command
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut lines = BufReader::new(stdout).lines();
    while let Some(line) = lines.next_line().await.expect("read stdout") {
        if line.contains(marker) {
            // Keep draining so the child never blocks on a full pipe.
            tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
            return (child, line);
        }
    }
    panic!("process exited before printing {marker:?}");
}

fn word_after<'a>(line: &'a str, prefix: &str) -> &'a str {
    let start = line
        .find(prefix)
        .unwrap_or_else(|| panic!("{prefix} in {line}"))
        + prefix.len();
    line[start..].split_whitespace().next().expect("a word")
}

#[tokio::test]
async fn readme_walkthrough_works_verbatim() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut upstream = Command::new(data_api_binary());
    upstream.arg("127.0.0.1:0");
    let (_upstream, listening) = spawn_until(upstream, "listening on").await;
    let upstream_url = word_after(&listening, "listening on ").to_owned();

    let mut gateway = Command::new(env!("CARGO_BIN_EXE_sessiongate"));
    gateway
        .args(["serve", "--config", "config/sessiongate.toml"])
        .current_dir(repo())
        .env("SESSIONGATE_SERVER__LISTEN", "127.0.0.1:0")
        .env("SESSIONGATE_SERVER__ADMIN_LISTEN", "127.0.0.1:0")
        .env(
            "SESSIONGATE_STORE__URL",
            format!("sqlite://{}", dir.path().join("demo.db").display()),
        )
        .env("SESSIONGATE_UPSTREAM__URL", &upstream_url)
        .env("SESSIONGATE_ADMIN__API_KEY", DEMO_ADMIN_KEY)
        .env("SESSIONGATE_LOG", "warn");
    let (_gateway, ready) = spawn_until(gateway, "sessiongate ready").await;
    let client = word_after(&ready, "client=");
    let admin = word_after(&ready, "admin=");

    let script = walkthrough()
        .replace("http://127.0.0.1:8080", client)
        .replace("http://127.0.0.1:8081", admin);
    let output = Command::new("bash")
        .args(["-euo", "pipefail", "-c", &script])
        .output()
        .await
        .expect("bash runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "walkthrough failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );

    // Error bodies end with the request's random id: compare them without it.
    let lines: Vec<&str> = stdout
        .lines()
        .map(|line| match line.find(r#","request_id":"#) {
            Some(at) if line.ends_with("\"}") => &line[..at],
            _ => line,
        })
        .collect();
    let expect = |needle: &str| {
        assert!(
            stdout.contains(needle),
            "walkthrough output lacks {needle:?}:\n{stdout}"
        )
    };
    expect("\"deployment_model\"");
    expect("\"title\":\"first note\"");
    expect("hello from the data API");
    expect("\"provider_type\":\"local-userpass\"");
    expect("\"access_token\"");
    assert_eq!(
        lines.iter().filter(|l| **l == "204").count(),
        2,
        "logout and admin revoke answer 204:\n{stdout}"
    );
    let invalid = r#"{"error":"invalid session","error_code":"InvalidSession""#;
    assert_eq!(
        lines.last().copied(),
        Some(invalid),
        "revoked user is refused:\n{stdout}"
    );
    assert_eq!(
        lines.iter().filter(|l| **l == invalid).count(),
        3,
        "no token, logged out, revoked:\n{stdout}"
    );
}
