//! Edge behaviour of the real binary: refusal reasons on the access line, a process at its
//! file-descriptor limit, and deadlines on TLS connections.

mod common;
#[path = "support/raw_http.rs"]
mod raw_http;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use common::{ADMIN_KEY, EchoUpstream, GatewayProcess, SIGNING_SECRET};
use raw_http::{BOUND, closed_within_bound};
use serde_json::json;

fn write_config(dir: &Path, upstream: &str, extra: &str) -> std::path::PathBuf {
    let path = dir.join("sessiongate.toml");
    let text = common::config_text(&dir.join("sessiongate.db"), upstream, extra);
    std::fs::write(&path, text).expect("write config");
    path
}

const SECRETS: [(&str, &str); 2] = [
    ("SESSIONGATE_ADMIN__API_KEY", ADMIN_KEY),
    ("SESSIONGATE_TOKENS__SIGNING_KEY", SIGNING_SECRET),
];

/// Waits until the captured stderr has a line containing every one of `parts`.
async fn log_line(gw: &GatewayProcess, parts: &[&str]) -> String {
    let found = tokio::time::timeout(BOUND, async {
        loop {
            let text = gw.stderr.lock().expect("stderr lock").clone();
            if let Some(line) = text
                .lines()
                .find(|line| parts.iter().all(|part| line.contains(part)))
            {
                return line.to_owned();
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    found.unwrap_or_else(|_| {
        panic!(
            "no log line with {parts:?} in:\n{}",
            gw.stderr.lock().expect("lock")
        )
    })
}

#[tokio::test]
async fn every_refused_request_logs_its_reason_on_the_access_line() {
    let upstream = EchoUpstream::start().await;
    let dir = tempfile::tempdir().expect("dir");
    let config = write_config(dir.path(), &upstream.url(), "");
    let gw = GatewayProcess::spawn(&config, &SECRETS).await;
    let http = reqwest::Client::new();

    let login: serde_json::Value = http
        .post(gw.app_api("/auth/providers/anon-user/login"))
        .json(&json!({}))
        .send()
        .await
        .expect("login")
        .json()
        .await
        .expect("login json");
    let access = login["access_token"].as_str().expect("access token");
    let refresh = login["refresh_token"].as_str().expect("refresh token");
    let kid = common::jwt_kid(access);
    let mut claims = common::jwt_payload(access);
    let now = chrono_now();
    claims["iat"] = json!(now - 7200);
    claims["exp"] = json!(now - 3600);
    let expired = common::forge_hs256(&claims, &kid, SIGNING_SECRET.as_bytes());
    let forged = common::forge_hs256(
        &common::jwt_payload(access),
        &kid,
        b"not-the-secret-0123456789abcdef",
    );
    let foreign_kid = common::forge_hs256(
        &common::jwt_payload(access),
        "nope",
        SIGNING_SECRET.as_bytes(),
    );

    let cases: [(&str, Option<String>, &str); 5] = [
        ("/reason/missing", None, "missing_token"),
        ("/reason/malformed", Some("garbage".to_owned()), "malformed"),
        ("/reason/expired", Some(expired), "expired"),
        ("/reason/signature", Some(forged), "bad_signature"),
        ("/reason/kid", Some(foreign_kid), "unknown_key"),
    ];
    for (path, token, reason) in &cases {
        let mut request = http.get(format!("{}{path}", gw.client_url));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("send");
        assert_eq!(response.status(), 401, "{path}");
        let request_id = response.headers()["x-request-id"]
            .to_str()
            .expect("ascii")
            .to_owned();
        let line = log_line(&gw, &[path, "status=401"]).await;
        assert!(line.contains(reason), "{path}: {line}");
        assert!(
            line.contains(&request_id),
            "no request id on the access line: {line}"
        );
    }

    let logout = http
        .delete(gw.client_api("/auth/session"))
        .bearer_auth(refresh)
        .send()
        .await
        .expect("logout");
    assert_eq!(logout.status(), 204);
    let revoked = http
        .get(format!("{}/reason/revoked", gw.client_url))
        .bearer_auth(access)
        .send()
        .await
        .expect("send");
    assert_eq!(revoked.status(), 401);
    let line = log_line(&gw, &["/reason/revoked", "status=401"]).await;
    assert!(line.contains("revoked"), "{line}");
    assert_eq!(upstream.request_count(), 0);
}

fn chrono_now() -> i64 {
    let elapsed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970");
    i64::try_from(elapsed.as_secs()).expect("seconds fit")
}

#[tokio::test]
async fn at_a_low_file_limit_excess_connections_are_shed_without_an_accept_storm() {
    let upstream = EchoUpstream::start().await;
    let dir = tempfile::tempdir().expect("dir");
    let config = write_config(dir.path(), &upstream.url(), "");
    let mut command = tokio::process::Command::new("sh");
    command
        .arg("-c")
        .arg("ulimit -n 64 && exec \"$0\" serve --config \"$1\"")
        .arg(env!("CARGO_BIN_EXE_sessiongate"))
        .arg(&config);
    for (key, value) in SECRETS {
        command.env(key, value);
    }
    let gw = GatewayProcess::spawn_command(command).await;
    let addr: std::net::SocketAddr = gw
        .client_url
        .trim_start_matches("http://")
        .parse()
        .expect("addr");

    // Far more idle connections than 64 descriptors allow.
    let mut held = Vec::new();
    for _ in 0..100 {
        if let Ok(stream) = tokio::net::TcpStream::connect(addr).await {
            held.push(stream);
        }
    }
    // The kernel completes the handshakes; the gateway accepts (and sheds) them as it gets to
    // them: wait until the shedding shows, while the admin listener keeps answering.
    let http = reqwest::Client::new();
    let shed = "sessiongate_connections_shed_total{listener=\"client\"}";
    let metrics = tokio::time::timeout(BOUND, async {
        loop {
            let metrics = http
                .get(format!("{}/metrics", gw.admin_url))
                .send()
                .await
                .expect("the admin listener still answers")
                .text()
                .await
                .expect("metrics");
            if metrics.contains(shed) {
                return metrics;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(metrics.is_ok(), "no connection was shed");
    drop(held);
    let served = tokio::time::timeout(BOUND, async {
        loop {
            match http
                .get(format!("{}/public/after", gw.client_url))
                .send()
                .await
            {
                Ok(response) => return response.status(),
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    })
    .await
    .expect("served again once the connections closed");
    assert_eq!(served, 200);
    let stderr = gw.stderr.lock().expect("lock").clone();
    assert!(
        stderr.matches("accept failed").count() <= 1,
        "accept errors were logged in a loop:\n{stderr}"
    );
}

/// A self-signed certificate for 127.0.0.1 written to `dir`; returns the client config that
/// trusts it.
fn tls_files(dir: &Path) -> Arc<rustls::ClientConfig> {
    let certified =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).expect("certificate");
    std::fs::write(dir.join("cert.pem"), certified.cert.pem()).expect("write cert");
    std::fs::write(dir.join("key.pem"), certified.key_pair.serialize_pem()).expect("write key");
    let mut roots = rustls::RootCertStore::empty();
    roots.add(certified.cert.der().clone()).expect("trust root");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    Arc::new(config)
}

#[tokio::test]
async fn tls_connections_that_stall_in_the_handshake_or_idle_after_it_are_closed() {
    let upstream = EchoUpstream::start().await;
    let dir = tempfile::tempdir().expect("dir");
    let client_config = tls_files(dir.path());
    let extra = format!(
        "[server.tls]\ncert_file = \"{}\"\nkey_file = \"{}\"\n",
        dir.path().join("cert.pem").display(),
        dir.path().join("key.pem").display()
    );
    let config = write_config(dir.path(), &upstream.url(), &extra);
    let mut env = SECRETS.to_vec();
    env.push(("SESSIONGATE_SERVER__HEADER_READ_TIMEOUT", "1s"));
    env.push(("SESSIONGATE_SERVER__IDLE_TIMEOUT", "1s"));
    let gw = GatewayProcess::spawn(&config, &env).await;
    let addr: std::net::SocketAddr = gw
        .client_url
        .trim_start_matches("https://")
        .parse()
        .expect("addr");

    let mut stalled = tokio::net::TcpStream::connect(addr).await.expect("connect");
    assert!(
        closed_within_bound(&mut stalled).await,
        "stalled handshake kept open"
    );

    let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let connector = tokio_rustls::TlsConnector::from(client_config);
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").expect("name");
    let mut tls = connector.connect(name, tcp).await.expect("handshake");
    let ended = tokio::time::timeout(BOUND, async {
        use tokio::io::AsyncReadExt;
        let mut sink = [0u8; 512];
        loop {
            match tls.read(&mut sink).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "an idle TLS connection stayed open");
}
