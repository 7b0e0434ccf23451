//! Issue 10's acceptance test: a browser app on its own origin. Headless Chromium (Debian's
//! `/usr/bin/chromium`, driven by the pinned playwright-core) loads a page from a small static
//! server here, on its own port, that uses the pinned `realm-web` browser bundle against the
//! gateway on another origin: anonymous and email/password login, a proxied `fetch` with the
//! token, `callFunction`, a readable 401, refresh, a WebSocket with the token as a
//! subprotocol, logout, and a page on an origin that is not allowed failing. Without Node or
//! Chromium it says it was skipped (and fails under CI=true).

mod common;
#[path = "support/node.rs"]
mod node;
#[path = "support/websocket.rs"]
mod websocket;

use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use common::*;
use http::{Response, StatusCode};
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use node::{have, npm_ci};
use websocket::WsUpstream;

fn harness_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

fn realm_web_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/realm_web")
}

const PAGE: &str = "<!doctype html>\n<meta charset=\"utf-8\">\n<title>browser app</title>\n\
    <script src=\"/realm-web.js\"></script>\n<p>A web app on its own origin.</p>\n";

/// A static server for the app's page and the realm-web bundle, on its own port (its own
/// origin). Returns its origin, `http://127.0.0.1:<port>`.
async fn static_site(bundle: Arc<Bytes>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let origin = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let bundle = bundle.clone();
            tokio::spawn(async move {
                let service = service_fn(move |request: http::Request<hyper::body::Incoming>| {
                    let bundle = bundle.clone();
                    async move {
                        let (status, kind, body) = match request.uri().path() {
                            "/" => (
                                StatusCode::OK,
                                "text/html",
                                Bytes::from_static(PAGE.as_bytes()),
                            ),
                            "/realm-web.js" => {
                                (StatusCode::OK, "text/javascript", (*bundle).clone())
                            }
                            _ => (StatusCode::NOT_FOUND, "text/plain", Bytes::new()),
                        };
                        let mut response = Response::new(Full::new(body));
                        *response.status_mut() = status;
                        response.headers_mut().insert(
                            http::header::CONTENT_TYPE,
                            http::HeaderValue::from_static(kind),
                        );
                        Ok::<_, Infallible>(response)
                    }
                });
                let _ = auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    origin
}

#[tokio::test]
async fn a_realm_web_page_on_another_origin_works_in_chromium() {
    let test = "a_realm_web_page_on_another_origin_works_in_chromium";
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_owned());
    if !have("node") || !have("npm") || !Path::new(&chromium).exists() {
        common::skip_without("node/npm/chromium", test);
        return;
    }
    npm_ci(&realm_web_dir(), "node_modules/realm-web/package.json");
    npm_ci(&harness_dir(), "node_modules/playwright-core/package.json");
    let bundle = std::fs::read(realm_web_dir().join("node_modules/realm-web/dist/bundle.iife.js"))
        .expect("realm-web's browser bundle");
    let bundle = Arc::new(Bytes::from(bundle));
    let app_origin = static_site(bundle.clone()).await;
    let foreign_origin = static_site(bundle).await;

    let ws = WsUpstream::start().await;
    let toml = format!(
        r#"
[cors]
allowed_origins = ["{app_origin}"]

[[routes]]
prefix = "/ws"
upstream = "{ws}"
websocket_token_protocol = true
"#,
        ws = ws.url()
    );
    let gw = TestGateway::start_with(Options::default().toml(&toml)).await;
    let ws_url = format!("{}/ws/chat", gw.client_url.replacen("http://", "ws://", 1));

    let output = tokio::process::Command::new("node")
        .arg("scenario.mjs")
        .current_dir(harness_dir())
        .env("PAGE_URL", format!("{app_origin}/"))
        .env("FOREIGN_URL", format!("{foreign_origin}/"))
        .env("GATEWAY_URL", &gw.client_url)
        .env("WS_URL", &ws_url)
        .env("APP_ID", APP_ID)
        .env("CHROMIUM", &chromium)
        .kill_on_drop(true)
        .output()
        .await
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    assert!(
        output.status.success(),
        "browser scenario failed:\n{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains("ok done"),
        "scenario did not finish:\n{stdout}\n{stderr}"
    );
    // The upstream saw exactly the allowed page's three proxied calls (fetch, callFunction,
    // fetch after refresh): no preflight, nothing from the foreign page, not the refused 401.
    assert_eq!(gw.upstream.request_count(), 3);
    // The WebSocket reached its upstream with the user's identity and without the token.
    let heads = ws.heads();
    assert_eq!(heads.len(), 1, "{heads:?}");
    assert!(
        heads[0].contains("\r\nsec-websocket-protocol: chat.v1\r\n"),
        "{}",
        heads[0]
    );
    assert!(heads[0].contains("\r\nx-user-id: "), "{}", heads[0]);
    assert!(!heads[0].contains("sessiongate.bearer"), "{}", heads[0]);
}
