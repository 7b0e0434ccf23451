//! The real `sessiongate` binary: start-up errors, `config check`, SIGTERM drain and what its
//! log lines leave out. Each test writes a config into a temp dir and reads the ready line.

mod common;

use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::EchoUpstream;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::{Notify, mpsc};

const BIN: &str = env!("CARGO_BIN_EXE_sessiongate");
const APP: &str = "bin-app";
/// Upper bound for anything the binary is waited for; a guard against hanging, not a sync.
const GUARD: Duration = Duration::from_secs(60);

/// The config of a test run: both listeners on port 0, SQLite in `dir`. `server_extra` goes
/// into `[server]`, `extra` at the end.
fn config_text(dir: &Path, upstream: &str, server_extra: &str, extra: &str) -> String {
    format!(
        r#"
[server]
listen = "127.0.0.1:0"
admin_listen = "127.0.0.1:0"
shutdown_grace = "30s"
{server_extra}

[app]
id = "{APP}"

[store]
url = "sqlite://{db}"

[upstream]
url = "{upstream}"

[auth]
password_hash_concurrency = 2
{extra}
"#,
        db = dir.join("sessiongate.db").display(),
    )
}

fn write_config(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("sessiongate.toml");
    std::fs::write(&path, text).expect("write config");
    path
}

/// The binary with a clean `SESSIONGATE_*` environment (the caller's must not leak in).
fn command(args: &[&str]) -> Command {
    let mut command = Command::new(BIN);
    command.args(args);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("SESSIONGATE_") {
            command.env_remove(name);
        }
    }
    command.env("NO_COLOR", "1");
    command.kill_on_drop(true);
    command
}

/// Runs a command that must exit on its own; returns (code, stdout, stderr).
async fn run_to_exit(mut command: Command) -> (Option<i32>, String, String) {
    let child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn sessiongate");
    let output = tokio::time::timeout(GUARD, child.wait_with_output())
        .await
        .expect("sessiongate exits on its own (it should not have started)")
        .expect("wait for sessiongate");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// A running `sessiongate serve`.
struct Gateway {
    child: Child,
    client: String,
    admin: String,
    stderr: mpsc::UnboundedReceiver<String>,
    seen: Vec<String>,
    http: reqwest::Client,
}

impl Gateway {
    /// Spawns `serve --config path` and returns once the ready line was printed.
    async fn start(config: &Path, env: &[(&str, &str)]) -> Self {
        let mut command = command(&["serve", "--config", config.to_str().unwrap()]);
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn sessiongate");

        let stderr = child.stderr.take().expect("stderr piped");
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });

        let stdout = child.stdout.take().expect("stdout piped");
        let mut lines = BufReader::new(stdout).lines();
        let ready = tokio::time::timeout(GUARD, async {
            loop {
                match lines.next_line().await.expect("read stdout") {
                    Some(line) if line.starts_with("sessiongate ready ") => return line,
                    Some(_) => continue,
                    None => panic!("sessiongate exited before the ready line"),
                }
            }
        })
        .await
        .expect("ready line");
        // Keep draining stdout so the child never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });

        let (client, admin) = parse_ready(&ready);
        Self {
            child,
            client,
            admin,
            stderr: rx,
            seen: Vec::new(),
            http: reqwest::Client::new(),
        }
    }

    fn app_api(&self, path: &str) -> String {
        format!("{}/api/client/v2.0/app/{APP}{path}", self.client)
    }

    fn client_api(&self, path: &str) -> String {
        format!("{}/api/client/v2.0{path}", self.client)
    }

    fn pid(&self) -> u32 {
        self.child.id().expect("child is running")
    }

    fn sigterm(&self) {
        let status = std::process::Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM failed");
    }

    /// Waits for a stderr line containing `needle`.
    async fn wait_for_log(&mut self, needle: &str) -> String {
        let found = tokio::time::timeout(GUARD, async {
            while let Some(line) = self.stderr.recv().await {
                self.seen.push(line.clone());
                if line.contains(needle) {
                    return Some(line);
                }
            }
            None
        })
        .await
        .unwrap_or_else(|_| panic!("no log line containing {needle:?}"));
        found.unwrap_or_else(|| panic!("stderr closed before a line containing {needle:?}"))
    }

    /// Waits for the process to exit; returns its exit code and every stderr line.
    async fn wait_exit(mut self) -> (Option<i32>, Vec<String>) {
        let status = tokio::time::timeout(GUARD, self.child.wait())
            .await
            .expect("sessiongate exits")
            .expect("wait for sessiongate");
        while let Some(line) = self.stderr.recv().await {
            self.seen.push(line);
        }
        (status.code(), self.seen)
    }
}

/// `sessiongate ready client=http://IP:PORT admin=http://IP:PORT` -> (client, admin).
fn parse_ready(line: &str) -> (String, String) {
    let mut client = None;
    let mut admin = None;
    for word in line.split_whitespace() {
        if let Some(url) = word.strip_prefix("client=") {
            client = Some(url.to_owned());
        } else if let Some(url) = word.strip_prefix("admin=") {
            admin = Some(url.to_owned());
        }
    }
    let client = client.unwrap_or_else(|| panic!("no client= in {line:?}"));
    let admin = admin.unwrap_or_else(|| panic!("no admin= in {line:?}"));
    for url in [&client, &admin] {
        let addr = url.strip_prefix("http://").expect("http URL");
        let addr: std::net::SocketAddr = addr.parse().expect("IP:PORT");
        assert_ne!(addr.port(), 0, "{line}");
    }
    (client, admin)
}

// ---------------------------------------------------------------------------------------------
// start-up errors

/// Starts with `config_text`; expects exit 78 and one stderr line, which is returned.
async fn start_up_error(server_extra: &str, extra: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let text = config_text(dir.path(), "http://127.0.0.1:9", server_extra, extra);
    let path = write_config(dir.path(), &text);
    let (code, stdout, stderr) =
        run_to_exit(command(&["serve", "--config", path.to_str().unwrap()])).await;
    assert_config_error(code, &stdout, &stderr);
    stderr
}

fn assert_config_error(code: Option<i32>, stdout: &str, stderr: &str) {
    assert_eq!(code, Some(78), "exit code; stderr: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line on stderr: {stderr:?}");
    assert!(stderr.ends_with('\n'), "{stderr:?}");
    assert!(
        !stdout.contains("sessiongate ready"),
        "must not announce ready: {stdout}"
    );
}

#[tokio::test]
async fn unknown_config_key_stops_start_up_naming_it() {
    let stderr = start_up_error("lisen = \"127.0.0.1:0\"", "").await;
    assert!(stderr.contains("server.lisen"), "{stderr}");
}

#[tokio::test]
async fn bad_duration_stops_start_up_naming_the_key() {
    let stderr = start_up_error("", "[tokens]\naccess_ttl = \"thirty minutes\"").await;
    assert!(stderr.contains("tokens.access_ttl"), "{stderr}");
}

#[tokio::test]
async fn refresh_ttl_below_minimum_stops_start_up_with_the_exact_line() {
    let stderr = start_up_error("", "[tokens]\nrefresh_ttl = \"10m\"").await;
    assert_eq!(
        stderr,
        "sessiongate: tokens.refresh_ttl: 10m is below the minimum 30m\n"
    );
}

#[tokio::test]
async fn unreadable_admin_key_file_stops_start_up_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-admin-key");
    let stderr = start_up_error(
        "",
        &format!("[admin]\napi_key_file = \"{}\"", missing.display()),
    )
    .await;
    assert!(stderr.contains("admin.api_key_file"), "{stderr}");
}

#[tokio::test]
async fn unreadable_tls_certificate_stops_start_up_as_a_config_error() {
    let stderr = start_up_error(
        "[server.tls]\ncert_file = \"/nonexistent/cert.pem\"\nkey_file = \"/nonexistent/key.pem\"",
        "",
    )
    .await;
    assert!(stderr.contains("server.tls"), "{stderr}");
}

#[tokio::test]
async fn missing_config_file_stops_start_up_naming_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("absent.toml");
    let (code, stdout, stderr) =
        run_to_exit(command(&["serve", "--config", path.to_str().unwrap()])).await;
    assert_config_error(code, &stdout, &stderr);
    assert!(stderr.contains("absent.toml"), "{stderr}");
}

// ---------------------------------------------------------------------------------------------
// config check

#[tokio::test]
async fn config_check_prints_json_with_secrets_masked() {
    let dir = tempfile::tempdir().unwrap();
    let text = config_text(dir.path(), "http://127.0.0.1:9", "", "");
    let path = write_config(dir.path(), &text);
    let admin_key = "admin-key-that-must-never-be-printed-4242";
    let signing_key = "signing-key-that-must-never-be-printed-0123456789";
    let mut check = command(&["config", "check", "--config", path.to_str().unwrap()]);
    check
        .env("SESSIONGATE_ADMIN__API_KEY", admin_key)
        .env("SESSIONGATE_TOKENS__SIGNING_KEY", signing_key);
    let (code, stdout, stderr) = run_to_exit(check).await;
    assert_eq!(code, Some(0), "stderr: {stderr}");
    assert!(!stdout.contains(admin_key), "{stdout}");
    assert!(!stdout.contains(signing_key), "{stdout}");
    assert!(!stderr.contains(admin_key), "{stderr}");
    assert!(stdout.contains("***"), "{stdout}");
    let config: Value = serde_json::from_str(&stdout).expect("config check prints JSON");
    assert_eq!(config["app"]["id"], APP, "{config}");
    assert_eq!(config["admin"]["api_key"], "***", "{config}");
}

// ---------------------------------------------------------------------------------------------
// SIGTERM drain

/// An upstream that holds `/hold` until released, reporting each arrival.
struct HoldingUpstream {
    url: String,
    arrived: mpsc::UnboundedReceiver<()>,
    release: Arc<Notify>,
}

impl HoldingUpstream {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (arrived_tx, arrived) = mpsc::unbounded_channel();
        let release = Arc::new(Notify::new());
        let gate = release.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let arrived_tx = arrived_tx.clone();
                let gate = gate.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request: Request<Incoming>| {
                        let arrived_tx = arrived_tx.clone();
                        let gate = gate.clone();
                        async move {
                            if request.uri().path() == "/hold" {
                                let _ = arrived_tx.send(());
                                gate.notified().await;
                                return Ok::<_, Infallible>(Response::new(Full::new(
                                    Bytes::from_static(b"released"),
                                )));
                            }
                            Ok(Response::new(Full::new(Bytes::from_static(b"ok"))))
                        }
                    });
                    let _ = auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self {
            url,
            arrived,
            release,
        }
    }
}

/// An HTTP/1.1 connection that has completed one keep-alive request and now sits idle.
async fn idle_connection(base: &str, path: &str) -> tokio::net::TcpStream {
    let addr = base.strip_prefix("http://").expect("http URL");
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("write");
    // Read the whole response (headers, then Content-Length bytes) so the connection is idle.
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = stream.read(&mut buf).await.expect("read response");
        assert!(n > 0, "closed before a full response");
        received.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&received);
        let Some(head_end) = text.find("\r\n\r\n") else {
            continue;
        };
        let head = text[..head_end].to_ascii_lowercase();
        assert!(head.starts_with("http/1.1 200"), "{head}");
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .expect("content-length")
            .trim()
            .parse()
            .expect("length");
        if received.len() >= head_end + 4 + length {
            return stream;
        }
    }
}

#[tokio::test]
async fn sigterm_finishes_the_in_flight_request_refuses_new_ones_and_exits_0() {
    let mut upstream = HoldingUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(dir.path(), &config_text(dir.path(), &upstream.url, "", ""));
    let mut gw = Gateway::start(&path, &[]).await;

    let response = gw
        .http
        .post(gw.app_api("/auth/providers/anon-user/login"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let login: Value = response.json().await.unwrap();
    let token = login["access_token"].as_str().unwrap().to_owned();

    let in_flight = tokio::spawn({
        let http = reqwest::Client::new();
        let url = format!("{}/hold", gw.client);
        async move {
            let response = http.get(url).bearer_auth(token).send().await?;
            let status = response.status();
            let body = response.text().await?;
            Ok::<_, reqwest::Error>((status, body))
        }
    });
    tokio::time::timeout(GUARD, upstream.arrived.recv())
        .await
        .expect("the request reaches the upstream")
        .expect("upstream running");

    // Idle keep-alive connections on both listeners: the server closes them once it has
    // stopped accepting (listener dropped, then graceful shutdown), which is the signal that
    // new connections are refused from then on.
    let mut idle_client =
        idle_connection(&gw.client, &format!("/api/client/v2.0/app/{APP}/location")).await;
    let mut idle_admin = idle_connection(&gw.admin, "/healthz").await;

    gw.sigterm();
    gw.wait_for_log("shutting down").await;
    for (what, stream) in [("client", &mut idle_client), ("admin", &mut idle_admin)] {
        let mut buf = [0u8; 64];
        let read = tokio::time::timeout(GUARD, stream.read(&mut buf))
            .await
            .unwrap_or_else(|_| panic!("{what}: idle connection is closed at shutdown"));
        assert!(
            matches!(read, Ok(0) | Err(_)),
            "{what}: idle connection got data after SIGTERM: {read:?}"
        );
    }

    // New connections are refused.
    for (what, url) in [("client", &gw.client), ("admin", &gw.admin)] {
        let addr = url.strip_prefix("http://").unwrap();
        let connect = tokio::net::TcpStream::connect(addr).await;
        assert!(
            connect
                .as_ref()
                .is_err_and(|err| err.kind() == std::io::ErrorKind::ConnectionRefused),
            "{what}: a new connection after SIGTERM was not refused: {connect:?}"
        );
    }
    let fresh = reqwest::Client::new();
    let late = fresh
        .post(gw.app_api("/auth/providers/anon-user/login"))
        .send()
        .await;
    assert!(
        late.is_err(),
        "a request after SIGTERM was answered: {late:?}"
    );

    upstream.release.notify_one();
    let (status, body) = tokio::time::timeout(GUARD, in_flight)
        .await
        .expect("the in-flight request completes")
        .expect("task")
        .expect("the in-flight request is answered");
    assert_eq!(status, 200);
    assert_eq!(body, "released");

    let (code, stderr) = gw.wait_exit().await;
    assert_eq!(code, Some(0), "stderr:\n{}", stderr.join("\n"));
    assert!(
        !stderr.iter().any(|l| l.contains("panicked")),
        "{}",
        stderr.join("\n")
    );
}

// ---------------------------------------------------------------------------------------------
// logs

#[tokio::test]
async fn log_lines_never_contain_tokens_or_passwords() {
    let upstream = EchoUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(
        dir.path(),
        &config_text(dir.path(), &upstream.url(), "", "[log]\nlevel = \"debug\""),
    );
    let gw = Gateway::start(&path, &[]).await;
    let email = "logged@example.com";
    let password = "Very-Secret-Passw0rd-7731";

    let response = gw
        .http
        .post(gw.app_api("/auth/providers/local-userpass/register"))
        .json(&json!({ "email": email, "password": password }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);

    // A failed attempt too: the wrong password must not be logged either.
    let wrong_password = "Wrong-Secret-Passw0rd-5519";
    let response = gw
        .http
        .post(gw.app_api("/auth/providers/local-userpass/login"))
        .json(&json!({ "username": email, "password": wrong_password }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);

    let response = gw
        .http
        .post(gw.app_api("/auth/providers/local-userpass/login"))
        .json(&json!({ "username": email, "password": password }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let login: Value = response.json().await.unwrap();
    let access = login["access_token"].as_str().unwrap().to_owned();
    let refresh = login["refresh_token"].as_str().unwrap().to_owned();
    let user_id = login["user_id"].as_str().unwrap().to_owned();

    let response = gw
        .http
        .post(gw.client_api("/auth/session"))
        .bearer_auth(&refresh)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let refreshed: Value = response.json().await.unwrap();
    let access2 = refreshed["access_token"].as_str().unwrap().to_owned();

    let response = gw
        .http
        .get(format!("{}/data/items?x=1", gw.client))
        .bearer_auth(&access2)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let response = gw
        .http
        .get(gw.client_api("/auth/profile"))
        .header("Session", &access)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    // A refused token is not logged either.
    let response = gw
        .http
        .get(format!("{}/data/items", gw.client))
        .bearer_auth(&refresh)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let response = gw
        .http
        .delete(gw.client_api("/auth/session"))
        .bearer_auth(&refresh)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);

    gw.sigterm();
    let (code, stderr) = gw.wait_exit().await;
    assert_eq!(code, Some(0));
    let log = stderr.join("\n");
    // The run was logged (one line per request, with the user id).
    assert!(log.contains(&user_id), "{log}");
    // JWT pieces are checked separately: a log line must not carry the signature alone.
    let signature = access.rsplit('.').next().unwrap();
    let signature2 = access2.rsplit('.').next().unwrap();
    for (what, secret) in [
        ("access token", access.as_str()),
        ("refreshed access token", access2.as_str()),
        ("access token signature", signature),
        ("refreshed access token signature", signature2),
        ("refresh token", refresh.as_str()),
        ("password", password),
        ("wrong password", wrong_password),
    ] {
        assert!(!log.contains(secret), "{what} appears in the log:\n{log}");
    }
}
