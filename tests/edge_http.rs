//! The gateway as the internet's first hop: protocol switches, HTTP/1 framing and smuggling,
//! forwarding headers, path readings that upstreams differ on, deadlines for every phase of a
//! connection, connection caps, and upstream connections that die in the pool.
//!
//! Raw sockets everywhere a client library would tidy the request up; the upstream (an echo
//! server or a scripted raw one) is the oracle of what got through.

mod common;
#[path = "support/raw_http.rs"]
mod raw_http;

use std::net::SocketAddr;

use common::{Options, TestGateway};
use raw_http::{
    BOUND, Reply, ScriptedUpstream, closed_within_bound, connect, exchange, read_response,
};
use tokio::io::AsyncWriteExt;

fn addr(gw: &TestGateway) -> SocketAddr {
    gw.client_url
        .trim_start_matches("http://")
        .parse()
        .expect("client address")
}

// --- protocol switches ----------------------------------------------------------------------

#[tokio::test]
async fn h2c_upgrade_is_never_passed_upstream_on_any_route() {
    let upstream = ScriptedUpstream::start(|_| Reply::SwitchProtocols).await;
    let gw = TestGateway::start_with(Options::default().upstream(&upstream.url())).await;
    let login = gw.login_anon().await;
    let variants = [
        "GET /public/x HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings\r\n\
         Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n"
            .to_owned(),
        "GET /public/x HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n".to_owned(),
        format!(
            "GET /private HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer {}\r\n\
             Connection: Upgrade\r\nUpgrade: h2c\r\n\r\n",
            login.access_token
        ),
        // WebSocket only by GET.
        "POST /public/x HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nConnection: Upgrade\r\n\
         Upgrade: websocket\r\n\r\n"
            .to_owned(),
        "GET /public/x HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket, h2c\r\n\r\n"
            .to_owned(),
    ];
    for request in &variants {
        let mut stream = connect(addr(&gw)).await;
        stream.write_all(request.as_bytes()).await.expect("write");
        let response = read_response(&mut stream).await.expect("a response");
        assert_ne!(response.status, 101, "{request}");
        // The scripted upstream switches on anything: a plain request gets a 101 back, which
        // the gateway must refuse to relay.
        assert_eq!(response.status, 502, "{request}\n{}", response.head);
        // Even so the connection is not reused: it asked for an upgrade that did not happen.
        assert!(
            response.head.contains("connection: close"),
            "{}",
            response.head
        );
        assert!(closed_within_bound(&mut stream).await, "{request}");
    }
    for head in upstream.heads() {
        assert!(
            !head.contains("upgrade:"),
            "upstream saw an Upgrade:\n{head}"
        );
        assert!(!head.contains("http2-settings"), "{head}");
        assert!(!head.contains("connection: upgrade"), "{head}");
    }
    assert_eq!(upstream.heads().len(), variants.len());
}

#[tokio::test]
async fn a_refused_upgrade_closes_the_connection_before_more_bytes_are_read() {
    let gw = TestGateway::start().await;
    let mut stream = connect(addr(&gw)).await;
    // 401 (no token on a required route), then bytes of "the new protocol" that would parse
    // as a second request if the connection stayed open.
    stream
        .write_all(
            b"GET /private HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
              Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n\
              GET /public/smuggled HTTP/1.1\r\nHost: a\r\n\r\n",
        )
        .await
        .expect("write");
    let response = read_response(&mut stream).await.expect("a response");
    assert_eq!(response.status, 401);
    assert_eq!(response.json()["error_code"], "InvalidSession");
    assert!(
        response.head.contains("connection: close"),
        "{}",
        response.head
    );
    assert!(closed_within_bound(&mut stream).await);
    assert_eq!(
        gw.upstream.request_count(),
        0,
        "the smuggled request was forwarded"
    );
}

// --- HTTP/1 framing -------------------------------------------------------------------------

#[tokio::test]
async fn malformed_chunked_bodies_are_the_clients_fault_400_not_502() {
    let gw = TestGateway::start().await;
    let long_extension = format!("3;{}\r\nabc\r\n0\r\n\r\n", "x".repeat(20_000));
    let bodies: [&[u8]; 5] = [
        b"zz\r\nabc\r\n0\r\n\r\n",
        b"ffffffffffffffffffff\r\nabc\r\n0\r\n\r\n",
        b"3\nabc\n0\n\n",
        b"3\r\nabcdef\r\n0\r\n\r\n",
        long_extension.as_bytes(),
    ];
    for body in bodies {
        let mut request =
            b"POST /public/upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                .to_vec();
        request.extend_from_slice(body);
        let response = exchange(addr(&gw), &request).await;
        assert_eq!(
            response.status,
            400,
            "{:?}: {}",
            String::from_utf8_lossy(&body[..body.len().min(40)]),
            response.body
        );
        assert_eq!(response.json()["error_code"], "BadRequest");
    }
    let metrics = gw
        .http
        .get(format!("{}/metrics", gw.admin_url))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text");
    // (Upstream error counters are shared with the other tests of this binary; the 400 above
    // is what shows the fault was not taken for the upstream's.)
    assert!(
        metrics.contains("sessiongate_client_faults_total{kind=\"malformed_body\"} 5"),
        "{metrics}"
    );
}

#[tokio::test]
async fn ambiguous_framing_is_refused_and_the_connection_closed() {
    let gw = TestGateway::start().await;
    let requests: [&[u8]; 6] = [
        b"POST /public/x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        b"POST /public/x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n",
        b"POST /public/x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
        b"POST /public/x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        b"POST /public/x HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx",
        b"GET /public/x HTTP/1.1\nHost: a\n\n",
    ];
    for request in requests {
        let mut stream = connect(addr(&gw)).await;
        stream.write_all(request).await.expect("write");
        let response = read_response(&mut stream).await.expect("a response");
        let label = String::from_utf8_lossy(request);
        assert_eq!(response.status, 400, "{label}: {}", response.body);
        assert_eq!(response.json()["error_code"], "BadRequest", "{label}");
        assert!(closed_within_bound(&mut stream).await, "{label}");
    }
    assert_eq!(gw.upstream.request_count(), 0);
}

#[tokio::test]
async fn a_bare_lf_head_after_a_keep_alive_request_is_refused_too() {
    let gw = TestGateway::start().await;
    let mut stream = connect(addr(&gw)).await;
    stream
        .write_all(b"GET /public/one HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .expect("write");
    assert_eq!(read_response(&mut stream).await.expect("first").status, 200);
    stream
        .write_all(b"GET /public/two HTTP/1.1\nHost: a\n\n")
        .await
        .expect("write");
    assert_eq!(
        read_response(&mut stream).await.expect("second").status,
        400
    );
    assert!(closed_within_bound(&mut stream).await);
    assert_eq!(gw.upstream.request_count(), 1);
}

#[tokio::test]
async fn our_own_431_closes_the_connection() {
    let gw = TestGateway::start().await;
    let mut stream = connect(addr(&gw)).await;
    let big = "x".repeat(20_000);
    let request = format!(
        "GET /public/x HTTP/1.1\r\nHost: a\r\nX-Big: {big}\r\n\r\nGET /public/y HTTP/1.1\r\nHost: a\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.expect("write");
    let response = read_response(&mut stream).await.expect("a response");
    assert_eq!(response.status, 431);
    assert_eq!(response.json()["error_code"], "RequestHeaderFieldsTooLarge");
    assert!(closed_within_bound(&mut stream).await);
    assert_eq!(gw.upstream.request_count(), 0);
}

#[tokio::test]
async fn connection_header_cannot_remove_what_the_gateway_sets() {
    let gw = TestGateway::start().await;
    let response = exchange(
        addr(&gw),
        b"GET /public/x HTTP/1.1\r\nHost: api.example\r\n\
          Connection: Host, X-Forwarded-Host, X-Forwarded-For, X-Forwarded-Proto, Content-Length\r\n\r\n",
    )
    .await;
    assert_eq!(response.status, 200, "{}", response.body);
    let seen = response.json();
    let headers = &seen["headers"];
    assert_eq!(headers["x-forwarded-host"], "api.example", "{seen}");
    assert_eq!(headers["x-forwarded-for"], "127.0.0.1", "{seen}");
    assert_eq!(headers["x-forwarded-proto"], "http", "{seen}");
}

// --- paths and routes -----------------------------------------------------------------------

#[tokio::test]
async fn escapes_of_invalid_or_overlong_utf8_are_refused() {
    let gw = TestGateway::start().await;
    for path in [
        "/public/%c0%ae%c0%ae/private",
        "/public/%e0%80%ae/x",
        "/public/%c0%afx",
        "/public/%ff%fe",
        "/public/%252e%252e/admin",
        "/public%252fadmin",
    ] {
        let request = format!("GET {path} HTTP/1.1\r\nHost: a\r\n\r\n");
        let response = exchange(addr(&gw), request.as_bytes()).await;
        assert_eq!(response.status, 400, "{path}");
        assert_eq!(response.json()["error_code"], "InvalidParameter", "{path}");
    }
    assert_eq!(gw.upstream.request_count(), 0);
}

#[tokio::test]
async fn a_protected_prefix_cannot_be_walked_around_by_lenient_readings() {
    let gw = TestGateway::start_with(Options::default().toml(
        "[[routes]]\nprefix = \"/\"\nauth = \"none\"\n[[routes]]\nprefix = \"/admin\"\nauth = \"required\"\n",
    ))
    .await;
    for path in [
        "/admin;jsessionid=x/secret",
        "/admin%3Bx/secret",
        "/admin%3bx/secret",
        "/ADMIN/secret",
        "/Admin",
        "/admin%20/secret",
        "/admin./secret",
        "/admin%2e/secret",
        "/admin..;/secret",
        "/admin%09/secret",
        "/x/../ADMIN/secret",
        "/%61dmin;/secret",
    ] {
        let request = format!("GET {path} HTTP/1.1\r\nHost: a\r\n\r\n");
        let response = exchange(addr(&gw), request.as_bytes()).await;
        assert!(
            response.status == 400 || response.status == 401,
            "{path} got {}",
            response.status
        );
    }
    assert_eq!(
        gw.upstream.request_count(),
        0,
        "a bypass reached the upstream"
    );
    let open = exchange(addr(&gw), b"GET /administrator HTTP/1.1\r\nHost: a\r\n\r\n").await;
    assert_eq!(open.status, 200);
}

// --- deadlines ------------------------------------------------------------------------------

fn quick_deadlines() -> Options {
    Options::default()
        .env("SESSIONGATE_SERVER__HEADER_READ_TIMEOUT", "1s")
        .env("SESSIONGATE_SERVER__IDLE_TIMEOUT", "1s")
        .env("SESSIONGATE_SERVER__BODY_READ_TIMEOUT", "1s")
}

#[tokio::test]
async fn a_connection_that_sends_nothing_or_half_a_preface_is_closed() {
    let gw = TestGateway::start_with(quick_deadlines()).await;
    let mut silent = connect(addr(&gw)).await;
    let mut preface = connect(addr(&gw)).await;
    preface
        .write_all(b"PRI * HTTP/2.0\r\n")
        .await
        .expect("write");
    let mut partial_head = connect(addr(&gw)).await;
    partial_head
        .write_all(b"GET /public/x HTTP/1.1\r\nHost:")
        .await
        .expect("write");
    assert!(closed_within_bound(&mut silent).await, "silent");
    assert!(closed_within_bound(&mut preface).await, "partial preface");
    assert!(closed_within_bound(&mut partial_head).await, "partial head");
}

#[tokio::test]
async fn idle_keep_alive_connections_are_closed_on_http1_and_http2() {
    let gw = TestGateway::start_with(quick_deadlines()).await;
    let mut h1 = connect(addr(&gw)).await;
    h1.write_all(b"GET /public/x HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .expect("write");
    assert_eq!(read_response(&mut h1).await.expect("answer").status, 200);
    assert!(closed_within_bound(&mut h1).await, "idle HTTP/1.1");

    let stream = connect(addr(&gw)).await;
    let (mut sender, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(stream),
    )
    .await
    .expect("h2 handshake");
    let driver = tokio::spawn(conn);
    let request = http::Request::get(format!("{}/public/x", gw.client_url))
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .expect("request");
    let response = sender.send_request(request).await.expect("h2 answer");
    assert_eq!(response.status(), 200);
    drop(response);
    let ended = tokio::time::timeout(BOUND, driver).await;
    assert!(ended.is_ok(), "an idle HTTP/2 connection stayed open");
}

#[tokio::test]
async fn a_trickled_login_body_is_408_and_closed() {
    let gw = TestGateway::start_with(quick_deadlines()).await;
    let mut stream = connect(addr(&gw)).await;
    let path = format!(
        "/api/client/v2.0/app/{}/auth/providers/anon-user/login",
        common::APP_ID
    );
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{"
    );
    stream.write_all(head.as_bytes()).await.expect("write");
    // One more byte, well inside the idle gap: only a deadline on the whole body ends this.
    stream.write_all(b" ").await.expect("write");
    let response = read_response(&mut stream).await.expect("a response");
    assert_eq!(response.status, 408, "{}", response.body);
    assert_eq!(response.json()["error_code"], "RequestTimeout");
    assert!(closed_within_bound(&mut stream).await);
}

#[tokio::test]
async fn a_stalled_proxied_body_is_408_not_an_upstream_timeout() {
    let gw = TestGateway::start_with(quick_deadlines()).await;
    let mut stream = connect(addr(&gw)).await;
    stream
        .write_all(
            b"POST /public/upload HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\nonly ten b",
        )
        .await
        .expect("write");
    let response = read_response(&mut stream).await.expect("a response");
    assert_eq!(response.status, 408, "{}", response.body);
    assert_eq!(response.json()["error_code"], "RequestTimeout");
}

// --- connection cap -------------------------------------------------------------------------

#[tokio::test]
async fn connections_over_the_cap_are_shed_and_capacity_comes_back() {
    let gw =
        TestGateway::start_with(Options::default().env("SESSIONGATE_SERVER__MAX_CONNECTIONS", "2"))
            .await;
    let mut first = connect(addr(&gw)).await;
    first
        .write_all(b"GET /public/1 HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .expect("write");
    assert_eq!(read_response(&mut first).await.expect("first").status, 200);
    let mut second = connect(addr(&gw)).await;
    second
        .write_all(b"GET /public/2 HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .expect("write");
    assert_eq!(
        read_response(&mut second).await.expect("second").status,
        200
    );

    let mut third = connect(addr(&gw)).await;
    let _ = third
        .write_all(b"GET /public/3 HTTP/1.1\r\nHost: a\r\n\r\n")
        .await;
    assert!(
        read_response(&mut third).await.is_none(),
        "third connection was served"
    );

    drop(first);
    // The slot comes back once the gateway sees the close; retry until it does.
    let served = tokio::time::timeout(BOUND, async {
        loop {
            let mut again = connect(addr(&gw)).await;
            let _ = again
                .write_all(b"GET /public/4 HTTP/1.1\r\nHost: a\r\n\r\n")
                .await;
            if let Some(response) = read_response(&mut again).await {
                return response.status;
            }
            tokio::task::yield_now().await;
        }
    })
    .await;
    assert_eq!(served.ok(), Some(200));
}

// --- upstream connections -------------------------------------------------------------------

#[tokio::test]
async fn an_idempotent_request_is_retried_once_when_its_pooled_connection_dies() {
    // Every connection answers its first request and dies silently on the second: what an
    // upstream closing idle keep-alive connections looks like from the pool.
    let upstream = ScriptedUpstream::start(|index| {
        if index == 0 {
            Reply::Ok
        } else {
            Reply::CloseUnanswered
        }
    })
    .await;
    let gw = TestGateway::start_with(Options::default().upstream(&upstream.url())).await;
    for round in 0..3 {
        let response = gw
            .http
            .get(gw.url("/public/again"))
            .send()
            .await
            .expect("send");
        assert_eq!(response.status(), 200, "round {round}");
    }
    let before = upstream.heads().len();
    let response = gw
        .http
        .post(gw.url("/public/once"))
        .body("not idempotent")
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 502, "a POST was retried or answered");
    let posts = upstream.heads()[before..]
        .iter()
        .filter(|head| head.starts_with("post "))
        .count();
    assert_eq!(posts, 1, "the POST reached the upstream more than once");
}

#[tokio::test]
async fn sequential_requests_share_one_upstream_connection_whatever_the_body_framing() {
    let upstream = ScriptedUpstream::start(|index| {
        if index % 2 == 0 {
            Reply::Ok
        } else {
            Reply::OkChunked
        }
    })
    .await;
    let gw = TestGateway::start_with(Options::default().upstream(&upstream.url())).await;
    for round in 0..4 {
        let response = gw
            .http
            .get(gw.url(&format!("/public/{round}")))
            .send()
            .await
            .expect("send");
        assert_eq!(response.status(), 200, "round {round}");
        assert_eq!(response.text().await.expect("body"), "ok", "round {round}");
    }
    assert_eq!(upstream.heads().len(), 4);
    assert_eq!(
        upstream.connections.accepted(),
        1,
        "a connection whose response was read to its end was not reused"
    );
}

#[tokio::test]
async fn a_response_abandoned_before_its_end_takes_its_upstream_connection_with_it() {
    // The first request's answer never ends; the next one must not be sent on that
    // connection, where it would read the rest of the first body as its answer.
    let upstream =
        ScriptedUpstream::start(|index| if index == 0 { Reply::Stuck } else { Reply::Ok }).await;
    let gw = TestGateway::start_with(Options::default().upstream(&upstream.url())).await;
    let mut abandoned = connect(addr(&gw)).await;
    abandoned
        .write_all(b"GET /public/big HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .expect("write");
    let mut seen = Vec::new();
    while raw_http::find(&seen, b"xxxx").is_none() {
        let mut chunk = [0u8; 4096];
        let read = tokio::time::timeout(
            BOUND,
            tokio::io::AsyncReadExt::read(&mut abandoned, &mut chunk),
        )
        .await
        .expect("the body starts within the bound")
        .expect("read");
        assert!(read > 0, "closed before the body started");
        seen.extend_from_slice(&chunk[..read]);
    }
    drop(abandoned);
    assert!(
        upstream.connections.await_closed_by_peer(1).await,
        "the gateway kept the connection of an abandoned response"
    );

    let mut next = connect(addr(&gw)).await;
    next.write_all(b"GET /public/small HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .expect("write");
    // Every connection's first answer is the stuck one: a fresh head on the new request
    // shows it went out on a connection of its own.
    let mut head = Vec::new();
    while raw_http::find(&head, b"\r\n\r\n").is_none() {
        let mut chunk = [0u8; 4096];
        let read =
            tokio::time::timeout(BOUND, tokio::io::AsyncReadExt::read(&mut next, &mut chunk))
                .await
                .expect("an answer within the bound")
                .expect("read");
        assert!(read > 0, "closed without an answer");
        head.extend_from_slice(&chunk[..read]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 200 "),
        "{}",
        String::from_utf8_lossy(&head)
    );
    assert_eq!(upstream.heads().len(), 2);
    assert_eq!(
        upstream.connections.accepted(),
        2,
        "the next request was sent on the abandoned response's connection"
    );
}

#[tokio::test]
async fn an_upstream_connection_idle_past_the_pool_timeout_is_closed() {
    let upstream = ScriptedUpstream::start(|_| Reply::Ok).await;
    let gw = TestGateway::start_with(
        Options::default()
            .upstream(&upstream.url())
            .env("SESSIONGATE_UPSTREAM__POOL_IDLE_TIMEOUT", "200ms"),
    )
    .await;
    let response = gw
        .http
        .get(gw.url("/public/once"))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.expect("body"), "ok");
    // Nothing else is sent: only the pool's own sweep can close it.
    assert!(
        upstream.connections.await_closed_by_peer(1).await,
        "the idle upstream connection stayed open"
    );
    assert_eq!(upstream.connections.accepted(), 1);
}
