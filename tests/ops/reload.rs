//! SIGHUP reloads the config of the real binary: a valid config applies live (a route added,
//! the admin key rotated, a TLS certificate swapped while an open connection keeps going), an
//! invalid one is refused with a line naming the key and the running config keeps serving,
//! and a key that needs a restart is named and keeps its running value.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;

use crate::common::{EchoUpstream, GatewayProcess};
use crate::{APP, config_text, sqlite_url, write_config};

/// Longest wait for a reload's log line; a guard against hanging, not a synchronisation.
const GUARD: Duration = Duration::from_secs(30);

/// Sends SIGHUP to the gateway and waits for the log line of that reload (`config reloaded`
/// or `config reload refused`), returning the lines it logged.
async fn hang_up(gateway: &GatewayProcess, reloads_before: usize) -> String {
    let pid = gateway.child.id().expect("gateway runs");
    let status = tokio::process::Command::new("kill")
        .args(["-HUP", &pid.to_string()])
        .status()
        .await
        .expect("run kill");
    assert!(status.success(), "kill -HUP");
    let deadline = tokio::time::Instant::now() + GUARD;
    loop {
        let log = gateway.stderr.lock().expect("lock").clone();
        if count_reloads(&log) > reloads_before {
            // The lines of this reload: everything after the previous reload's last line.
            return log;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no reload line after SIGHUP:\n{log}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn count_reloads(log: &str) -> usize {
    log.matches("config reloaded").count() + log.matches("config reload refused").count()
}

fn reloads(gateway: &GatewayProcess) -> usize {
    count_reloads(&gateway.stderr.lock().expect("lock"))
}

fn admin_users(gateway: &GatewayProcess, key: &str) -> reqwest::RequestBuilder {
    reqwest::Client::new()
        .get(format!(
            "{}/api/admin/v3.0/groups/g/apps/{APP}/users",
            gateway.admin_url
        ))
        .bearer_auth(key)
}

async fn status(request: reqwest::RequestBuilder) -> u16 {
    request.send().await.expect("request").status().as_u16()
}

fn config(db: &str, upstream: &str, admin_key_file: &Path, extra: &str) -> String {
    config_text(
        db,
        &format!(
            "[admin]\napi_key_file = \"{}\"\n{extra}",
            admin_key_file.display()
        ),
    )
    .replace("http://127.0.0.1:9", upstream)
}

#[tokio::test]
async fn sighup_applies_a_valid_config_and_refuses_an_invalid_one() {
    let upstream = EchoUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_url(&dir.path().join("sessiongate.db"));
    let key_file = dir.path().join("admin.key");
    std::fs::write(&key_file, "first-admin-key-0123456789").unwrap();
    let path = write_config(dir.path(), &config(&db, &upstream.url(), &key_file, ""));
    let gateway = GatewayProcess::spawn(&path, &[("NO_COLOR", "1")]).await;
    let http = reqwest::Client::new();
    let fresh = format!("{}/fresh/x", gateway.client_url);
    let build_info = || async {
        let metrics = reqwest::get(format!("{}/metrics", gateway.admin_url))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        metrics
            .lines()
            .find(|line| line.starts_with("sessiongate_build_info{"))
            .unwrap_or_else(|| panic!("no build_info:\n{metrics}"))
            .to_owned()
    };
    let first_build = build_info().await;

    assert_eq!(
        status(http.get(&fresh)).await,
        401,
        "no route yet: token needed"
    );
    assert_eq!(
        status(admin_users(&gateway, "first-admin-key-0123456789")).await,
        200
    );

    // A route added and the admin key rotated, in one reload.
    std::fs::write(&key_file, "second-admin-key-0123456789").unwrap();
    std::fs::write(
        &path,
        config(
            &db,
            &upstream.url(),
            &key_file,
            "[[routes]]\nprefix = \"/fresh\"\nauth = \"none\"\n",
        ),
    )
    .unwrap();
    let log = hang_up(&gateway, reloads(&gateway)).await;
    assert!(log.contains("config reloaded"), "{log}");
    assert_eq!(status(http.get(&fresh)).await, 200, "the new route serves");
    let second_build = build_info().await;
    assert_ne!(
        first_build, second_build,
        "the config hash follows the reload"
    );
    assert_eq!(
        status(admin_users(&gateway, "first-admin-key-0123456789")).await,
        401,
        "the old admin key is refused"
    );
    assert_eq!(
        status(admin_users(&gateway, "second-admin-key-0123456789")).await,
        200
    );

    // An invalid config: refused, naming the key; everything keeps serving as before.
    std::fs::write(
        &path,
        config(
            &db,
            &upstream.url(),
            &key_file,
            "[tokens]\nrefresh_ttl = \"1m\"\n",
        ),
    )
    .unwrap();
    let before = reloads(&gateway);
    let log = hang_up(&gateway, before).await;
    let refused = log
        .lines()
        .find(|line| line.contains("config reload refused"))
        .unwrap_or_else(|| panic!("no refusal line:\n{log}"));
    assert!(refused.contains("tokens.refresh_ttl"), "{refused}");
    assert_eq!(
        status(http.get(&fresh)).await,
        200,
        "old config still serves"
    );
    assert_eq!(
        status(admin_users(&gateway, "second-admin-key-0123456789")).await,
        200
    );

    // A key that needs a restart: named, and the running value stays.
    let moved = config(
        &db,
        &upstream.url(),
        &key_file,
        "[[routes]]\nprefix = \"/fresh\"\nauth = \"none\"\n",
    )
    .replace(
        "admin_listen = \"127.0.0.1:0\"",
        "admin_listen = \"127.0.0.1:1\"",
    );
    std::fs::write(&path, moved).unwrap();
    let log = hang_up(&gateway, reloads(&gateway)).await;
    assert!(
        log.lines()
            .any(|line| line.contains("needs a restart") && line.contains("server.admin_listen")),
        "{log}"
    );
    assert_eq!(
        status(admin_users(&gateway, "second-admin-key-0123456789")).await,
        200,
        "the admin listener did not move"
    );

    let metrics = http
        .get(format!("{}/metrics", gateway.admin_url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("sessiongate_config_reloads_total{result=\"ok\"} 2"),
        "{metrics}"
    );
    assert!(
        metrics.contains("sessiongate_config_reloads_total{result=\"failed\"} 1"),
        "{metrics}"
    );
}

/// A self-signed certificate for localhost: (certificate PEM, key PEM, certificate DER).
fn certificate() -> (String, String, CertificateDer<'static>) {
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    (
        made.cert.pem(),
        made.key_pair.serialize_pem(),
        made.cert.der().clone(),
    )
}

/// A TLS connection to `addr` that trusts `trusted`; returns the certificate the server
/// presented and an HTTP/1.1 sender on the connection.
async fn connect(
    addr: &str,
    trusted: &[CertificateDer<'static>],
) -> (
    CertificateDer<'static>,
    hyper::client::conn::http1::SendRequest<Empty<Bytes>>,
) {
    let mut roots = rustls::RootCertStore::empty();
    for cert in trusted {
        roots.add(cert.clone()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let tcp = TcpStream::connect(addr).await.unwrap();
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .expect("TLS handshake");
    let presented = tls.get_ref().1.peer_certificates().unwrap()[0].clone();
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .unwrap();
    tokio::spawn(connection);
    (presented, sender)
}

async fn get_public(
    sender: &mut hyper::client::conn::http1::SendRequest<Empty<Bytes>>,
) -> (u16, Bytes) {
    let request = http::Request::get("/public/tls")
        .header("host", "localhost")
        .body(Empty::new())
        .unwrap();
    let response = sender.send_request(request).await.expect("response");
    let status = response.status().as_u16();
    (
        status,
        response.into_body().collect().await.unwrap().to_bytes(),
    )
}

#[tokio::test]
async fn a_certificate_swapped_on_sighup_serves_new_handshakes_and_open_ones_keep_going() {
    let upstream = EchoUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_url(&dir.path().join("sessiongate.db"));
    let key_file = dir.path().join("admin.key");
    std::fs::write(&key_file, "tls-admin-key-0123456789").unwrap();
    let (first_pem, first_key, first_der) = certificate();
    let (second_pem, second_key, second_der) = certificate();
    let cert_path = dir.path().join("cert.pem");
    let key_path = dir.path().join("key.pem");
    std::fs::write(&cert_path, &first_pem).unwrap();
    std::fs::write(&key_path, &first_key).unwrap();
    let text = config(&db, &upstream.url(), &key_file, "").replace(
        "[app]",
        &format!(
            "[server.tls]\ncert_file = \"{}\"\nkey_file = \"{}\"\n\n[app]",
            cert_path.display(),
            key_path.display()
        ),
    );
    let text = format!("{text}\n[[routes]]\nprefix = \"/public\"\nauth = \"none\"\n");
    let path = write_config(dir.path(), &text);
    let gateway = GatewayProcess::spawn(&path, &[("NO_COLOR", "1")]).await;
    let addr = gateway
        .client_url
        .strip_prefix("https://")
        .expect("TLS listener")
        .to_owned();
    let trusted = [first_der.clone(), second_der.clone()];

    let (presented, mut open) = connect(&addr, &trusted).await;
    assert_eq!(presented, first_der);
    assert_eq!(get_public(&mut open).await.0, 200);

    // A key that does not fit the certificate: refused, the first certificate stays.
    std::fs::write(&cert_path, &second_pem).unwrap();
    let log = hang_up(&gateway, reloads(&gateway)).await;
    assert!(
        log.lines()
            .any(|line| line.contains("config reload refused") && line.contains("server.tls")),
        "{log}"
    );
    assert_eq!(connect(&addr, &trusted).await.0, first_der);

    std::fs::write(&key_path, &second_key).unwrap();
    let log = hang_up(&gateway, reloads(&gateway)).await;
    assert!(log.contains("config reloaded"), "{log}");
    let (presented, mut fresh) = connect(&addr, &trusted).await;
    assert_eq!(
        presented, second_der,
        "new handshakes get the new certificate"
    );
    assert_eq!(get_public(&mut fresh).await.0, 200);
    let (status, body) = get_public(&mut open).await;
    assert_eq!(
        status, 200,
        "the connection opened before the swap keeps going"
    );
    assert!(!body.is_empty());
}
