//! What an operator sees, from the real binary: the access line of each request (JSON logs,
//! parsed) and the `/metrics` series for build, process, upstream latency and the hash pool.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{ADMIN_KEY, EchoUpstream, GatewayProcess, SIGNING_SECRET};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// Longest wait for a log line or a metric to show.
const BOUND: Duration = Duration::from_secs(10);

const SECRETS: [(&str, &str); 2] = [
    ("SESSIONGATE_ADMIN__API_KEY", ADMIN_KEY),
    ("SESSIONGATE_TOKENS__SIGNING_KEY", SIGNING_SECRET),
];

/// A config with JSON logs in `dir`, in front of `upstream`.
fn write_config(dir: &Path, upstream: &str) -> PathBuf {
    let path = dir.join("sessiongate.toml");
    let extra = "[log]\nformat = \"json\"\nlevel = \"info\"\n";
    let text = common::config_text(&dir.join("sessiongate.db"), upstream, extra);
    std::fs::write(&path, text).expect("write config");
    path
}

async fn spawn(dir: &Path, upstream: &str, env: &[(&str, &str)]) -> GatewayProcess {
    let config = write_config(dir, upstream);
    let mut all: Vec<(&str, &str)> = SECRETS.to_vec();
    all.extend_from_slice(env);
    // The config's level, whatever the environment running the tests says.
    all.push(("SESSIONGATE_LOG", "info"));
    GatewayProcess::spawn(&config, &all).await
}

/// Every stderr line of the gateway that belongs to request `id` (its span), parsed as JSON.
fn lines_of(gw: &GatewayProcess, id: &str) -> Vec<Value> {
    let text = gw.stderr.lock().expect("stderr lock").clone();
    text.lines()
        .map(|line| {
            serde_json::from_str::<Value>(line)
                .unwrap_or_else(|err| panic!("log line is not JSON ({err}): {line}"))
        })
        .filter(|line| line["span"]["id"] == id)
        .collect()
}

/// The one access line of request `id`, once it is written; fails if there are two.
async fn access_line(gw: &GatewayProcess, id: &str) -> Value {
    let found = tokio::time::timeout(BOUND, async {
        loop {
            let access: Vec<Value> = lines_of(gw, id)
                .into_iter()
                .filter(|line| line["target"] == "sessiongate::access")
                .collect();
            match access.len() {
                0 => tokio::time::sleep(Duration::from_millis(20)).await,
                1 => return access.into_iter().next().expect("one line"),
                _ => panic!("request {id} has {} access lines: {access:?}", access.len()),
            }
        }
    })
    .await;
    found.unwrap_or_else(|_| {
        panic!(
            "no access line for {id} in:\n{}",
            gw.stderr.lock().expect("lock")
        )
    })
}

fn request_id(response: &reqwest::Response) -> String {
    response.headers()["x-request-id"]
        .to_str()
        .expect("ascii request id")
        .to_owned()
}

async fn login_anon(http: &reqwest::Client, gw: &GatewayProcess) -> Value {
    let response = http
        .post(gw.app_api("/auth/providers/anon-user/login"))
        .json(&json!({}))
        .send()
        .await
        .expect("login");
    assert_eq!(response.status(), 200, "anonymous login");
    response.json().await.expect("login json")
}

/// A port nothing listens on (bound, then released).
async fn closed_port_url() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    format!("http://{addr}")
}

#[tokio::test]
async fn a_proxied_request_logs_its_route_client_and_the_upstreams_status_and_time() {
    let upstream = EchoUpstream::start().await;
    let dir = tempfile::tempdir().expect("dir");
    let gw = spawn(dir.path(), &upstream.url(), &[]).await;
    let http = reqwest::Client::new();
    let login = login_anon(&http, &gw).await;
    let token = login["access_token"].as_str().expect("access token");

    let ok = http
        .get(format!("{}/items/7?x=1", gw.client_url))
        .bearer_auth(token)
        .header("user-agent", "observe-test/1.0")
        .send()
        .await
        .expect("proxied");
    assert_eq!(ok.status(), 200);
    let line = access_line(&gw, &request_id(&ok)).await;
    assert_eq!(line["level"], "INFO", "{line}");
    assert_eq!(line["class"], "proxy", "{line}");
    assert_eq!(line["route"], "/", "{line}");
    assert_eq!(line["method"], "GET", "{line}");
    assert_eq!(line["path"], "/items/7", "{line}");
    assert_eq!(line["status"], 200, "{line}");
    assert_eq!(line["upstream_status"], 200, "{line}");
    assert!(line["upstream_ms"].is_u64(), "{line}");
    assert!(line["latency_ms"].is_u64(), "{line}");
    let gateway_us = line["latency_us"].as_u64().expect("latency_us");
    assert!(
        gateway_us / 1000 >= line["upstream_ms"].as_u64().expect("upstream_ms"),
        "the gateway's time includes the upstream's: {line}"
    );
    assert_eq!(line["client"], "127.0.0.1", "{line}");
    assert_eq!(line["ua"], "observe-test/1.0", "{line}");
    assert_eq!(line["user_id"], login["user_id"], "{line}");
    assert_eq!(line["reason"], "-", "{line}");
    assert!(line.get("error").is_none(), "{line}");

    // The upstream's own error status is its answer, not a gateway failure.
    let upstream_503 = http
        .get(format!("{}/status/503", gw.client_url))
        .bearer_auth(token)
        .send()
        .await
        .expect("proxied");
    assert_eq!(upstream_503.status(), 503);
    let line = access_line(&gw, &request_id(&upstream_503)).await;
    assert_eq!(line["level"], "INFO", "{line}");
    assert_eq!(line["upstream_status"], 503, "{line}");
    assert!(line.get("error").is_none(), "{line}");

    // A route of its own is named by its prefix; no user on an open route.
    let public = http
        .get(format!("{}/public/page", gw.client_url))
        .send()
        .await
        .expect("proxied");
    assert_eq!(public.status(), 200);
    let line = access_line(&gw, &request_id(&public)).await;
    assert_eq!(line["route"], "/public", "{line}");
    assert_eq!(line["user_id"], "-", "{line}");
    assert_eq!(
        line["ua"], "-",
        "reqwest sends no user agent by default: {line}"
    );
}

#[tokio::test]
async fn an_unreachable_upstream_is_one_warn_access_line_carrying_the_error() {
    let dir = tempfile::tempdir().expect("dir");
    let gw = spawn(dir.path(), &closed_port_url().await, &[]).await;
    let http = reqwest::Client::new();

    let response = http
        .get(format!("{}/public/down", gw.client_url))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 502);
    let id = request_id(&response);
    let line = access_line(&gw, &id).await;
    assert_eq!(line["level"], "WARN", "{line}");
    assert_eq!(line["status"], 502, "{line}");
    assert_eq!(line["route"], "/public", "{line}");
    let error = line["error"].as_str().expect("error on the access line");
    assert!(error.starts_with("upstream unavailable"), "{line}");
    assert!(line.get("upstream_status").is_none(), "no answer: {line}");
    assert!(
        line["upstream_ms"].is_u64(),
        "time until the failure: {line}"
    );

    // Nothing else was logged for this request: the error is not an orphan line.
    let lines = lines_of(&gw, &id);
    assert_eq!(lines.len(), 1, "{lines:?}");
}

#[tokio::test]
async fn refusals_name_their_reason_and_refresh_and_logout_name_the_user() {
    let upstream = EchoUpstream::start().await;
    let dir = tempfile::tempdir().expect("dir");
    let gw = spawn(dir.path(), &upstream.url(), &[]).await;
    let http = reqwest::Client::new();
    let login = login_anon(&http, &gw).await;
    let refresh_token = login["refresh_token"].as_str().expect("refresh token");

    let refused = http
        .get(format!("{}/private", gw.client_url))
        .send()
        .await
        .expect("send");
    assert_eq!(refused.status(), 401);
    let line = access_line(&gw, &request_id(&refused)).await;
    assert_eq!(line["reason"], "missing_token", "{line}");
    assert_eq!(line["status"], 401, "{line}");
    assert_eq!(line["route"], "/", "{line}");
    assert!(line.get("upstream_status").is_none(), "{line}");
    assert!(
        line.get("upstream_ms").is_none(),
        "never sent upstream: {line}"
    );
    assert_eq!(upstream.request_count(), 0);

    let refreshed = http
        .post(gw.client_api("/auth/session"))
        .bearer_auth(refresh_token)
        .send()
        .await
        .expect("refresh");
    assert_eq!(refreshed.status(), 201);
    let line = access_line(&gw, &request_id(&refreshed)).await;
    assert_eq!(line["class"], "client_api", "{line}");
    assert_eq!(line["route"], "session", "{line}");
    assert_eq!(line["user_id"], login["user_id"], "{line}");

    let logout = http
        .delete(gw.client_api("/auth/session"))
        .bearer_auth(refresh_token)
        .send()
        .await
        .expect("logout");
    assert_eq!(logout.status(), 204);
    let line = access_line(&gw, &request_id(&logout)).await;
    assert_eq!(line["route"], "session", "{line}");
    assert_eq!(line["user_id"], login["user_id"], "{line}");

    // The dead refresh token: refused, and no user to name.
    let again = http
        .post(gw.client_api("/auth/session"))
        .bearer_auth(refresh_token)
        .send()
        .await
        .expect("refresh");
    assert_eq!(again.status(), 401);
    let line = access_line(&gw, &request_id(&again)).await;
    assert_eq!(line["user_id"], "-", "{line}");
}

#[tokio::test]
async fn the_user_agent_is_cut_to_128_bytes_without_control_characters() {
    let upstream = EchoUpstream::start().await;
    let dir = tempfile::tempdir().expect("dir");
    let gw = spawn(dir.path(), &upstream.url(), &[]).await;
    let http = reqwest::Client::new();

    let agent = format!("Mozilla/5.0\t(evil){}", "x".repeat(300));
    let response = http
        .get(format!("{}/public/ua", gw.client_url))
        .header("user-agent", agent.as_str())
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 200);
    let line = access_line(&gw, &request_id(&response)).await;
    let logged = line["ua"].as_str().expect("ua");
    let expected: String = agent[..128].chars().filter(|c| *c != '\t').collect();
    assert_eq!(logged, expected, "{line}");
}

#[tokio::test]
async fn the_client_comes_from_x_forwarded_for_only_when_the_peer_is_trusted() {
    let upstream = EchoUpstream::start().await;
    let dir = tempfile::tempdir().expect("dir");
    let gw = spawn(
        dir.path(),
        &upstream.url(),
        &[("SESSIONGATE_SERVER__TRUSTED_PROXIES", "127.0.0.2/32")],
    )
    .await;
    let url = format!("{}/public/who", gw.client_url);

    // From 127.0.0.1, not a trusted proxy: its X-Forwarded-For is its own claim.
    let direct = reqwest::Client::new()
        .get(&url)
        .header("x-forwarded-for", "203.0.113.9")
        .send()
        .await
        .expect("send");
    assert_eq!(direct.status(), 200);
    let line = access_line(&gw, &request_id(&direct)).await;
    assert_eq!(line["client"], "127.0.0.1", "{line}");

    // From 127.0.0.2, the trusted proxy: the hop before it is the client.
    let via_proxy = reqwest::Client::builder()
        .local_address(std::net::IpAddr::from([127, 0, 0, 2]))
        .build()
        .expect("client bound to 127.0.0.2");
    let proxied = via_proxy
        .get(&url)
        .header("x-forwarded-for", "198.51.100.1, 203.0.113.9")
        .send()
        .await
        .expect("send");
    assert_eq!(proxied.status(), 200);
    let line = access_line(&gw, &request_id(&proxied)).await;
    assert_eq!(line["client"], "203.0.113.9", "{line}");
}

/// `name{labels} value` lines of a scrape whose name and labels contain every one of `parts`;
/// the values.
fn samples(text: &str, name: &str, parts: &[&str]) -> Vec<f64> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter(|line| {
            line.split(['{', ' '])
                .next()
                .is_some_and(|sample| sample == name)
        })
        .filter(|line| parts.iter().all(|part| line.contains(part)))
        .filter_map(|line| line.rsplit(' ').next()?.parse().ok())
        .collect()
}

async fn scrape(http: &reqwest::Client, gw: &GatewayProcess) -> String {
    let response = http
        .get(format!("{}/metrics", gw.admin_url))
        .send()
        .await
        .expect("metrics");
    assert_eq!(response.status(), 200);
    response.text().await.expect("metrics text")
}

#[tokio::test]
async fn metrics_show_the_build_the_process_the_upstream_and_the_hash_pool() {
    let upstream = EchoUpstream::start().await;
    let dir = tempfile::tempdir().expect("dir");
    let gw = spawn(dir.path(), &upstream.url(), &[]).await;
    let http = reqwest::Client::new();

    // The config hash is the start of `config check --format toml | sha256sum`.
    let check = tokio::process::Command::new(env!("CARGO_BIN_EXE_sessiongate"))
        .args(["config", "check", "--format", "toml", "--config"])
        .arg(dir.path().join("sessiongate.toml"))
        .envs(SECRETS)
        .output()
        .await
        .expect("config check");
    assert!(check.status.success(), "{check:?}");
    let digest = hex::encode(Sha256::digest(&check.stdout));
    let text = scrape(&http, &gw).await;
    let build_info = format!(
        "sessiongate_build_info{{version=\"{}\",config_hash=\"{}\"}} 1",
        env!("CARGO_PKG_VERSION"),
        &digest[..12]
    );
    assert!(text.contains(&build_info), "{build_info} not in:\n{text}");
    for result in ["ok", "failed"] {
        let label = format!("result=\"{result}\"");
        assert_eq!(
            samples(&text, "sessiongate_config_reloads_total", &[&label]),
            [0.0],
            "{text}"
        );
    }

    // Process metrics, read at the scrape.
    for name in [
        "process_resident_memory_bytes",
        "process_open_fds",
        "process_max_fds",
        "process_threads",
    ] {
        let values = samples(&text, name, &[]);
        assert!(values.len() == 1 && values[0] > 0.0, "{name}: {values:?}");
    }
    assert_eq!(samples(&text, "process_cpu_seconds_total", &[]).len(), 1);

    // The upstream's latency, by outcome.
    let login = login_anon(&http, &gw).await;
    let token = login["access_token"].as_str().expect("token");
    for path in ["/a", "/status/404"] {
        let response = http
            .get(format!("{}{path}", gw.client_url))
            .bearer_auth(token)
            .send()
            .await
            .expect("proxied");
        assert!(response.status() == 200 || response.status() == 404);
    }

    // The hash pool: a registration hashes, a login verifies.
    let email = "ada@example.com";
    let password = "correct-horse";
    let register = http
        .post(gw.app_api("/auth/providers/local-userpass/register"))
        .json(&json!({ "email": email, "password": password }))
        .send()
        .await
        .expect("register");
    assert_eq!(register.status(), 201);
    let login = http
        .post(gw.app_api("/auth/providers/local-userpass/login"))
        .json(&json!({ "username": email, "password": password }))
        .send()
        .await
        .expect("login");
    assert_eq!(login.status(), 200);

    let text = scrape(&http, &gw).await;
    let upstream_count = |outcome: &str| {
        samples(
            &text,
            "sessiongate_upstream_duration_seconds_count",
            &[&format!("outcome=\"{outcome}\"")],
        )
    };
    assert_eq!(upstream_count("2xx"), [1.0], "{text}");
    assert_eq!(upstream_count("4xx"), [1.0], "{text}");
    let inf_bucket = samples(
        &text,
        "sessiongate_upstream_duration_seconds_bucket",
        &["outcome=\"2xx\"", "le=\"+Inf\""],
    );
    assert_eq!(inf_bucket, [1.0], "{text}");
    assert_eq!(
        samples(&text, "sessiongate_hash_pool_wait_seconds_count", &[]),
        [2.0],
        "one hash at registration, one verification at login: {text}"
    );
    assert_eq!(
        samples(&text, "sessiongate_hash_pool_queue_depth", &[]),
        [0.0],
        "nothing waits once the logins are answered: {text}"
    );
}
