//! Browser apps (issue 10): CORS on the client listener — preflights answered by the gateway
//! (nothing forwarded: the echo upstream's request count is the oracle), CORS headers on every
//! answer to an allowed origin including errors, none for other origins, a route that leaves
//! CORS to its upstream — and access tokens where a browser can put them (a WebSocket
//! subprotocol entry, an opted-in query parameter), taken out before forwarding and never
//! logged, checked with a real WebSocket client and upstream over TCP and the real binary's
//! log lines.

mod common;
#[path = "support/websocket.rs"]
mod websocket;

use std::path::Path;
use std::time::Duration;

use common::*;
use reqwest::Method;
use reqwest::header::HeaderMap;
use serde_json::Value;
use websocket::WsUpstream;

const APP_ORIGIN: &str = "https://app.example";
const DEV_ORIGIN: &str = "http://127.0.0.1:5173";

/// `[cors]` for the two origins above, with credentials, and the routes these tests use.
fn cors_toml(ws_upstream: &str) -> String {
    format!(
        r#"
[cors]
allowed_origins = ["{APP_ORIGIN}", "{DEV_ORIGIN}"]
allow_credentials = true
max_age = "5m"

[[routes]]
prefix = "/own-cors"
cors = "upstream"

[[routes]]
prefix = "/down"
auth = "none"
upstream = "http://127.0.0.1:9"

[[routes]]
prefix = "/ws"
upstream = "{ws_upstream}"
websocket_token_protocol = true
token_query_param = "access_token"
"#
    )
}

async fn start() -> (TestGateway, WsUpstream) {
    let ws = WsUpstream::start().await;
    let gw = TestGateway::start_with(Options::default().toml(&cors_toml(&ws.url()))).await;
    (gw, ws)
}

fn preflight(gw: &TestGateway, url: &str, origin: &str, method: &str) -> reqwest::RequestBuilder {
    gw.http
        .request(Method::OPTIONS, url)
        .header("origin", origin)
        .header("access-control-request-method", method)
}

fn cors_headers(headers: &HeaderMap) -> Vec<String> {
    headers
        .keys()
        .map(|k| k.as_str().to_owned())
        .filter(|k| k.starts_with("access-control-"))
        .collect()
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .unwrap_or_else(|| panic!("no {name} in {headers:?}"))
        .to_str()
        .expect("text header")
}

/// An answer to `APP_ORIGIN` from a gateway that answers CORS: echoed origin, credentials,
/// the request id exposed, `Vary: Origin`.
fn assert_cors_for_app(headers: &HeaderMap) {
    assert_eq!(header(headers, "access-control-allow-origin"), APP_ORIGIN);
    assert_eq!(header(headers, "access-control-allow-credentials"), "true");
    assert_eq!(
        header(headers, "access-control-expose-headers"),
        "x-request-id"
    );
    assert!(header(headers, "vary").contains("Origin"), "{headers:?}");
    assert!(headers.contains_key("x-request-id"));
}

// ---------------------------------------------------------------- preflights

#[tokio::test]
async fn preflights_from_an_allowed_origin_are_answered_without_a_token_and_never_forwarded() {
    let (gw, _ws) = start().await;
    for url in [
        gw.url("/items/1"),
        gw.url("/public/x"),
        gw.app_api("/auth/providers/anon-user/login"),
        gw.client_api("/auth/session"),
        gw.url("/not/routed/anywhere"),
    ] {
        let response = preflight(&gw, &url, APP_ORIGIN, "POST")
            .header(
                "access-control-request-headers",
                "authorization,content-type,session,x-request-id",
            )
            .send()
            .await
            .expect("preflight");
        assert_eq!(response.status(), 204, "{url}");
        let h = response.headers();
        assert_eq!(header(h, "access-control-allow-origin"), APP_ORIGIN);
        assert_eq!(header(h, "access-control-allow-credentials"), "true");
        assert_eq!(header(h, "access-control-max-age"), "300");
        let methods = header(h, "access-control-allow-methods");
        for method in ["GET", "POST", "PUT", "PATCH", "DELETE"] {
            assert!(methods.contains(method), "{methods}");
        }
        let allowed = header(h, "access-control-allow-headers");
        for name in ["authorization", "content-type", "session", "x-request-id"] {
            assert!(allowed.contains(name), "{allowed}");
        }
        assert!(header(h, "vary").contains("Origin"));
    }
    // The other listed origin, exactly as a dev server sends it.
    let response = preflight(&gw, &gw.url("/items"), DEV_ORIGIN, "DELETE")
        .send()
        .await
        .expect("preflight");
    assert_eq!(response.status(), 204);
    assert_eq!(
        header(response.headers(), "access-control-allow-origin"),
        DEV_ORIGIN
    );
    assert_eq!(
        gw.upstream.request_count(),
        0,
        "a preflight reached the upstream"
    );
}

#[tokio::test]
async fn hostile_or_mistaken_preflights_are_refused_without_cors_headers() {
    let (gw, _ws) = start().await;
    let url = gw.url("/items");
    let refused = [
        ("https://evil.example", "GET", None, "origin"),
        ("null", "GET", None, "origin"),
        ("https://app.example/", "GET", None, "trailing slash"),
        ("https://app.example:8443", "GET", None, "other port"),
        ("http://app.example", "GET", None, "other scheme"),
        ("https://APP.example", "GET", None, "case change"),
        ("https://app.example.evil.test", "GET", None, "suffix"),
        ("http://127.0.0.1:5174", "GET", None, "neighbour port"),
        (APP_ORIGIN, "TRACE", None, "method not allowed"),
        (APP_ORIGIN, "CONNECT", None, "method not allowed"),
        (APP_ORIGIN, "get", None, "lower-case method"),
        (
            APP_ORIGIN,
            "GET",
            Some("authorization, x-evil"),
            "header not allowed",
        ),
        (APP_ORIGIN, "GET", Some("cookie"), "header not allowed"),
    ];
    for (origin, method, headers, what) in refused {
        let mut request = preflight(&gw, &url, origin, method);
        if let Some(headers) = headers {
            request = request.header("access-control-request-headers", headers);
        }
        let response = request.send().await.expect("preflight");
        assert!(
            cors_headers(response.headers()).is_empty(),
            "{what}: {:?}",
            response.headers()
        );
        assert_error(response, 403, "Forbidden").await;
    }
    // On the gateway's own endpoints too.
    let response = preflight(
        &gw,
        &gw.app_api("/auth/providers/anon-user/login"),
        "https://evil.example",
        "POST",
    )
    .send()
    .await
    .expect("preflight");
    assert!(cors_headers(response.headers()).is_empty());
    assert_error(response, 403, "Forbidden").await;
    assert_eq!(
        gw.upstream.request_count(),
        0,
        "a preflight reached the upstream"
    );
}

#[tokio::test]
async fn an_options_without_access_control_request_method_is_an_ordinary_request() {
    let (gw, _ws) = start().await;
    // A proxy route that needs a token: 401, like any request without one.
    let response = gw
        .http
        .request(Method::OPTIONS, gw.url("/items"))
        .header("origin", APP_ORIGIN)
        .send()
        .await
        .expect("options");
    assert_cors_for_app(response.headers());
    assert_error(response, 401, "InvalidSession").await;
    assert_eq!(gw.upstream.request_count(), 0);
    // A public route: forwarded as the OPTIONS it is.
    let response = gw
        .http
        .request(Method::OPTIONS, gw.url("/public/x"))
        .header("origin", APP_ORIGIN)
        .send()
        .await
        .expect("options");
    assert_eq!(response.status(), 200);
    assert_cors_for_app(response.headers());
    let echo: Value = response.json().await.expect("echo");
    assert_eq!(echo["method"], "OPTIONS");
    assert_eq!(gw.upstream.request_count(), 1);
    // An own endpoint: 405 with its Allow.
    let response = gw
        .http
        .request(
            Method::OPTIONS,
            gw.app_api("/auth/providers/anon-user/login"),
        )
        .header("origin", APP_ORIGIN)
        .send()
        .await
        .expect("options");
    assert_eq!(header(response.headers(), "allow"), "POST");
    assert_cors_for_app(response.headers());
    assert_error(response, 405, "MethodNotAllowed").await;
}

// ---------------------------------------------------------------- actual responses

#[tokio::test]
async fn every_answer_to_an_allowed_origin_carries_cors_headers_errors_included() {
    let (gw, _ws) = start().await;
    let get = |path: &str, origin: &str| {
        gw.http
            .get(gw.url(path))
            .header("origin", origin.to_owned())
    };
    // 401 from the proxy: the browser must read it to refresh.
    let response = get("/items", APP_ORIGIN).send().await.expect("get");
    assert_cors_for_app(response.headers());
    assert_error(response, 401, "InvalidSession").await;
    // 502 from the proxy (nothing listens on the route's upstream).
    let response = get("/down/x", APP_ORIGIN).send().await.expect("get");
    assert_cors_for_app(response.headers());
    assert_error(response, 502, "UpstreamUnavailable").await;
    // 400 from an own endpoint.
    let response = gw
        .http
        .post(gw.app_api("/auth/providers/local-userpass/login"))
        .header("origin", APP_ORIGIN)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("login");
    assert_cors_for_app(response.headers());
    assert_error(response, 400, "BadRequest").await;
    // 400 for a path refused before routing.
    let response = get("/a/%2e%2e/%2e%2e/etc", APP_ORIGIN)
        .send()
        .await
        .expect("get");
    assert!(response.status().is_client_error());
    assert_cors_for_app(response.headers());
    // Success, own and proxied.
    let login = gw.login_anon().await;
    let response = gw
        .http
        .get(gw.client_api("/auth/profile"))
        .bearer_auth(&login.access_token)
        .header("origin", APP_ORIGIN)
        .send()
        .await
        .expect("profile");
    assert_eq!(response.status(), 200);
    assert_cors_for_app(response.headers());
    let response = get("/items", APP_ORIGIN)
        .bearer_auth(&login.access_token)
        .send()
        .await
        .expect("proxied");
    assert_eq!(response.status(), 200);
    assert_cors_for_app(response.headers());
    // Another origin: no CORS headers at all, but the answer still varies by origin.
    for origin in ["https://evil.example", "null", "https://app.example/"] {
        let response = get("/items", origin)
            .bearer_auth(&login.access_token)
            .send()
            .await
            .expect("proxied");
        assert_eq!(response.status(), 200);
        assert!(cors_headers(response.headers()).is_empty(), "{origin}");
        assert!(header(response.headers(), "vary").contains("Origin"));
    }
}

#[tokio::test]
async fn a_route_that_leaves_cors_to_its_upstream_gets_the_preflight_and_no_cors_headers() {
    let (gw, _ws) = start().await;
    let response = preflight(&gw, &gw.url("/own-cors/x"), APP_ORIGIN, "PUT")
        .header("authorization", "Bearer not-a-token")
        .send()
        .await
        .expect("preflight");
    assert_eq!(response.status(), 200, "forwarded to the echo upstream");
    assert!(cors_headers(response.headers()).is_empty());
    let echo: Value = response.json().await.expect("echo");
    assert_eq!(echo["method"], "OPTIONS");
    assert_eq!(echo["headers"]["access-control-request-method"], "PUT");
    assert!(echo["headers"]["x-user-id"].is_null(), "{echo}");
    assert!(echo["headers"]["authorization"].is_null(), "{echo}");
    assert_eq!(gw.upstream.request_count(), 1);
    // Anything else on that route still needs a token.
    let response = gw
        .http
        .get(gw.url("/own-cors/x"))
        .header("origin", APP_ORIGIN)
        .send()
        .await
        .expect("get");
    assert!(cors_headers(response.headers()).is_empty());
    assert_error(response, 401, "InvalidSession").await;
    assert_eq!(gw.upstream.request_count(), 1);
}

#[tokio::test]
async fn the_admin_listener_answers_no_cross_origin_browser() {
    let (gw, _ws) = start().await;
    let response = preflight(&gw, &gw.admin_api("/users"), APP_ORIGIN, "GET")
        .send()
        .await
        .expect("preflight");
    assert!(cors_headers(response.headers()).is_empty());
    assert!(response.status().is_client_error(), "{}", response.status());
    let response = gw
        .admin(Method::GET, "/users")
        .header("origin", APP_ORIGIN)
        .send()
        .await
        .expect("users");
    assert_eq!(response.status(), 200);
    assert!(cors_headers(response.headers()).is_empty());
}

#[tokio::test]
async fn without_cors_config_nothing_changes() {
    let gw = TestGateway::start().await;
    let response = preflight(&gw, &gw.url("/items"), APP_ORIGIN, "GET")
        .send()
        .await
        .expect("preflight");
    assert!(cors_headers(response.headers()).is_empty());
    assert_error(response, 401, "InvalidSession").await;
}

// ---------------------------------------------------------------- WebSocket tokens

fn ws_addr(gw: &TestGateway) -> std::net::SocketAddr {
    gw.client_url
        .trim_start_matches("http://")
        .parse()
        .expect("client address")
}

#[tokio::test]
async fn a_websocket_token_in_the_subprotocol_is_accepted_taken_out_and_the_app_protocol_answered()
{
    let (gw, ws) = start().await;
    let login = gw.login_anon().await;
    let (mut stream, head) = websocket::handshake(
        ws_addr(&gw),
        "/ws/chat",
        &format!(
            "Sec-WebSocket-Protocol: chat.v2, sessiongate.bearer.{}, chat.v1\r\n",
            login.access_token
        ),
    )
    .await;
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert_eq!(
        websocket::header(&head, "sec-websocket-protocol").as_deref(),
        Some("chat.v2"),
        "the upstream's choice among the app's protocols:\n{head}"
    );
    assert_eq!(
        websocket::header(&head, "sec-websocket-accept"),
        Some(websocket::accept_key("dGhlIHNhbXBsZSBub25jZQ=="))
    );
    assert!(!head.contains(&login.access_token));
    assert_eq!(
        websocket::echo_text(&mut stream, "hello over the tunnel").await,
        "hello over the tunnel"
    );
    let upstream = ws.heads().pop().expect("upstream saw the handshake");
    assert!(
        upstream.contains("\r\nsec-websocket-protocol: chat.v2, chat.v1\r\n"),
        "{upstream}"
    );
    assert!(
        upstream.contains(&format!("\r\nx-user-id: {}\r\n", login.user_id)),
        "{upstream}"
    );
    assert!(!upstream.contains("sessiongate.bearer"), "{upstream}");
    assert!(!upstream.contains(&login.access_token.to_ascii_lowercase()));
}

#[tokio::test]
async fn websocket_token_entries_that_cannot_be_used_are_refused_and_never_forwarded() {
    let (gw, ws) = start().await;
    let login = gw.login_anon().await;
    let other = gw.login_anon().await;
    let token = &login.access_token;
    let cases = [
        // Alone: a browser would fail the handshake, the answer cannot name the token.
        (
            "/ws/chat",
            format!("Sec-WebSocket-Protocol: sessiongate.bearer.{token}\r\n"),
            "400",
        ),
        (
            "/ws/chat",
            format!(
                "Sec-WebSocket-Protocol: chat, sessiongate.bearer.{token}, sessiongate.bearer.{}\r\n",
                other.access_token
            ),
            "401",
        ),
        (
            "/ws/chat",
            "Sec-WebSocket-Protocol: chat, sessiongate.bearer.not.a.jwt\r\n".to_owned(),
            "401",
        ),
        (
            "/ws/chat",
            format!(
                "Sec-WebSocket-Protocol: chat, sessiongate.bearer.{token}\r\nAuthorization: Bearer {}\r\n",
                other.access_token
            ),
            "401",
        ),
        // A route that did not opt in: the entry is no credential there.
        (
            "/items",
            format!("Sec-WebSocket-Protocol: chat, sessiongate.bearer.{token}\r\n"),
            "401",
        ),
        // Query token on a route that did not opt in.
        ("/items?access_token=TOKEN", String::new(), "401"),
    ];
    for (target, extra, status) in cases {
        let target = target.replace("TOKEN", token);
        let (_stream, head) = websocket::handshake(ws_addr(&gw), &target, &extra).await;
        assert!(
            head.starts_with(&format!("HTTP/1.1 {status}")),
            "{target} {extra}: {head}"
        );
    }
    assert!(ws.heads().is_empty(), "{:?}", ws.heads());
    assert_eq!(gw.upstream.request_count(), 0);
    // On a route that did not opt in, an entry with a good Authorization header is still taken
    // out: the token never reaches the upstream that way.
    let response = gw
        .http
        .get(gw.url("/items"))
        .bearer_auth(token)
        .header(
            "sec-websocket-protocol",
            format!("chat, sessiongate.bearer.{token}"),
        )
        .send()
        .await
        .expect("get");
    let echo: Value = response.json().await.expect("echo");
    assert_eq!(echo["headers"]["sec-websocket-protocol"], "chat");
}

#[tokio::test]
async fn a_query_token_is_accepted_where_a_route_opts_in_and_taken_out_of_the_query() {
    let (gw, ws) = start().await;
    let login = gw.login_anon().await;
    let target = format!(
        "/ws/feed?since=5&access_token={}&x=%20y",
        login.access_token
    );
    let (mut stream, head) = websocket::handshake(ws_addr(&gw), &target, "").await;
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert_eq!(websocket::echo_text(&mut stream, "ping").await, "ping");
    let upstream = ws.heads().pop().expect("upstream saw the handshake");
    assert!(
        upstream.starts_with("get /ws/feed?since=5&x=%20y http/1.1\r\n"),
        "{upstream}"
    );
    assert!(
        upstream.contains(&format!("\r\nx-user-id: {}\r\n", login.user_id)),
        "{upstream}"
    );
    // A query token that does not verify is refused, like a bad header.
    let (_stream, head) =
        websocket::handshake(ws_addr(&gw), "/ws/feed?access_token=forged", "").await;
    assert!(head.starts_with("HTTP/1.1 401"), "{head}");
    assert_eq!(ws.heads().len(), 1);
}

// ---------------------------------------------------------------- the real binary

/// Longest wait for a log line or a reload; a guard against hanging, not a synchronisation.
const GUARD: Duration = Duration::from_secs(15);

const SECRETS: [(&str, &str); 2] = [
    ("SESSIONGATE_ADMIN__API_KEY", ADMIN_KEY),
    ("SESSIONGATE_TOKENS__SIGNING_KEY", SIGNING_SECRET),
];

fn write_config(dir: &Path, upstream: &str, extra: &str) -> std::path::PathBuf {
    let path = dir.join("sessiongate.toml");
    let text = config_text(&dir.join("sessiongate.db"), upstream, extra);
    std::fs::write(&path, text).expect("write config");
    path
}

/// Waits until the gateway's stderr holds `count` lines containing `needle`.
async fn wait_for_lines(gw: &GatewayProcess, needle: &str, count: usize) -> String {
    let deadline = tokio::time::Instant::now() + GUARD;
    loop {
        let log = gw.stderr.lock().expect("stderr").clone();
        if log.lines().filter(|l| l.contains(needle)).count() >= count {
            return log;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no {count} lines with {needle:?} in:\n{log}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn browser_tokens_never_reach_a_log_line() {
    let ws = WsUpstream::start().await;
    let upstream = EchoUpstream::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let extra = format!("[log]\nformat = \"json\"\n{}", cors_toml(&ws.url()));
    let config = write_config(dir.path(), &upstream.url(), &extra);
    let mut env = SECRETS.to_vec();
    // Our own debug lines too, whatever the environment running the tests says.
    env.push(("SESSIONGATE_LOG", "sessiongate=debug,info"));
    let gw = GatewayProcess::spawn(&config, &env).await;
    let http = reqwest::Client::new();
    let login: Value = http
        .post(gw.app_api("/auth/providers/anon-user/login"))
        .send()
        .await
        .expect("login")
        .json()
        .await
        .expect("login json");
    let token = login["access_token"].as_str().expect("token").to_owned();
    let addr: std::net::SocketAddr = gw
        .client_url
        .trim_start_matches("http://")
        .parse()
        .expect("addr");
    let (mut stream, head) = websocket::handshake(
        addr,
        "/ws/logged-protocol",
        &format!("Sec-WebSocket-Protocol: chat, sessiongate.bearer.{token}\r\n"),
    )
    .await;
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert_eq!(websocket::echo_text(&mut stream, "x").await, "x");
    let (_s, head) =
        websocket::handshake(addr, &format!("/ws/logged-query?access_token={token}"), "").await;
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    // Refused ones too: the token entry alone, and a query token on a route without opt-in.
    let (_s, head) = websocket::handshake(
        addr,
        "/ws/logged-alone",
        &format!("Sec-WebSocket-Protocol: sessiongate.bearer.{token}\r\n"),
    )
    .await;
    assert!(head.starts_with("HTTP/1.1 400"), "{head}");
    let (_s, head) =
        websocket::handshake(addr, &format!("/logged-refused?access_token={token}"), "").await;
    assert!(head.starts_with("HTTP/1.1 401"), "{head}");

    let log = wait_for_lines(&gw, "/logged-", 4).await;
    let signature = token.rsplit('.').next().expect("signature");
    for line in log.lines() {
        assert!(!line.contains(&token), "token in a log line: {line}");
        assert!(
            !line.contains(signature),
            "token signature in a log line: {line}"
        );
        assert!(
            !line.contains("access_token="),
            "query token in a log line: {line}"
        );
        assert!(
            !line.contains("sessiongate.bearer"),
            "protocol in a log line: {line}"
        );
    }
    let alone = log
        .lines()
        .find(|l| l.contains("/ws/logged-alone"))
        .expect("access line");
    assert!(alone.contains("websocket_token_alone"), "{alone}");
}

#[tokio::test]
async fn a_reload_applies_new_cors_origins() {
    let upstream = EchoUpstream::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let cors = |origin: &str| format!("[cors]\nallowed_origins = [\"{origin}\"]\n");
    let config = write_config(dir.path(), &upstream.url(), &cors(APP_ORIGIN));
    let gw = GatewayProcess::spawn(&config, &SECRETS).await;
    let http = reqwest::Client::new();
    let status = |origin: &'static str| {
        let http = http.clone();
        let url = format!("{}/items", gw.client_url);
        async move {
            http.request(Method::OPTIONS, url)
                .header("origin", origin)
                .header("access-control-request-method", "GET")
                .send()
                .await
                .expect("preflight")
                .status()
                .as_u16()
        }
    };
    assert_eq!(status(APP_ORIGIN).await, 204);
    assert_eq!(status("https://next.example").await, 403);
    write_config(dir.path(), &upstream.url(), &cors("https://next.example"));
    let pid = gw.child.id().expect("gateway runs");
    let kill = tokio::process::Command::new("kill")
        .args(["-HUP", &pid.to_string()])
        .status()
        .await
        .expect("kill");
    assert!(kill.success());
    wait_for_lines(&gw, "config reloaded", 1).await;
    assert_eq!(status("https://next.example").await, 204);
    assert_eq!(status(APP_ORIGIN).await, 403);
}

#[test]
fn the_readme_browser_apps_config_loads_as_shown() {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("README.md");
    let section = readme
        .split_once("\n## Browser apps\n")
        .expect("README has a Browser apps section")
        .1;
    let block = section
        .split_once("```toml\n")
        .and_then(|(_, rest)| rest.split_once("\n```"))
        .expect("the section shows a toml block")
        .0;
    let text = format!("[app]\nid = \"{APP_ID}\"\n{block}\n");
    let config = sessiongate::config::from_toml_str(
        &text,
        &std::collections::BTreeMap::new(),
        Path::new("."),
    )
    .expect("the README's config loads");
    assert_eq!(
        config.cors.allowed_origins,
        ["https://app.example.com", "http://localhost:5173"]
    );
    assert!(config.routes[0].websocket_token_protocol);
}
