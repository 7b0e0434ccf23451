//! The signed identity assertion (`identity_headers.assertion`) end to end: a real gateway in
//! front of the echo upstream, the JWKS fetched from the gateway, and every assertion verified
//! by jose (Node; `tests/assertion/verify.mjs`), a JWT library independent of the gateway.
//! The replica test needs `SESSIONGATE_TEST_POSTGRES_URL` (fails without it in CI).

mod common;
#[path = "support/node.rs"]
mod node;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const HEADER: &str = "x-sessiongate-assertion";

fn options() -> Options {
    Options::default().toml(
        r#"
[identity_headers]
assertion = "X-Sessiongate-Assertion"

[[routes]]
prefix = "/orders"
audience = "orders-api"
"#,
    )
}

fn harness_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/assertion")
}

/// Whether jose can run here; says the test was skipped (fails in CI) when it cannot.
fn jose_ready(test: &str) -> bool {
    if !node::have("node") || !node::have("npm") {
        skip_without("node/npm", test);
        return false;
    }
    node::npm_ci(&harness_dir(), "node_modules/jose/package.json");
    true
}

/// Verifies `(token, audience)` pairs with jose against the JWKS at `client_url`.
async fn jose_verify(client_url: &str, tokens: &[(&str, &str)]) -> Vec<Value> {
    let input: Vec<Value> = tokens
        .iter()
        .map(|(token, audience)| json!({"token": token, "audience": audience}))
        .collect();
    let mut child = tokio::process::Command::new("node")
        .arg("verify.mjs")
        .arg(format!("{client_url}/.well-known/jwks.json"))
        .arg(APP_ID)
        .current_dir(harness_dir())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("node runs");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin
        .write_all(Value::Array(input).to_string().as_bytes())
        .await
        .expect("write tokens");
    drop(stdin);
    let output = child.wait_with_output().await.expect("verifier ran");
    assert!(output.status.success(), "verify.mjs failed");
    serde_json::from_slice(&output.stdout).expect("verifier answers JSON")
}

fn assertion_of(echo: &Value) -> String {
    echo["headers"][HEADER]
        .as_str()
        .unwrap_or_else(|| panic!("the upstream saw no assertion: {echo}"))
        .to_owned()
}

async fn jwks(http: &reqwest::Client, client_url: &str) -> (reqwest::header::HeaderMap, Value) {
    let response = http
        .get(format!("{client_url}/.well-known/jwks.json"))
        .send()
        .await
        .expect("GET jwks");
    assert_eq!(response.status(), 200);
    let headers = response.headers().clone();
    (headers, response.json().await.expect("jwks json"))
}

fn kids(jwks: &Value) -> Vec<String> {
    jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| k["kid"].as_str().expect("kid").to_owned())
        .collect()
}

#[tokio::test]
async fn the_upstream_gets_an_assertion_that_jose_verifies_against_the_published_jwks() {
    if !jose_ready("the_upstream_gets_an_assertion_that_jose_verifies") {
        return;
    }
    let gw = TestGateway::start_with(options()).await;
    let login = gw.login_anon().await;
    let default_route = gw.echo("/data", &login.access_token).await;
    let orders = gw.echo("/orders/7", &login.access_token).await;
    let upstream_aud = gw.upstream.url();

    let (headers, published) = jwks(&gw.http, &gw.client_url).await;
    assert_eq!(headers["cache-control"], "public, max-age=60");
    assert_eq!(headers["content-type"], "application/json");
    for key in published["keys"].as_array().expect("keys") {
        assert_eq!(key["kty"], "EC");
        assert_eq!(key["alg"], "ES256");
        assert!(key.get("d").is_none(), "a private key is published: {key}");
    }

    let data = assertion_of(&default_route);
    let order = assertion_of(&orders);
    let results = jose_verify(
        &gw.client_url,
        &[
            (&data, &upstream_aud),
            (&order, "orders-api"),
            // Audience-scoped: each route's assertion is refused for the other's audience.
            (&data, "orders-api"),
            (&order, &upstream_aud),
        ],
    )
    .await;
    for (result, echo) in results.iter().take(2).zip([&default_route, &orders]) {
        assert_eq!(result["ok"], true, "{result}");
        let claims = &result["payload"];
        assert_eq!(claims["sub"], login.user_id.as_str());
        assert_eq!(claims["sub"], echo["headers"]["x-user-id"]);
        assert_eq!(claims["sid"], echo["headers"]["x-session-id"]);
        assert_eq!(claims["provider"], "anon-user");
        assert_eq!(claims["iss"], APP_ID);
        let lifetime = claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap();
        assert!(lifetime > 0 && lifetime <= 60, "exp - iat = {lifetime}");
        assert!(kids(&published).contains(&result["kid"].as_str().unwrap().to_owned()));
    }
    assert_eq!(results[0]["payload"]["aud"], upstream_aud.as_str());
    assert_eq!(results[1]["payload"]["aud"], "orders-api");
    for refused in &results[2..] {
        assert_eq!(refused["ok"], false, "{refused}");
        assert_eq!(refused["error"], "ERR_JWT_CLAIM_VALIDATION_FAILED");
    }
    // An unauthenticated request on an open route carries no assertion.
    let open = gw
        .http
        .get(gw.url("/public/x"))
        .send()
        .await
        .expect("public");
    let open: Value = open.json().await.expect("echo");
    assert!(open["headers"].get(HEADER).is_none(), "{open}");
}

/// One raw HTTP/1.1 request (a client library would tidy up the headers); returns the
/// upstream's echo.
async fn raw_echo(client_url: &str, head: &str) -> Value {
    let addr = client_url.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream.write_all(head.as_bytes()).await.expect("send");
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.expect("read");
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    let body = &text[text.find('{').expect("a JSON body")..=text.rfind('}').expect("end")];
    serde_json::from_str(body).expect("echo json")
}

#[tokio::test]
async fn a_client_sent_assertion_never_reaches_the_upstream() {
    let gw = TestGateway::start_with(options()).await;
    let login = gw.login_anon().await;
    let forged = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhZG1pbiJ9.";
    for (path, authorization) in [
        (
            "/data",
            format!("Authorization: Bearer {}\r\n", login.access_token),
        ),
        ("/public/x", String::new()),
    ] {
        let head = format!(
            "GET {path} HTTP/1.1\r\nHost: gw\r\n{authorization}\
             X-Sessiongate-Assertion: {forged}\r\n\
             x_sessiongate_assertion: {forged}\r\n\
             X-SESSIONGATE-ASSERTION: {forged}\r\n\
             Connection: close, X-Sessiongate-Assertion\r\n\r\n"
        );
        let echo = raw_echo(&gw.client_url, &head).await;
        let headers = echo["headers"].as_object().expect("headers");
        assert!(
            !headers
                .values()
                .any(|v| v.as_str().is_some_and(|v| v.contains(forged))),
            "a forged assertion reached the upstream on {path}: {echo}"
        );
        assert!(!headers.contains_key("x_sessiongate_assertion"), "{echo}");
        if authorization.is_empty() {
            assert!(!headers.contains_key(HEADER), "{echo}");
        } else {
            // The gateway's own survives the Connection: trick, alone.
            let ours = headers[HEADER].as_str().expect("ours");
            assert!(!ours.contains(','), "one value only: {ours}");
            assert_eq!(jwt_payload(ours)["sub"], login.user_id.as_str());
        }
    }
}

#[tokio::test]
async fn with_assertions_off_nothing_is_signed_and_the_jwks_path_is_the_upstreams() {
    let gw = TestGateway::start().await;
    let login = gw.login_anon().await;
    let echo = gw.echo("/.well-known/jwks.json", &login.access_token).await;
    assert_eq!(
        echo["path"], "/.well-known/jwks.json",
        "proxied, not answered"
    );
    assert!(echo["headers"].get(HEADER).is_none());
    let rotate = gw
        .admin(reqwest::Method::POST, "/security/assertion_keys")
        .send()
        .await
        .expect("rotate");
    assert_error(rotate, 409, "InvalidParameter").await;
    let listed = gw
        .admin(reqwest::Method::GET, "/security/assertion_keys")
        .send()
        .await
        .expect("list");
    assert_eq!(assert_json_status(listed, 200).await, json!([]));
}

#[tokio::test]
async fn after_a_rotation_the_jwks_holds_both_keys_and_new_assertions_verify() {
    if !jose_ready("after_a_rotation_the_jwks_holds_both_keys") {
        return;
    }
    let gw = TestGateway::start_with(options()).await;
    let (_, before) = jwks(&gw.http, &gw.client_url).await;
    let old = kids(&before);
    assert_eq!(old.len(), 1);

    let rotated = gw
        .admin(reqwest::Method::POST, "/security/assertion_keys")
        .send()
        .await
        .expect("rotate");
    let rotated = assert_json_status(rotated, 201).await;
    let new_kid = rotated["kid"].as_str().expect("kid").to_owned();
    let now = sessiongate::ids::now();
    let active_from = rotated["active_from"].as_i64().expect("active_from");
    assert!(
        active_from >= now + 60,
        "signs only after the JWKS max-age: {rotated}"
    );

    let (_, after) = jwks(&gw.http, &gw.client_url).await;
    assert_eq!(kids(&after), vec![old[0].clone(), new_kid.clone()]);
    let listed = gw
        .admin(reqwest::Method::GET, "/security/assertion_keys")
        .send()
        .await
        .expect("list");
    let listed = assert_json_status(listed, 200).await;
    assert_eq!(listed[0]["signing"], true);
    assert_eq!(listed[1]["kid"], new_kid.as_str());
    assert_eq!(listed[1]["signing"], false, "published before it signs");

    let login = gw.login_anon().await;
    let assertion = assertion_of(&gw.echo("/orders", &login.access_token).await);
    let results = jose_verify(&gw.client_url, &[(&assertion, "orders-api")]).await;
    assert_eq!(results[0]["ok"], true, "{}", results[0]);
    assert_eq!(
        results[0]["kid"],
        old[0].as_str(),
        "the old key signs until the lead is over"
    );
}

/// A replica on the shared PostgreSQL with assertions on.
async fn spawn_asserting_replica(
    dir: &std::path::Path,
    name: &str,
    store_url: &str,
    upstream: &str,
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
[identity_headers]
assertion = "X-Sessiongate-Assertion"
"#
    );
    std::fs::write(&config, text).expect("write config");
    GatewayProcess::spawn(
        &config,
        &[
            ("SESSIONGATE_ADMIN__API_KEY", ADMIN_KEY),
            ("SESSIONGATE_LOG", "warn"),
        ],
    )
    .await
}

async fn proxied_assertion(
    http: &reqwest::Client,
    gateway: &GatewayProcess,
    token: &str,
) -> String {
    let response = http
        .get(format!("{}/data", gateway.client_url))
        .bearer_auth(token)
        .send()
        .await
        .expect("proxied");
    assert_eq!(response.status(), 200);
    assertion_of(&response.json().await.expect("echo"))
}

#[tokio::test]
async fn replicas_on_postgres_publish_one_jwks_and_verify_each_others_assertions() {
    let Some(base) = postgres_url_or_skip() else {
        return;
    };
    if !jose_ready("replicas_on_postgres_publish_one_jwks") {
        return;
    }
    let (store_url, schema) = fresh_pg_schema(&base).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let upstream = EchoUpstream::start().await;
    let a = spawn_asserting_replica(dir.path(), "assert_a", &store_url, &upstream.url()).await;
    let b = spawn_asserting_replica(dir.path(), "assert_b", &store_url, &upstream.url()).await;
    let http = reqwest::Client::new();

    let (_, from_a) = jwks(&http, &a.client_url).await;
    let (_, from_b) = jwks(&http, &b.client_url).await;
    assert_eq!(from_a, from_b, "both replicas publish the same keys");

    let login: Login = http
        .post(a.app_api("/auth/providers/anon-user/login"))
        .send()
        .await
        .expect("login")
        .json()
        .await
        .expect("login json");
    let by_a = proxied_assertion(&http, &a, &login.access_token).await;
    let by_b = proxied_assertion(&http, &b, &login.access_token).await;
    let aud = upstream.url();
    // Each replica's assertion verifies with the JWKS of either (a load balancer may send the
    // JWKS fetch anywhere).
    for jwks_from in [&a.client_url, &b.client_url] {
        let results = jose_verify(jwks_from, &[(&by_a, &aud), (&by_b, &aud)]).await;
        for result in &results {
            assert_eq!(result["ok"], true, "{result}");
            assert_eq!(result["payload"]["sub"], login.user_id.as_str());
        }
    }

    // A rotation on A is published by B within its key reload.
    let rotated = http
        .post(a.admin_api("/security/assertion_keys"))
        .bearer_auth(ADMIN_KEY)
        .send()
        .await
        .expect("rotate");
    let rotated = assert_json_status(rotated, 201).await;
    let kid = rotated["kid"].as_str().expect("kid").to_owned();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (_, from_b) = jwks(&http, &b.client_url).await;
        if kids(&from_b).contains(&kid) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "B never published A's rotated key"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop((a, b));
    drop_pg_schema(&base, &schema).await;
}

/// `sessiongate keys …-assertion` against `gw`'s admin API; returns stdout.
async fn cli(gw: &TestGateway, args: &[&str]) -> String {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_sessiongate"))
        .args(args)
        .args([
            "--url",
            &gw.admin_url,
            "--admin-key",
            ADMIN_KEY,
            "--app",
            APP_ID,
        ])
        .arg("--config")
        .arg(gw.dir.path().join("no-config.toml"))
        .output()
        .await
        .expect("sessiongate runs");
    assert!(
        output.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("utf-8")
}

#[tokio::test]
async fn the_cli_rotates_and_lists_assertion_keys_without_private_halves() {
    let gw = TestGateway::start_with(options()).await;
    let rotated: Value =
        serde_json::from_str(&cli(&gw, &["keys", "rotate-assertion", "--json"]).await)
            .expect("json");
    let kid = rotated["kid"].as_str().expect("kid");
    let listed: Value =
        serde_json::from_str(&cli(&gw, &["keys", "list-assertion", "--json"]).await).expect("json");
    let listed = listed.as_array().expect("array");
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[1]["kid"], kid);
    for key in listed {
        let mut fields: Vec<&String> = key.as_object().expect("object").keys().collect();
        fields.sort();
        assert_eq!(fields, ["active_from", "kid", "signing"], "{key}");
    }
    let table = cli(&gw, &["keys", "list-assertion"]).await;
    assert!(table.contains(kid), "{table}");
}
