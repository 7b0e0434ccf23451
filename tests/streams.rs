//! Revocation closes live streams: WebSocket tunnels get a close frame 1008 and streaming
//! responses are cut, on the replica that revoked and on the others; an expired access token
//! closes its streams unless the route opts out. Real gateway, real upstreams, raw WebSocket
//! client over TCP, reqwest for HTTP. Every wait has a deadline; nothing is timed.

mod common;
#[path = "support/streaming.rs"]
mod streaming;
#[path = "support/websocket.rs"]
mod websocket;

use std::net::SocketAddr;
use std::time::Duration;

use common::*;
use streaming::{FIREHOSE_FRAME, WsFirehose};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use websocket::{WsUpstream, echo_text, read_frame};

/// Generous bound for what the gateway does in milliseconds.
const BOUND: Duration = Duration::from_secs(15);

fn addr(base: &str) -> SocketAddr {
    base.trim_start_matches("http://")
        .parse()
        .expect("listener address")
}

/// A WebSocket through the gateway at `base` with `token`; answered 101.
async fn open_ws(base: &str, path: &str, token: &str) -> TcpStream {
    let (stream, head) = websocket::handshake(
        addr(base),
        path,
        &format!("Authorization: Bearer {token}\r\n"),
    )
    .await;
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    stream
}

/// Reads frames until the close frame; returns its code and reason and the other frames.
async fn until_close(stream: &mut TcpStream) -> (u16, String, Vec<(u8, Vec<u8>)>) {
    tokio::time::timeout(BOUND, async {
        let mut before = Vec::new();
        loop {
            match read_frame(stream).await {
                Some((0x8, payload)) => {
                    assert!(payload.len() >= 2, "close frame with a code");
                    let code = u16::from_be_bytes([payload[0], payload[1]]);
                    let reason = String::from_utf8(payload[2..].to_vec()).expect("utf-8 reason");
                    return (code, reason, before);
                }
                Some(frame) => before.push(frame),
                None => panic!("the connection ended without a close frame"),
            }
        }
    })
    .await
    .expect("a close frame within the bound")
}

/// The gateway ends the connection after its close frame.
async fn assert_ended(stream: &mut TcpStream) {
    let mut rest = Vec::new();
    let read = tokio::time::timeout(BOUND, stream.read_to_end(&mut rest)).await;
    assert!(
        read.is_ok(),
        "the connection is closed after the close frame"
    );
}

/// A closed-by-revocation WebSocket: 1008 "session revoked", then the end.
async fn assert_revoked_close(stream: &mut TcpStream) {
    let (code, reason, _) = until_close(stream).await;
    assert_eq!(code, 1008, "policy violation");
    assert_eq!(reason, "session revoked");
    assert_ended(stream).await;
}

async fn sign_out(gw: &TestGateway, path: &str, token: &str) {
    let response = gw
        .http
        .delete(gw.client_api(&format!("/auth/sessions{path}")))
        .bearer_auth(token)
        .send()
        .await
        .expect("sign-out");
    assert_eq!(response.status(), 204, "signed out by the gateway");
}

async fn metric_sum(admin_url: &str, name: &str, labels: &[&str]) -> f64 {
    let text = reqwest::get(format!("{admin_url}/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text");
    text.lines()
        .filter(|line| line.starts_with(name) && labels.iter().all(|l| line.contains(l)))
        .filter(|line| line[name.len()..].starts_with(['{', ' ']))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test]
async fn signing_out_closes_the_sessions_websocket_with_1008() {
    let upstream = WsUpstream::start().await;
    let gw = TestGateway::start_with(Options::default().upstream(&upstream.url())).await;
    let login = gw.login_anon().await;
    let mut ws = open_ws(&gw.client_url, "/ws", &login.access_token).await;
    assert_eq!(echo_text(&mut ws, "before").await, "before");
    let other = gw.login_anon().await;
    let mut bystander = open_ws(&gw.client_url, "/ws", &other.access_token).await;

    sign_out(&gw, "/current", &login.access_token).await;
    assert_revoked_close(&mut ws).await;
    assert_eq!(
        echo_text(&mut bystander, "still here").await,
        "still here",
        "another session's stream stays open"
    );
    let closed = metric_sum(
        &gw.admin_url,
        "sessiongate_streams_closed_total",
        &["kind=\"websocket\"", "reason=\"revoked\""],
    )
    .await;
    assert!(closed >= 1.0, "counted: {closed}");
}

#[tokio::test]
async fn every_revocation_path_closes_the_websocket() {
    let upstream = WsUpstream::start().await;
    let gw = TestGateway::start_with(Options::default().upstream(&upstream.url())).await;
    for path in [
        "logout",
        "admin revoke",
        "admin logout",
        "disable",
        "delete",
    ] {
        let login = gw.login_anon().await;
        let session = jwt_payload(&login.access_token)["sid"]
            .as_str()
            .expect("sid")
            .to_owned();
        let mut ws = open_ws(&gw.client_url, "/ws", &login.access_token).await;
        assert_eq!(echo_text(&mut ws, path).await, path);
        let user = &login.user_id;
        let response = match path {
            "logout" => gw.logout(&login.refresh_token).await,
            "admin revoke" => gw
                .admin(
                    reqwest::Method::DELETE,
                    &format!("/users/{user}/sessions/{session}"),
                )
                .send()
                .await
                .expect("admin revoke"),
            "admin logout" => gw
                .admin(reqwest::Method::PUT, &format!("/users/{user}/logout"))
                .send()
                .await
                .expect("admin logout"),
            "disable" => gw
                .admin(reqwest::Method::PUT, &format!("/users/{user}/disable"))
                .send()
                .await
                .expect("disable"),
            _ => gw
                .admin(reqwest::Method::DELETE, &format!("/users/{user}"))
                .send()
                .await
                .expect("delete"),
        };
        assert!(
            response.status().is_success(),
            "{path}: {}",
            response.status()
        );
        assert_revoked_close(&mut ws).await;
    }
}

#[tokio::test]
async fn signing_out_the_others_keeps_the_current_sessions_websocket() {
    let upstream = WsUpstream::start().await;
    let gw = TestGateway::start_with(Options::default().upstream(&upstream.url())).await;
    gw.register("streams@example.com", "correct horse battery")
        .await;
    let here = gw
        .login_userpass("streams@example.com", "correct horse battery")
        .await;
    let there = gw
        .login_userpass("streams@example.com", "correct horse battery")
        .await;
    let mut kept = open_ws(&gw.client_url, "/ws", &here.access_token).await;
    let mut closed = open_ws(&gw.client_url, "/ws", &there.access_token).await;

    sign_out(&gw, "/others", &here.access_token).await;
    assert_revoked_close(&mut closed).await;
    assert_eq!(echo_text(&mut kept, "kept").await, "kept");
}

#[tokio::test]
async fn the_close_frame_lands_on_a_frame_boundary_and_reaches_the_upstream() {
    let firehose = WsFirehose::start().await;
    let gw = TestGateway::start_with(Options::default().upstream(&firehose.url())).await;
    let login = gw.login_anon().await;
    let mut ws = open_ws(&gw.client_url, "/firehose", &login.access_token).await;
    for _ in 0..5 {
        let (opcode, payload) = read_frame(&mut ws).await.expect("a frame");
        assert_eq!((opcode, payload.len()), (0x2, FIREHOSE_FRAME));
    }

    sign_out(&gw, "/current", &login.access_token).await;
    let (code, reason, before) = until_close(&mut ws).await;
    assert_eq!((code, reason.as_str()), (1008, "session revoked"));
    for (opcode, payload) in before {
        // A close frame injected mid-frame would show up here as a torn or garbled frame.
        assert_eq!(opcode, 0x2, "only whole data frames before the close");
        assert_eq!(payload.len(), FIREHOSE_FRAME);
        assert!(payload.iter().all(|b| *b == b'a'));
    }
    assert_ended(&mut ws).await;
    let deadline = tokio::time::Instant::now() + BOUND;
    while firehose.closes().is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the upstream got a close frame"
        );
        tokio::task::yield_now().await;
    }
    assert_eq!(firehose.closes(), [1008]);
}

#[tokio::test]
async fn revocation_cuts_a_streaming_response() {
    let chunks = streaming::endless_chunks(Duration::from_millis(20)).await;
    let gw =
        TestGateway::start_with(Options::default().upstream(&format!("http://{chunks}"))).await;
    let login = gw.login_anon().await;
    let mut response = gw.get_upstream("/events", &login.access_token).await;
    assert_eq!(response.status(), 200);
    let first = tokio::time::timeout(BOUND, response.chunk())
        .await
        .expect("a chunk within the bound")
        .expect("a chunk")
        .expect("not the end");
    assert!(first.starts_with(b"tick"));

    sign_out(&gw, "/current", &login.access_token).await;
    let ended = tokio::time::timeout(BOUND, async {
        loop {
            match response.chunk().await {
                Ok(Some(_)) => continue,
                Ok(None) => return Ok(()),
                Err(err) => return Err(err),
            }
        }
    })
    .await
    .expect("the response ends within the bound");
    assert!(
        ended.is_err(),
        "cut: the chunked body ends without its last chunk"
    );
    let cut = metric_sum(
        &gw.admin_url,
        "sessiongate_streams_closed_total",
        &["kind=\"response\"", "reason=\"revoked\""],
    )
    .await;
    assert!(cut >= 1.0, "counted: {cut}");
}

#[tokio::test]
async fn an_expired_token_closes_its_websocket_unless_the_route_opts_out() {
    let upstream = WsUpstream::start().await;
    let gw = TestGateway::start_with(Options::default().upstream(&upstream.url()).toml(
        "[tokens]\naccess_ttl = \"3s\"\n\n[[routes]]\nprefix = \"/keep\"\nclose_streams_at_expiry = false",
    ))
    .await;
    let login = gw.login_anon().await;
    let mut closing = open_ws(&gw.client_url, "/ws", &login.access_token).await;
    let mut kept = open_ws(&gw.client_url, "/keep/ws", &login.access_token).await;

    let (code, reason, _) = until_close(&mut closing).await;
    assert_eq!((code, reason.as_str()), (1008, "token expired"));
    assert_ended(&mut closing).await;
    // The token is past its exp now (the other stream closed for it); this one stays.
    assert_eq!(echo_text(&mut kept, "after exp").await, "after exp");
}

#[tokio::test]
async fn a_revocation_on_one_replica_closes_the_websocket_on_another() {
    let Some(base) = postgres_url_or_skip() else {
        return;
    };
    let (store_url, schema) = fresh_pg_schema(&base).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let upstream = WsUpstream::start().await;
    let a = spawn_replica(dir.path(), "streams_a", &store_url, &upstream.url()).await;
    let b = spawn_replica(dir.path(), "streams_b", &store_url, &upstream.url()).await;
    let http = reqwest::Client::new();
    let login: Login = http
        .post(a.app_api("/auth/providers/anon-user/login"))
        .send()
        .await
        .expect("login")
        .json()
        .await
        .expect("login json");
    let mut ws = open_ws(&b.client_url, "/ws", &login.access_token).await;
    assert_eq!(echo_text(&mut ws, "on b").await, "on b");

    let response = http
        .delete(a.client_api("/auth/session"))
        .bearer_auth(&login.refresh_token)
        .send()
        .await
        .expect("logout on a");
    assert_eq!(response.status(), 204);
    assert_revoked_close(&mut ws).await;
    let observed = metric_sum(
        &b.admin_url,
        "sessiongate_revocation_propagation_seconds_count",
        &[],
    )
    .await;
    assert!(observed >= 1.0, "b observed the propagation delay");
    drop((a, b));
    drop_pg_schema(&base, &schema).await;
}
