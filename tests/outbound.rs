//! Outbound TLS with a private CA made here (rcgen), against real TLS servers (tokio-rustls) on
//! port 0: an https upstream is reached with `outbound.ca_file` and refused (502) without it;
//! an upstream that requires a client certificate gets ours (mutual TLS) only when it is
//! configured; a custom-function webhook over https trusts the same CA and never sees the
//! upstream's client certificate; the system store is honoured (`SSL_CERT_FILE`, real binary);
//! and `config check` refuses each bad file naming its key.

mod common;

use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use common::{GatewayProcess, Options, TestGateway, assert_error};
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};
use rustls::RootCertStore;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::WebPkiClientVerifier;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::sync::oneshot;
use tokio_rustls::TlsAcceptor;

// ---------------------------------------------------------------------------------------------
// A private CA and the certificates it signs, as PEM files in a temp dir

struct Pki {
    dir: tempfile::TempDir,
    ca: rcgen::Certificate,
    ca_key: KeyPair,
    ca_file: PathBuf,
}

/// A certificate signed by the test CA, with its key, in memory and on disk.
struct Leaf {
    der: CertificateDer<'static>,
    key_der: Vec<u8>,
    cert_file: PathBuf,
    key_file: PathBuf,
}

impl Pki {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let ca_key = KeyPair::generate().expect("CA key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params
            .distinguished_name
            .push(DnType::CommonName, "sessiongate test CA");
        let ca = params.self_signed(&ca_key).expect("CA certificate");
        let ca_file = dir.path().join("ca.pem");
        std::fs::write(&ca_file, ca.pem()).expect("write CA");
        Self {
            dir,
            ca,
            ca_key,
            ca_file,
        }
    }

    /// A server certificate for 127.0.0.1, or a client certificate named `name`.
    fn leaf(&self, name: &str, client: bool) -> Leaf {
        let key = KeyPair::generate().expect("leaf key");
        let sans = if client {
            Vec::new()
        } else {
            vec!["127.0.0.1".to_owned()]
        };
        let mut params = CertificateParams::new(sans).expect("leaf params");
        params.distinguished_name.push(DnType::CommonName, name);
        params.extended_key_usages = vec![if client {
            ExtendedKeyUsagePurpose::ClientAuth
        } else {
            ExtendedKeyUsagePurpose::ServerAuth
        }];
        let cert = params
            .signed_by(&key, &self.ca, &self.ca_key)
            .expect("signed leaf");
        let cert_file = self.dir.path().join(format!("{name}.crt"));
        let key_file = self.dir.path().join(format!("{name}.key"));
        std::fs::write(&cert_file, cert.pem()).expect("write cert");
        std::fs::write(&key_file, key.serialize_pem()).expect("write key");
        Leaf {
            der: cert.der().clone(),
            key_der: key.serialize_der(),
            cert_file,
            key_file,
        }
    }

    fn roots(&self) -> Arc<RootCertStore> {
        let mut roots = RootCertStore::empty();
        roots.add(self.ca.der().clone()).expect("CA as root");
        Arc::new(roots)
    }
}

fn toml_path(path: &Path) -> String {
    path.display().to_string()
}

fn fingerprint(der: &[u8]) -> String {
    hex::encode(Sha256::digest(der))
}

// ---------------------------------------------------------------------------------------------
// A TLS server on port 0: answers every request with `reply` plus the path and the SHA-256 of
// the client certificate it was shown (null: none)

#[derive(Clone, Copy, PartialEq)]
enum ClientAuth {
    None,
    /// A client certificate signed by the test CA is asked for but not required.
    Optional,
    Required,
}

struct TlsServer {
    url: String,
    /// One entry per request served: the client certificate's fingerprint, if any.
    seen: Arc<Mutex<Vec<Option<String>>>>,
    _stop: oneshot::Sender<()>,
}

impl TlsServer {
    async fn start(pki: &Pki, cert: &Leaf, auth: ClientAuth, reply: Value) -> Self {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .expect("versions");
        let builder = match auth {
            ClientAuth::None => builder.with_no_client_auth(),
            ClientAuth::Optional | ClientAuth::Required => {
                let verifier =
                    WebPkiClientVerifier::builder_with_provider(pki.roots(), provider.clone());
                let verifier = if auth == ClientAuth::Optional {
                    verifier.allow_unauthenticated()
                } else {
                    verifier
                };
                builder.with_client_cert_verifier(verifier.build().expect("client verifier"))
            }
        };
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(cert.key_der.clone()));
        let config = builder
            .with_single_cert(vec![cert.der.clone()], key)
            .expect("server certificate");
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind TLS server");
        let url = format!("https://{}", listener.local_addr().expect("addr"));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (stop_tx, mut stop_rx) = oneshot::channel::<()>();
        let record = seen.clone();
        tokio::spawn(async move {
            loop {
                let (stream, _) = tokio::select! {
                    accepted = listener.accept() => match accepted { Ok(pair) => pair, Err(_) => continue },
                    _ = &mut stop_rx => return,
                };
                let (acceptor, record, reply) = (acceptor.clone(), record.clone(), reply.clone());
                tokio::spawn(async move {
                    // A failed handshake (untrusted server, missing client certificate) ends
                    // here; the gateway sees it as a TLS error.
                    let Ok(tls) = acceptor.accept(stream).await else {
                        return;
                    };
                    let client_cert = tls
                        .get_ref()
                        .1
                        .peer_certificates()
                        .and_then(|certs| certs.first())
                        .map(|cert| fingerprint(cert));
                    let service = service_fn(move |request: Request<Incoming>| {
                        record
                            .lock()
                            .expect("record lock")
                            .push(client_cert.clone());
                        let mut answer = reply.clone();
                        answer["path"] = json!(request.uri().path());
                        answer["client_cert"] = json!(client_cert);
                        let mut response =
                            Response::new(Full::new(Bytes::from(answer.to_string())));
                        response.headers_mut().insert(
                            http::header::CONTENT_TYPE,
                            http::HeaderValue::from_static("application/json"),
                        );
                        async move { Ok::<_, Infallible>(response) }
                    });
                    let _ = auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(tls), service)
                        .await;
                });
            }
        });
        Self {
            url,
            seen,
            _stop: stop_tx,
        }
    }

    fn seen(&self) -> Vec<Option<String>> {
        self.seen.lock().expect("record lock").clone()
    }
}

fn ca_toml(pki: &Pki) -> String {
    format!("[outbound]\nca_file = \"{}\"\n", toml_path(&pki.ca_file))
}

/// The client certificate for the upstream, through the environment (the test config's
/// `[upstream]` table is already written).
fn with_client_cert(options: Options, leaf: &Leaf) -> Options {
    options
        .env(
            "SESSIONGATE_UPSTREAM__CLIENT_CERT_FILE",
            &toml_path(&leaf.cert_file),
        )
        .env(
            "SESSIONGATE_UPSTREAM__CLIENT_KEY_FILE",
            &toml_path(&leaf.key_file),
        )
}

// ---------------------------------------------------------------------------------------------
// The upstream

#[tokio::test]
async fn a_private_ca_upstream_is_reached_with_outbound_ca_file_and_refused_without() {
    let pki = Pki::new();
    let upstream = TlsServer::start(
        &pki,
        &pki.leaf("upstream", false),
        ClientAuth::None,
        json!({}),
    )
    .await;

    let trusting = TestGateway::start_with(
        Options::default()
            .upstream(&upstream.url)
            .toml(&ca_toml(&pki)),
    )
    .await;
    let response = trusting
        .http
        .get(trusting.url("/public/hello"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["path"], "/public/hello");
    assert_eq!(
        body["client_cert"],
        Value::Null,
        "no client certificate set"
    );

    let untrusting = TestGateway::start_with(Options::default().upstream(&upstream.url)).await;
    let response = untrusting
        .http
        .get(untrusting.url("/public/hello"))
        .send()
        .await
        .unwrap();
    assert_error(response, 502, "UpstreamUnavailable").await;
    assert_eq!(
        upstream.seen().len(),
        1,
        "the untrusting gateway never got past the handshake"
    );
}

#[tokio::test]
async fn an_upstream_requiring_a_client_certificate_gets_ours_only_when_configured() {
    let pki = Pki::new();
    let client = pki.leaf("gateway-client", true);
    let upstream = TlsServer::start(
        &pki,
        &pki.leaf("upstream", false),
        ClientAuth::Required,
        json!({}),
    )
    .await;
    let base = || {
        Options::default()
            .upstream(&upstream.url)
            .toml(&ca_toml(&pki))
    };

    let with_cert = TestGateway::start_with(with_client_cert(base(), &client)).await;
    let login = with_cert.login_anon().await;
    let response = with_cert
        .get_upstream("/api/items", &login.access_token)
        .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["path"], "/api/items");
    assert_eq!(
        body["client_cert"],
        json!(fingerprint(&client.der)),
        "the upstream saw the configured certificate"
    );

    let without_cert = TestGateway::start_with(base()).await;
    let login = without_cert.login_anon().await;
    let response = without_cert
        .get_upstream("/api/items", &login.access_token)
        .await;
    assert_error(response, 502, "UpstreamUnavailable").await;
    assert_eq!(
        upstream.seen(),
        vec![Some(fingerprint(&client.der))],
        "only the request with a certificate was served"
    );
}

// ---------------------------------------------------------------------------------------------
// Webhooks

async fn custom_function_login(gw: &TestGateway) -> reqwest::Response {
    gw.http
        .post(gw.app_api("/auth/providers/custom-function/login"))
        .json(&json!({"customerId": "42"}))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_custom_function_webhook_over_https_trusts_the_private_ca_without_our_client_cert() {
    let pki = Pki::new();
    // The webhook asks for a client certificate but does not require one: it records whether
    // the gateway offered the upstream's.
    let webhook = TlsServer::start(
        &pki,
        &pki.leaf("webhook", false),
        ClientAuth::Optional,
        json!({"id": "cust-42"}),
    )
    .await;
    let client = pki.leaf("gateway-client", true);
    let provider = format!(
        "[providers.custom_function]\nenabled = true\nurl = \"{}/login\"\n",
        webhook.url
    );

    let trusting = TestGateway::start_with(with_client_cert(
        Options::default().toml(&ca_toml(&pki)).toml(&provider),
        &client,
    ))
    .await;
    let response = custom_function_login(&trusting).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert!(body["access_token"].is_string(), "{body}");
    assert_eq!(
        webhook.seen(),
        vec![None],
        "the upstream's client certificate is not shown to a webhook"
    );

    let untrusting = TestGateway::start_with(Options::default().toml(&provider)).await;
    assert_error(
        custom_function_login(&untrusting).await,
        502,
        "UpstreamUnavailable",
    )
    .await;
    assert_eq!(webhook.seen().len(), 1, "no request over an untrusted TLS");
}

// ---------------------------------------------------------------------------------------------
// The real binary: the system store, and `config check`

const SECRETS: [(&str, &str); 2] = [
    ("SESSIONGATE_ADMIN__API_KEY", common::ADMIN_KEY),
    ("SESSIONGATE_TOKENS__SIGNING_KEY", common::SIGNING_SECRET),
];

fn write_config(dir: &Path, upstream: &str, extra: &str) -> PathBuf {
    let path = dir.join("sessiongate.toml");
    let text = common::config_text(&dir.join("sessiongate.db"), upstream, extra);
    std::fs::write(&path, text).expect("write config");
    path
}

#[tokio::test]
async fn the_system_certificate_store_is_trusted_without_outbound_ca_file() {
    let pki = Pki::new();
    let upstream = TlsServer::start(
        &pki,
        &pki.leaf("upstream", false),
        ClientAuth::None,
        json!({}),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &upstream.url, "");
    // SSL_CERT_FILE (without SSL_CERT_DIR) is the system store for this process: the private
    // CA is "installed" there.
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_sessiongate"));
    command
        .args(["serve", "--config"])
        .arg(&config)
        .envs(SECRETS)
        .env("SSL_CERT_FILE", &pki.ca_file)
        .env_remove("SSL_CERT_DIR");
    let gw = GatewayProcess::spawn_command(command).await;
    let response = reqwest::get(format!("{}/public/system", gw.client_url))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["path"], "/public/system");
}

#[tokio::test]
async fn an_untrusted_upstream_certificate_is_a_502_and_a_log_line_naming_it() {
    let pki = Pki::new();
    let upstream = TlsServer::start(
        &pki,
        &pki.leaf("upstream", false),
        ClientAuth::None,
        json!({}),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &upstream.url, "");
    let gw = GatewayProcess::spawn(&config, &SECRETS).await;
    let response = reqwest::get(format!("{}/public/untrusted", gw.client_url))
        .await
        .unwrap();
    assert_error(response, 502, "UpstreamUnavailable").await;
    // The request's access line carries the cause; it is written before the answer, but the
    // reader task may not have copied it yet.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let stderr = gw.stderr.lock().expect("stderr lock").clone();
        if let Some(line) = stderr
            .lines()
            .find(|line| line.contains("sessiongate::access"))
        {
            assert!(
                line.contains("invalid peer certificate: UnknownIssuer"),
                "{stderr}"
            );
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no upstream error logged:\n{stderr}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(upstream.seen().is_empty());
}

/// `sessiongate config check --config CONFIG` with a clean `SESSIONGATE_*` environment.
async fn config_check(config: &Path, env: &[(&str, &str)]) -> std::process::Output {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_sessiongate"));
    command.args(["config", "check", "--config"]).arg(config);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("SESSIONGATE_") {
            command.env_remove(name);
        }
    }
    // The system store as the machine has it, unless a case names SSL_CERT_FILE.
    if env.iter().any(|(name, _)| *name == "SSL_CERT_FILE") {
        command.env_remove("SSL_CERT_DIR");
    }
    command.envs(SECRETS).envs(env.iter().copied());
    command.output().await.expect("run config check")
}

#[tokio::test]
async fn config_check_refuses_each_bad_outbound_file_naming_its_key() {
    let pki = Pki::new();
    let client = pki.leaf("gateway-client", true);
    let other = pki.leaf("other-client", true);
    let dir = tempfile::tempdir().unwrap();
    let not_pem = dir.path().join("not.pem");
    std::fs::write(&not_pem, "this is not PEM\n").unwrap();
    let (cert, key) = (toml_path(&client.cert_file), toml_path(&client.key_file));
    let other_key = toml_path(&other.key_file);
    let not_pem = toml_path(&not_pem);
    /// A config that `config check` must refuse, naming `key` and saying `reason`.
    struct Case<'a> {
        ca_file: Option<&'a str>,
        client_cert: Option<&'a str>,
        client_key: Option<&'a str>,
        key: &'a str,
        reason: &'a str,
    }
    let none = Case {
        ca_file: None,
        client_cert: None,
        client_key: None,
        key: "",
        reason: "",
    };
    let cases = [
        Case {
            ca_file: Some("/nonexistent/ca.pem"),
            key: "outbound.ca_file",
            reason: "cannot read /nonexistent/ca.pem",
            ..none
        },
        Case {
            ca_file: Some(&not_pem),
            key: "outbound.ca_file",
            reason: "no PEM certificate found",
            ..none
        },
        Case {
            client_cert: Some(&cert),
            key: "upstream.client_key_file",
            reason: "is required with upstream.client_cert_file",
            ..none
        },
        Case {
            client_key: Some(&key),
            key: "upstream.client_cert_file",
            reason: "is required with upstream.client_key_file",
            ..none
        },
        Case {
            client_cert: Some(&cert),
            client_key: Some(&other_key),
            key: "upstream.client_key_file",
            reason: "does not belong to the certificate",
            ..none
        },
        Case {
            client_cert: Some(&cert),
            client_key: Some(&not_pem),
            key: "upstream.client_key_file",
            reason: "no PEM private key found",
            ..none
        },
    ];
    for case in cases {
        let extra = case
            .ca_file
            .map(|path| format!("[outbound]\nca_file = \"{path}\"\n"))
            .unwrap_or_default();
        let mut env = Vec::new();
        if let Some(cert) = case.client_cert {
            env.push(("SESSIONGATE_UPSTREAM__CLIENT_CERT_FILE", cert));
        }
        if let Some(key) = case.client_key {
            env.push(("SESSIONGATE_UPSTREAM__CLIENT_KEY_FILE", key));
        }
        let (key_name, reason) = (case.key, case.reason);
        let config = write_config(dir.path(), "https://127.0.0.1:9", &extra);
        let output = config_check(&config, &env).await;
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(78), "{key_name}: {stderr}");
        let line = format!("sessiongate: {key_name}: ");
        assert!(stderr.starts_with(&line), "{stderr}");
        assert!(stderr.contains(reason), "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    }
}

#[tokio::test]
async fn config_check_reports_the_outbound_files_and_warns_when_they_cannot_matter() {
    let pki = Pki::new();
    let client = pki.leaf("gateway-client", true);
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (toml_path(&client.cert_file), toml_path(&client.key_file));
    let env = [
        ("SESSIONGATE_UPSTREAM__CLIENT_CERT_FILE", cert.as_str()),
        ("SESSIONGATE_UPSTREAM__CLIENT_KEY_FILE", key.as_str()),
    ];
    let config = write_config(dir.path(), "https://127.0.0.1:9", &ca_toml(&pki));
    let output = config_check(&config, &env).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("warning"), "{stderr}");
    let printed: Value = serde_json::from_slice(&output.stdout).expect("JSON config");
    assert_eq!(
        printed["outbound"]["ca_file"],
        json!(toml_path(&pki.ca_file))
    );
    assert_eq!(printed["upstream"]["client_cert_file"], json!(cert));
    assert_eq!(printed["upstream"]["client_key_file"], json!(key));

    // A plain-http upstream never sees the certificate; an empty system store falls back to
    // the bundled roots. Both are said, neither refused.
    let config = write_config(dir.path(), "http://127.0.0.1:9", &ca_toml(&pki));
    let mut env = env.to_vec();
    env.push(("SSL_CERT_FILE", "/nonexistent/bundle.pem"));
    let output = config_check(&config, &env).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("warning: upstream.client_cert_file: no upstream is https://"),
        "{stderr}"
    );
    assert!(
        stderr.contains("warning: outbound: the system certificate store has no usable"),
        "{stderr}"
    );
}
