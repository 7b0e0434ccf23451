//! Test harness: a real gateway on port 0 in front of a real echo upstream, over real TCP.
//!
//! `TestGateway::start()` returns once both listeners are bound (no sleeps). The upstream
//! answers every request with JSON describing what it received, so tests can assert exactly
//! which headers and path reached it.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use serde_json::{Value, json};
use sessiongate::app::App;
use sessiongate::config::{self, Config};
use sessiongate::state::State;
use tokio::sync::oneshot;

pub const APP_ID: &str = "test-app";
pub const ADMIN_KEY: &str = "test-admin-key-0123456789";
pub const SIGNING_SECRET: &str = "test-signing-secret-0123456789abcdef";

/// The echo upstream: answers `{method, path, query, headers, body}` for every request.
/// `/slow` never answers (for upstream timeouts); `/status/NNN` answers that status.
pub struct EchoUpstream {
    pub addr: SocketAddr,
    pub requests: Arc<AtomicUsize>,
    _stop: oneshot::Sender<()>,
}

impl EchoUpstream {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind upstream");
        let addr = listener.local_addr().expect("upstream addr");
        let requests = Arc::new(AtomicUsize::new(0));
        let (stop_tx, mut stop_rx) = oneshot::channel::<()>();
        let counter = requests.clone();
        tokio::spawn(async move {
            loop {
                let (stream, _) = tokio::select! {
                    accepted = listener.accept() => match accepted { Ok(pair) => pair, Err(_) => continue },
                    _ = &mut stop_rx => return,
                };
                let counter = counter.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request| {
                        counter.fetch_add(1, Ordering::SeqCst);
                        echo(request)
                    });
                    let _ = auto::Builder::new(TokioExecutor::new())
                        .serve_connection_with_upgrades(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self {
            addr,
            requests,
            _stop: stop_tx,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn request_count(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

async fn echo(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = request.uri().path().to_owned();
    if path == "/slow" {
        std::future::pending::<()>().await;
    }
    let status = path
        .strip_prefix("/status/")
        .and_then(|s| s.parse::<u16>().ok())
        .and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or(StatusCode::OK);
    let method = request.method().to_string();
    let query = request.uri().query().map(str::to_owned);
    let mut headers = serde_json::Map::new();
    for (name, value) in request.headers() {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        match headers.get_mut(name.as_str()) {
            Some(Value::String(existing)) => {
                existing.push_str(", ");
                existing.push_str(&value);
            }
            _ => {
                headers.insert(name.as_str().to_owned(), Value::String(value));
            }
        }
    }
    let body = request
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let answer = json!({
        "method": method,
        "path": path,
        "query": query,
        "headers": headers,
        "body": String::from_utf8_lossy(&body),
    });
    let mut response = Response::new(Full::new(Bytes::from(answer.to_string())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    Ok(response)
}

/// A running gateway with its own SQLite file and echo upstream.
pub struct TestGateway {
    pub client_url: String,
    pub admin_url: String,
    pub http: reqwest::Client,
    pub upstream: EchoUpstream,
    pub state: Arc<State>,
    pub dir: tempfile::TempDir,
    stop: Option<oneshot::Sender<()>>,
    done: Option<tokio::task::JoinHandle<()>>,
}

/// Builder for the config of a test gateway: TOML text appended to the defaults, env pairs.
#[derive(Default, Clone)]
pub struct Options {
    pub extra_toml: String,
    pub env: Vec<(String, String)>,
    pub upstream_url: Option<String>,
}

impl Options {
    pub fn toml(mut self, text: &str) -> Self {
        self.extra_toml.push_str(text);
        self.extra_toml.push('\n');
        self
    }

    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    pub fn upstream(mut self, url: &str) -> Self {
        self.upstream_url = Some(url.to_owned());
        self
    }
}

/// The config text of a test gateway: both listeners on port 0, a fresh SQLite file.
pub fn config_text(db: &std::path::Path, upstream: &str, extra: &str) -> String {
    format!(
        r#"
[server]
listen = "127.0.0.1:0"
admin_listen = "127.0.0.1:0"
shutdown_grace = "5s"

[app]
id = "{APP_ID}"

[store]
url = "sqlite://{db}"

[upstream]
url = "{upstream}"
timeout = "2s"

[[routes]]
prefix = "/public"
auth = "none"

[[routes]]
prefix = "/maybe"
auth = "optional"

[auth]
password_hash_concurrency = 2
{extra}
"#,
        db = db.display(),
    )
}

pub fn test_env(extra: &[(String, String)]) -> BTreeMap<String, String> {
    let mut env: BTreeMap<String, String> = [
        ("SESSIONGATE_ADMIN__API_KEY", ADMIN_KEY),
        ("SESSIONGATE_TOKENS__SIGNING_KEY", SIGNING_SECRET),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    env.extend(extra.iter().cloned());
    env
}

impl TestGateway {
    pub async fn start() -> Self {
        Self::start_with(Options::default()).await
    }

    pub async fn start_with(options: Options) -> Self {
        Self::start_in(tempfile::tempdir().expect("temp dir"), options).await
    }

    /// Stops the gateway and waits for it to drain.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(done) = self.done.take() {
            let _ = done.await;
        }
    }

    pub fn db_path(&self) -> PathBuf {
        self.dir.path().join("sessiongate.db")
    }

    pub fn client_api(&self, path: &str) -> String {
        format!("{}/api/client/v2.0{path}", self.client_url)
    }

    pub fn app_api(&self, path: &str) -> String {
        format!("{}/api/client/v2.0/app/{APP_ID}{path}", self.client_url)
    }

    pub fn admin_api(&self, path: &str) -> String {
        format!(
            "{}/api/admin/v3.0/groups/test-group/apps/{APP_ID}{path}",
            self.admin_url
        )
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.client_url)
    }

    /// Logs in anonymously; returns the login answer.
    pub async fn login_anon(&self) -> Login {
        let response = self
            .http
            .post(self.app_api("/auth/providers/anon-user/login"))
            .send()
            .await
            .expect("login request");
        assert_eq!(response.status(), 200, "anonymous login");
        response.json().await.expect("login json")
    }

    /// Registers an email/password account (expects 201).
    pub async fn register(&self, email: &str, password: &str) {
        let response = self
            .http
            .post(self.app_api("/auth/providers/local-userpass/register"))
            .json(&json!({ "email": email, "password": password }))
            .send()
            .await
            .expect("register request");
        assert_eq!(response.status(), 201, "register {email}");
    }

    /// Logs in with email/password; returns the raw response.
    pub async fn login_userpass_raw(&self, email: &str, password: &str) -> reqwest::Response {
        self.http
            .post(self.app_api("/auth/providers/local-userpass/login"))
            .json(&json!({ "username": email, "password": password }))
            .send()
            .await
            .expect("login request")
    }

    pub async fn login_userpass(&self, email: &str, password: &str) -> Login {
        let response = self.login_userpass_raw(email, password).await;
        assert_eq!(response.status(), 200, "login {email}");
        response.json().await.expect("login json")
    }

    /// `POST /auth/session` with a refresh token.
    pub async fn refresh(&self, refresh_token: &str) -> reqwest::Response {
        self.http
            .post(self.client_api("/auth/session"))
            .bearer_auth(refresh_token)
            .send()
            .await
            .expect("refresh request")
    }

    /// `DELETE /auth/session` with a refresh token.
    pub async fn logout(&self, refresh_token: &str) -> reqwest::Response {
        self.http
            .delete(self.client_api("/auth/session"))
            .bearer_auth(refresh_token)
            .send()
            .await
            .expect("logout request")
    }

    /// A proxied GET with a Bearer token.
    pub async fn get_upstream(&self, path: &str, token: &str) -> reqwest::Response {
        self.http
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("proxied request")
    }

    /// A proxied GET with a Bearer token that must succeed; returns what the upstream saw.
    pub async fn echo(&self, path: &str, token: &str) -> Value {
        let response = self.get_upstream(path, token).await;
        assert_eq!(response.status(), 200, "proxied GET {path}");
        response.json().await.expect("echo json")
    }

    /// An admin API call with the admin key.
    pub fn admin(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, self.admin_api(path))
            .bearer_auth(ADMIN_KEY)
    }

    pub fn signature_checks(&self) -> u64 {
        self.state
            .auth
            .tokens()
            .stats()
            .signature_checks
            .load(Ordering::Relaxed)
    }
}

impl Drop for TestGateway {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// The login answer.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Login {
    pub access_token: String,
    pub refresh_token: String,
    pub user_id: String,
    pub device_id: String,
}

/// Asserts an App Services error answer.
pub async fn assert_error(response: reqwest::Response, status: u16, code: &str) -> Value {
    let body = assert_json_error(response, status).await;
    assert_eq!(body["error_code"], code, "{body}");
    body
}

/// A JSON answer (any shape) with `status`; returns the body.
pub async fn assert_json_status(response: reqwest::Response, status: u16) -> Value {
    assert_eq!(response.status(), status, "status");
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        content_type.starts_with("application/json"),
        "content type {content_type:?}"
    );
    response.json().await.expect("body is JSON")
}

/// An error answer `{error, error_code}` (both non-empty) with `status`; returns the body.
pub async fn assert_json_error(response: reqwest::Response, status: u16) -> Value {
    let body = assert_json_status(response, status).await;
    assert!(
        body["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{body}"
    );
    assert!(
        body["error_code"].as_str().is_some_and(|e| !e.is_empty()),
        "{body}"
    );
    // Every error names its request; the id is random, so it is taken out of what tests compare.
    let mut body = body;
    let id = body
        .as_object_mut()
        .and_then(|fields| fields.remove("request_id"));
    assert!(
        id.as_ref()
            .and_then(Value::as_str)
            .is_some_and(|id| !id.is_empty()),
        "error without request_id: {body}"
    );
    body
}

/// Mints an access token with the test signing secret and the gateway's key id, for claims
/// the gateway would never issue itself (expired, other issuer).
pub fn forge_hs256(claims: &Value, kid: &str, secret: &[u8]) -> String {
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(
        &header,
        claims,
        &jsonwebtoken::EncodingKey::from_secret(secret),
    )
    .expect("encode")
}

/// The decoded payload of a JWT (no verification).
pub fn jwt_payload(token: &str) -> Value {
    use base64::Engine;
    let part = token.split('.').nth(1).expect("JWT has a payload");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .expect("base64url");
    serde_json::from_slice(&bytes).expect("payload JSON")
}

/// The `kid` header of a JWT.
pub fn jwt_kid(token: &str) -> String {
    jsonwebtoken::decode_header(token)
        .expect("header")
        .kid
        .expect("kid")
}

/// The real `sessiongate` binary, started with a config file and environment, ready when it
/// printed its ready line (the addresses are read from it).
pub struct GatewayProcess {
    pub child: tokio::process::Child,
    pub client_url: String,
    pub admin_url: String,
    pub stderr: Arc<std::sync::Mutex<String>>,
}

impl GatewayProcess {
    /// Spawns `sessiongate serve --config <config>` and waits for the ready line.
    pub async fn spawn(config: &std::path::Path, env: &[(&str, &str)]) -> Self {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_sessiongate"));
        command.arg("serve").arg("--config").arg(config);
        for (key, value) in env {
            command.env(key, value);
        }
        Self::spawn_command(command).await
    }

    /// Spawns a prepared command (e.g. `sh -c 'ulimit …; exec sessiongate serve …'`) and waits
    /// for the ready line.
    pub async fn spawn_command(mut command: tokio::process::Command) -> Self {
        use tokio::io::{AsyncBufReadExt, BufReader};
        command
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        let mut child = command.spawn().expect("spawn sessiongate");
        let stderr_text = Arc::new(std::sync::Mutex::new(String::new()));
        let mut stderr = BufReader::new(child.stderr.take().expect("stderr")).lines();
        let sink = stderr_text.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = stderr.next_line().await {
                let mut text = sink.lock().expect("stderr lock");
                text.push_str(&line);
                text.push('\n');
            }
        });
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let ready = loop {
            match stdout.next_line().await.expect("read stdout") {
                Some(line) if line.starts_with("sessiongate ready ") => break line,
                Some(_) => continue,
                None => panic!(
                    "sessiongate exited before it was ready:\n{}",
                    stderr_text.lock().expect("lock")
                ),
            }
        };
        tokio::spawn(async move { while let Ok(Some(_)) = stdout.next_line().await {} });
        let field = |name: &str| {
            ready
                .split_whitespace()
                .find_map(|word| word.strip_prefix(name))
                .unwrap_or_else(|| panic!("{name} in {ready}"))
                .to_owned()
        };
        Self {
            client_url: field("client="),
            admin_url: field("admin="),
            child,
            stderr: stderr_text,
        }
    }

    pub fn admin_api(&self, path: &str) -> String {
        format!(
            "{}/api/admin/v3.0/groups/test-group/apps/{APP_ID}{path}",
            self.admin_url
        )
    }

    pub fn app_api(&self, path: &str) -> String {
        format!("{}/api/client/v2.0/app/{APP_ID}{path}", self.client_url)
    }

    pub fn client_api(&self, path: &str) -> String {
        format!("{}/api/client/v2.0{path}", self.client_url)
    }
}

/// A test whose component (PostgreSQL, Node, Chromium) is not on this machine: fails in CI
/// (`CI=true`), where every component must be present, and says it was skipped elsewhere.
pub fn skip_without(component: &str, test: &str) {
    if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
        panic!("CI=true but {component} is missing: {test} must run in CI");
    }
    println!("SKIPPED {test}: {component} is missing");
}

impl TestGateway {
    /// Stops the gateway and hands back its temp dir (SQLite file included), for a restart
    /// with `start_in`.
    pub async fn stop_keeping_dir(mut self) -> tempfile::TempDir {
        let placeholder = tempfile::tempdir().expect("temp dir");
        let dir = std::mem::replace(&mut self.dir, placeholder);
        self.stop().await;
        dir
    }

    /// Starts a gateway on the SQLite file in `dir` (a restart, possibly with another config).
    pub async fn start_in(dir: tempfile::TempDir, options: Options) -> Self {
        let upstream = EchoUpstream::start().await;
        let db = dir.path().join("sessiongate.db");
        let upstream_url = options
            .upstream_url
            .clone()
            .unwrap_or_else(|| upstream.url());
        let text = config_text(&db, &upstream_url, &options.extra_toml);
        let config: Config = config::from_toml_str(&text, &test_env(&options.env), dir.path())
            .expect("test config is valid");
        let app = App::build(config).await.expect("gateway builds");
        let client_url = format!("http://{}", app.client_addr());
        let admin_url = format!("http://{}", app.admin_addr());
        let state = app.state().clone();
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let done = tokio::spawn(app.run(async move {
            let _ = stop_rx.await;
        }));
        Self {
            client_url,
            admin_url,
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            upstream,
            state,
            dir,
            stop: Some(stop_tx),
            done: Some(done),
        }
    }
}

/// A JWT with exactly this header and payload JSON, HS256-signed with `secret`: for headers
/// `jsonwebtoken::Header` cannot express (`crit: null`, unknown members).
pub fn forge_hs256_raw(header: &Value, claims: &Value, secret: &[u8]) -> String {
    use base64::Engine;
    let b64 = |value: &Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(value.to_string().as_bytes())
    };
    let message = format!("{}.{}", b64(header), b64(claims));
    let signature = jsonwebtoken::crypto::sign(
        message.as_bytes(),
        &jsonwebtoken::EncodingKey::from_secret(secret),
        jsonwebtoken::Algorithm::HS256,
    )
    .expect("HS256 signing");
    format!("{message}.{signature}")
}

/// `SESSIONGATE_TEST_POSTGRES_URL`, or `None` after saying the test was skipped; with
/// `CI=true` a missing URL fails the test instead.
pub fn postgres_url_or_skip() -> Option<String> {
    match std::env::var("SESSIONGATE_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            skip_without("PostgreSQL (SESSIONGATE_TEST_POSTGRES_URL)", "this test");
            None
        }
    }
}

/// Creates a schema with a random name on the PostgreSQL server at `base`; returns a URL whose
/// connections use it, and the name (for `drop_pg_schema`).
pub async fn fresh_pg_schema(base: &str) -> (String, String) {
    use sqlx::Connection;
    let schema = format!("sg_test_{}", sessiongate::ids::object_id());
    let mut conn = sqlx::PgConnection::connect(base)
        .await
        .expect("connect to SESSIONGATE_TEST_POSTGRES_URL");
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&mut conn)
        .await
        .expect("create schema");
    let separator = if base.contains('?') { '&' } else { '?' };
    (
        format!("{base}{separator}options=-c%20search_path%3D{schema}"),
        schema,
    )
}

/// Drops a schema made by `fresh_pg_schema`.
pub async fn drop_pg_schema(base: &str, schema: &str) {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(base).await.expect("connect");
    sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
        .execute(&mut conn)
        .await
        .expect("drop schema");
}

/// One replica: the real binary on `store_url` (a `fresh_pg_schema` URL), named for
/// `pg_stat_activity`, with no signing key of its own (replicas share the generated one).
pub async fn spawn_replica(
    dir: &std::path::Path,
    name: &str,
    store_url: &str,
    upstream: &str,
) -> GatewayProcess {
    spawn_replica_with(dir, name, store_url, upstream, &[]).await
}

/// `spawn_replica` with more environment (config keys as `SESSIONGATE_SECTION__KEY`).
pub async fn spawn_replica_with(
    dir: &std::path::Path,
    name: &str,
    store_url: &str,
    upstream: &str,
    env: &[(&str, &str)],
) -> GatewayProcess {
    let config = dir.join(format!("{name}.toml"));
    let text = format!(
        r#"
[server]
listen = "127.0.0.1:0"
admin_listen = "127.0.0.1:0"
[app]
id = "{APP_ID}"
[store]
url = "{store_url}&application_name={name}"
[upstream]
url = "{upstream}"
"#
    );
    std::fs::write(&config, text).expect("write config");
    let mut all = vec![
        ("SESSIONGATE_ADMIN__API_KEY", ADMIN_KEY),
        ("SESSIONGATE_LOG", "warn"),
    ];
    all.extend_from_slice(env);
    GatewayProcess::spawn(&config, &all).await
}

/// A JSON error body with the value of its `request_id` (random per request) replaced by as
/// many `*`, so answers that must be identical can be compared byte for byte.
pub fn mask_request_id(body: &[u8]) -> Vec<u8> {
    const FIELD: &[u8] = b"\"request_id\":\"";
    let mut masked = body.to_vec();
    if let Some(start) = masked
        .windows(FIELD.len())
        .position(|window| window == FIELD)
        .map(|at| at + FIELD.len())
    {
        for byte in masked[start..].iter_mut().take_while(|b| **b != b'"') {
            *byte = b'*';
        }
    }
    masked
}
