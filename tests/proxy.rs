//! The authenticating reverse proxy, attacked from the outside: forged identity headers, bad
//! tokens, path tricks, hop-by-hop headers, a dead or slow upstream, garbage input, big and
//! streamed bodies, HTTP/2 and upgrades (SPEC §4, §7).
//!
//! Requests whose exact bytes matter go over a raw TCP socket (`raw_request` at the bottom):
//! reqwest's `url` resolves `/public/../private`, `/public/%2e%2e/private`, `/public/.%2e/private`
//! and `/public\..\private` to `/private` before sending, so those would never test the gateway.
//! Header spellings, non-UTF-8 values and `Connection:` tricks go raw too.

mod common;

use std::net::SocketAddr;
use std::sync::atomic::Ordering;

use base64::Engine;
use bytes::Bytes;
use common::*;
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The identity headers the harness gateway sets (default names).
const IDENTITY: [&str; 3] = ["x-user-id", "x-session-id", "x-user-provider"];

// --- identity headers ---------------------------------------------------------------------

#[tokio::test]
async fn forged_identity_headers_in_any_spelling_are_replaced_by_the_verified_identity() {
    let gw = TestGateway::start().await;
    let login = gw.login_anon().await;
    let sid = session_id(&login.access_token);
    let forged = "X-User-Id: admin\r\n\
                  x-USER-id: root\r\n\
                  X_User_Id: admin\r\n\
                  x_session_id: forged-session\r\n\
                  X-Session-Id: forged-session\r\n\
                  X-User-Provider: custom-function\r\n\
                  x_user_provider: api-key\r\n";

    let response = raw_get(
        &gw,
        "/data/forged",
        &format!("Authorization: Bearer {}\r\n{forged}", login.access_token),
    )
    .await;
    assert_eq!(response.status, 200, "{}", response.text());
    let seen = response.json();
    assert_eq!(
        identity_seen(&seen),
        vec![
            ("x-session-id".to_owned(), sid.clone()),
            ("x-user-id".to_owned(), login.user_id.clone()),
            ("x-user-provider".to_owned(), "anon-user".to_owned()),
        ],
        "exactly one verified value per identity header: {seen}"
    );
}

#[tokio::test]
async fn identity_headers_named_in_connection_cannot_remove_or_forge_the_verified_identity() {
    let gw = TestGateway::start().await;
    let login = gw.login_anon().await;
    let sid = session_id(&login.access_token);
    let headers = format!(
        "Authorization: Bearer {}\r\n\
         Connection: X-User-Id, x-session-id\r\n\
         Connection: X-User-Provider\r\n\
         X-User-Id: admin\r\n\
         X-Session-Id: forged-session\r\n\
         X-User-Provider: custom-function\r\n",
        login.access_token
    );

    let response = raw_get(&gw, "/data/connection-trick", &headers).await;
    assert_eq!(response.status, 200, "{}", response.text());
    let seen = response.json();
    assert_eq!(
        identity_seen(&seen),
        vec![
            ("x-session-id".to_owned(), sid),
            ("x-user-id".to_owned(), login.user_id.clone()),
            ("x-user-provider".to_owned(), "anon-user".to_owned()),
        ],
        "{seen}"
    );
}

#[tokio::test]
async fn public_route_forwards_no_identity_headers_at_all() {
    let gw = TestGateway::start().await;
    let forged = "X-User-Id: admin\r\n\
                  x-USER-id: root\r\n\
                  X_User_Id: admin\r\n\
                  x_session_id: forged-session\r\n\
                  X-Session-Id: forged-session\r\n\
                  X-User-Provider: custom-function\r\n\
                  Connection: X-User-Id\r\n";

    let response = raw_get(&gw, "/public/whoami", forged).await;
    assert_eq!(response.status, 200, "{}", response.text());
    let seen = response.json();
    assert_eq!(seen["path"], "/public/whoami");
    assert_eq!(identity_seen(&seen), vec![], "{seen}");
}

// --- token failures -----------------------------------------------------------------------

#[tokio::test]
async fn every_kind_of_bad_token_is_invalid_session_and_never_reaches_the_upstream() {
    let gw = TestGateway::start().await;
    let login = gw.login_anon().await;
    let kid = jwt_kid(&login.access_token);
    let claims = jwt_payload(&login.access_token);
    let now = unix_now();

    // Control: the forging helpers produce a token the gateway accepts, so each refusal below
    // is about the one thing that case changes.
    let control = forge_hs256(
        &with(&claims, json!({"iat": now, "exp": now + 600})),
        &kid,
        SIGNING_SECRET.as_bytes(),
    );
    let seen = gw.echo("/data/control", &control).await;
    assert_eq!(seen["headers"]["x-user-id"], login.user_id.as_str());

    let expired = forge_hs256(
        &with(&claims, json!({"iat": now - 3600, "exp": now - 1800})),
        &kid,
        SIGNING_SECRET.as_bytes(),
    );
    let tampered = {
        let parts: Vec<&str> = login.access_token.split('.').collect();
        let payload = b64(&with(&claims, json!({"sub": "000000000000000000000000"})).to_string());
        format!("{}.{payload}.{}", parts[0], parts[2])
    };
    let none_header = b64(&json!({"alg": "none", "typ": "JWT", "kid": kid}).to_string());
    let none_payload = b64(&claims.to_string());
    let alg_none_with_dot = format!("{none_header}.{none_payload}.");
    let alg_none_without_dot = format!("{none_header}.{none_payload}");
    let rs256 = {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        header.kid = Some(kid.clone());
        let key =
            jsonwebtoken::EncodingKey::from_rsa_pem(include_bytes!("fixtures/rsa_private.pem"))
                .expect("RSA fixture");
        jsonwebtoken::encode(&header, &claims, &key).expect("RS256 encode")
    };
    let hs256_with_rsa_public_key =
        forge_hs256(&claims, &kid, include_bytes!("fixtures/rsa_public.pem"));
    let foreign_kid = forge_hs256(&claims, "foreign-kid", SIGNING_SECRET.as_bytes());
    let other_issuer = forge_hs256(
        &with(&claims, json!({"iss": "https://evil.example"})),
        &kid,
        SIGNING_SECRET.as_bytes(),
    );
    let refresh_typ = forge_hs256(
        &with(&claims, json!({"typ": "refresh"})),
        &kid,
        SIGNING_SECRET.as_bytes(),
    );

    let before = gw.upstream.request_count();
    let cases: Vec<(&str, Vec<(&str, String)>)> = vec![
        ("no token", vec![]),
        ("empty bearer", vec![("authorization", "Bearer".to_owned())]),
        (
            "bearer and a blank",
            vec![("authorization", "Bearer ".to_owned())],
        ),
        (
            "garbage",
            vec![("authorization", "Bearer not-a-jwt".to_owned())],
        ),
        (
            "garbage with dots",
            vec![("authorization", "Bearer a.b.c".to_owned())],
        ),
        (
            "expired",
            vec![("authorization", format!("Bearer {expired}"))],
        ),
        (
            "tampered payload",
            vec![("authorization", format!("Bearer {tampered}"))],
        ),
        (
            "alg none with trailing dot",
            vec![("authorization", format!("Bearer {alg_none_with_dot}"))],
        ),
        (
            "alg none without trailing dot",
            vec![("authorization", format!("Bearer {alg_none_without_dot}"))],
        ),
        (
            "RS256 with the gateway's kid",
            vec![("authorization", format!("Bearer {rs256}"))],
        ),
        (
            "HS256 keyed with the RSA public key",
            vec![(
                "authorization",
                format!("Bearer {hs256_with_rsa_public_key}"),
            )],
        ),
        (
            "foreign kid",
            vec![("authorization", format!("Bearer {foreign_kid}"))],
        ),
        (
            "other issuer",
            vec![("authorization", format!("Bearer {other_issuer}"))],
        ),
        (
            "typ refresh",
            vec![("authorization", format!("Bearer {refresh_typ}"))],
        ),
        (
            "refresh token as access token",
            vec![("authorization", format!("Bearer {}", login.refresh_token))],
        ),
        (
            "expired via Session header",
            vec![("session", expired.clone())],
        ),
    ];
    for (label, headers) in cases {
        let mut request = gw.http.get(gw.url("/data/secret"));
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let response = request.send().await.expect("request");
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        assert_eq!(status, 401, "{label}: {body}");
        let body: Value =
            serde_json::from_str(&body).unwrap_or_else(|_| panic!("{label}: not JSON: {body}"));
        assert_eq!(body["error_code"], "InvalidSession", "{label}: {body}");
        assert_eq!(
            gw.upstream.request_count(),
            before,
            "{label} reached the upstream"
        );
    }
}

#[tokio::test]
async fn session_header_works_like_bearer() {
    let gw = TestGateway::start().await;
    let login = gw.login_anon().await;
    let response = gw
        .http
        .get(gw.url("/data/session"))
        .header("Session", &login.access_token)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    let seen: Value = response.json().await.expect("echo json");
    assert_eq!(seen["headers"]["x-user-id"], login.user_id.as_str());
    assert_eq!(
        seen["headers"]["x-session-id"],
        session_id(&login.access_token).as_str()
    );

    // Both headers with the same token are fine.
    let response = gw
        .http
        .get(gw.url("/data/both"))
        .bearer_auth(&login.access_token)
        .header("Session", &login.access_token)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn bearer_and_session_with_different_tokens_are_refused() {
    let gw = TestGateway::start().await;
    let first = gw.login_anon().await;
    let second = gw.login_anon().await;
    let before = gw.upstream.request_count();
    let response = gw
        .http
        .get(gw.url("/data/conflict"))
        .bearer_auth(&first.access_token)
        .header("Session", &second.access_token)
        .send()
        .await
        .expect("request");
    assert_error(response, 401, "InvalidSession").await;
    assert_eq!(gw.upstream.request_count(), before);
}

// --- sign-out and revocation of cached tokens ---------------------------------------------

#[tokio::test]
async fn logout_refuses_the_cached_access_token_at_once_and_spares_other_sessions() {
    let gw = TestGateway::start().await;
    gw.register("ada@example.com", "correct horse").await;
    let first = gw.login_userpass("ada@example.com", "correct horse").await;
    let second = gw.login_userpass("ada@example.com", "correct horse").await;
    assert_eq!(first.user_id, second.user_id);

    let checks = gw.signature_checks();
    gw.echo("/data/one", &first.access_token).await;
    assert_eq!(
        gw.signature_checks(),
        checks + 1,
        "first use verifies the signature"
    );
    gw.echo("/data/two", &first.access_token).await;
    assert_eq!(
        gw.signature_checks(),
        checks + 1,
        "second use is a cache hit"
    );

    let response = gw.logout(&first.refresh_token).await;
    assert_eq!(response.status(), 204);

    let before = gw.upstream.request_count();
    assert_error(
        gw.get_upstream("/data/three", &first.access_token).await,
        401,
        "InvalidSession",
    )
    .await;
    assert_eq!(gw.upstream.request_count(), before);
    let seen = gw.echo("/data/other-session", &second.access_token).await;
    assert_eq!(
        seen["headers"]["x-session-id"],
        session_id(&second.access_token).as_str()
    );
}

#[tokio::test]
async fn admin_user_logout_refuses_every_cached_token_of_the_user() {
    let gw = TestGateway::start().await;
    gw.register("bob@example.com", "correct horse").await;
    let first = gw.login_userpass("bob@example.com", "correct horse").await;
    let second = gw.login_userpass("bob@example.com", "correct horse").await;
    let bystander = gw.login_anon().await;
    for login in [&first, &second, &bystander] {
        gw.echo("/data/warm", &login.access_token).await;
    }

    let response = gw
        .admin(
            reqwest::Method::PUT,
            &format!("/users/{}/logout", first.user_id),
        )
        .send()
        .await
        .expect("admin logout");
    assert_eq!(response.status(), 204);

    let before = gw.upstream.request_count();
    for login in [&first, &second] {
        assert_error(
            gw.get_upstream("/data/after", &login.access_token).await,
            401,
            "InvalidSession",
        )
        .await;
    }
    assert_eq!(gw.upstream.request_count(), before);
    gw.echo("/data/bystander", &bystander.access_token).await;

    let fresh = gw.login_userpass("bob@example.com", "correct horse").await;
    let seen = gw.echo("/data/fresh", &fresh.access_token).await;
    assert_eq!(seen["headers"]["x-user-id"], first.user_id.as_str());
}

#[tokio::test]
async fn cache_hit_needs_neither_store_nor_signature_check() {
    let gw = TestGateway::start().await;
    let login = gw.login_anon().await;
    gw.echo("/data/miss", &login.access_token).await;
    let checks = gw.signature_checks();
    let hits = gw
        .state
        .auth
        .tokens()
        .stats()
        .cache_hits
        .load(Ordering::Relaxed);

    gw.state.auth.store().close().await;

    let seen = gw.echo("/data/hit", &login.access_token).await;
    assert_eq!(seen["headers"]["x-user-id"], login.user_id.as_str());
    assert_eq!(
        gw.signature_checks(),
        checks,
        "a cache hit does no signature check"
    );
    assert_eq!(
        gw.state
            .auth
            .tokens()
            .stats()
            .cache_hits
            .load(Ordering::Relaxed),
        hits + 1
    );

    // The store really is gone: what needs it is 503, not 500.
    assert_error(
        gw.refresh(&login.refresh_token).await,
        503,
        "ServiceUnavailable",
    )
    .await;
}

// --- path normalization -------------------------------------------------------------------

#[tokio::test]
async fn traversal_out_of_a_public_prefix_does_not_reach_the_upstream_without_a_token() {
    let gw = TestGateway::start().await;
    // Control: the public route really is open.
    let response = raw_get(&gw, "/public/x", "").await;
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.json()["path"], "/public/x");

    for path in [
        "/public/../private",
        "/public/%2e%2e/private",
        "/public/%2E%2E/private",
        "/public/.%2e/private",
        "/public/%2e./private",
        "/public/./../private",
        "//private",
        "/public/..;/private",
        "/public/%2e%2e;x=1/private",
        "/public/../../../private",
        "/publicity",
    ] {
        let before = gw.upstream.request_count();
        let response = raw_get(&gw, path, "").await;
        assert!(
            matches!(response.status, 400 | 401),
            "{path}: {} {}",
            response.status,
            response.text()
        );
        assert_json_error(&response, path);
        assert_eq!(
            gw.upstream.request_count(),
            before,
            "{path} reached the upstream"
        );
    }
}

/// Tomcat's `..;` is refused in plain form; an upstream that decodes `%3B` before splitting
/// off path parameters reads `..%3B` the same way, so it must not be forwarded either.
#[tokio::test]
async fn encoded_semicolon_dot_segment_is_refused_like_the_plain_one() {
    let gw = TestGateway::start().await;
    for path in [
        "/public/..%3b/private",
        "/public/..%3B/private",
        "/public/.%3b/../../private",
    ] {
        let before = gw.upstream.request_count();
        let response = raw_get(&gw, path, "").await;
        assert_eq!(response.status, 400, "{path}: {}", response.text());
        assert_json_error(&response, path);
        assert_eq!(
            gw.upstream.request_count(),
            before,
            "{path} reached the upstream"
        );
    }
}

#[tokio::test]
async fn normalized_path_is_exactly_what_the_upstream_receives() {
    let gw = TestGateway::start().await;
    let login = gw.login_anon().await;
    let bearer = format!("Authorization: Bearer {}\r\n", login.access_token);
    for (path, expected) in [
        ("/public/../private", "/private"),
        ("/public/%2e%2e/private", "/private"),
        ("/public/.%2E/private", "/private"),
        ("//private", "/private"),
        ("/a/./b//c", "/a/b/c"),
        ("/priv%61te", "/private"),
    ] {
        let response = raw_get(&gw, path, &bearer).await;
        assert_eq!(response.status, 200, "{path}: {}", response.text());
        let seen = response.json();
        assert_eq!(seen["path"], expected, "{path}");
        assert_eq!(
            seen["headers"]["x-user-id"],
            login.user_id.as_str(),
            "{path}"
        );
    }
}

#[tokio::test]
async fn encoded_separators_and_backslashes_are_bad_requests() {
    let gw = TestGateway::start().await;
    let login = gw.login_anon().await;
    let bearer = format!("Authorization: Bearer {}\r\n", login.access_token);
    for path in [
        "/public%2f..%2fprivate",
        "/public%2F..%2Fprivate",
        "/public/%5c../private",
        "/public/..%5Cprivate",
        "/public/%00/private",
        "/public\\..\\private",
    ] {
        for credential in ["", bearer.as_str()] {
            let before = gw.upstream.request_count();
            let response = raw_get(&gw, path, credential).await;
            assert_eq!(response.status, 400, "{path}: {}", response.text());
            assert_json_error(&response, path);
            assert_eq!(
                gw.upstream.request_count(),
                before,
                "{path} reached the upstream"
            );
        }
    }
}

// --- optional routes ----------------------------------------------------------------------

#[tokio::test]
async fn optional_route_sets_identity_only_for_a_valid_token() {
    let gw = TestGateway::start().await;
    let login = gw.login_anon().await;

    let response = raw_get(&gw, "/maybe/x", "X-User-Id: admin\r\n").await;
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(identity_seen(&response.json()), vec![]);

    let seen = gw.echo("/maybe/x", &login.access_token).await;
    assert_eq!(seen["headers"]["x-user-id"], login.user_id.as_str());
    assert_eq!(
        seen["headers"]["x-session-id"],
        session_id(&login.access_token).as_str()
    );

    let before = gw.upstream.request_count();
    assert_error(
        gw.get_upstream("/maybe/x", "not-a-jwt").await,
        401,
        "InvalidSession",
    )
    .await;
    assert_eq!(gw.upstream.request_count(), before);
}

// --- upstream failures --------------------------------------------------------------------

#[tokio::test]
async fn upstream_down_is_502_json_and_the_gateway_stays_up() {
    let dead = {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        listener.local_addr().expect("addr")
    };
    let gw = TestGateway::start_with(Options::default().upstream(&format!("http://{dead}"))).await;
    let login = gw.login_anon().await;
    assert_error(
        gw.get_upstream("/data/x", &login.access_token).await,
        502,
        "UpstreamUnavailable",
    )
    .await;
    assert_error(
        gw.get_upstream("/data/y", &login.access_token).await,
        502,
        "UpstreamUnavailable",
    )
    .await;
    // The gateway's own endpoints still answer.
    let again = gw.login_anon().await;
    assert!(!again.access_token.is_empty());
}

#[tokio::test]
async fn slow_upstream_is_504_json_and_the_gateway_keeps_serving() {
    let gw =
        TestGateway::start_with(Options::default().env("SESSIONGATE_UPSTREAM__TIMEOUT", "300ms"))
            .await;
    let login = gw.login_anon().await;
    assert_error(
        gw.get_upstream("/slow", &login.access_token).await,
        504,
        "UpstreamTimeout",
    )
    .await;
    let seen = gw.echo("/data/after-timeout", &login.access_token).await;
    assert_eq!(seen["path"], "/data/after-timeout");
}

#[tokio::test]
async fn upstream_error_statuses_pass_through_unchanged() {
    let gw = TestGateway::start().await;
    let login = gw.login_anon().await;
    for status in [404, 500, 503] {
        let response = gw
            .get_upstream(&format!("/status/{status}"), &login.access_token)
            .await;
        assert_eq!(response.status(), status);
    }
}

// --- garbage input ------------------------------------------------------------------------

#[tokio::test]
async fn header_block_over_the_limit_is_431_json() {
    let gw = TestGateway::start().await;
    let login = gw.login_anon().await;
    let before = gw.upstream.request_count();
    let response = gw
        .http
        .get(gw.url("/data/big"))
        .bearer_auth(&login.access_token)
        .header("x-big", "a".repeat(20 * 1024))
        .send()
        .await
        .expect("request");
    assert_error(response, 431, "RequestHeaderFieldsTooLarge").await;
    assert_eq!(gw.upstream.request_count(), before);
}

#[tokio::test]
async fn header_block_beyond_the_http_parser_limit_is_431_and_the_gateway_stays_up() {
    let gw = TestGateway::start().await;
    let request = format!(
        "GET /public/x HTTP/1.1\r\nHost: {}\r\nX-Huge: {}\r\n\r\n",
        authority(&gw),
        "a".repeat(200 * 1024)
    );
    let response = try_raw_request(gw_addr(&gw), request.as_bytes())
        .await
        .expect("a response, not a reset");
    assert_eq!(response.status, 431, "{}", response.text());

    let after = raw_get(&gw, "/public/after", "").await;
    assert_eq!(after.status, 200);
}

#[tokio::test]
async fn login_body_over_64_kib_is_413_json() {
    let gw = TestGateway::start().await;
    let padding = "a".repeat(70 * 1024);
    let response = gw
        .http
        .post(gw.app_api("/auth/providers/anon-user/login"))
        .header("content-type", "application/json")
        .body(json!({ "padding": padding }).to_string())
        .send()
        .await
        .expect("request");
    assert_error(response, 413, "PayloadTooLarge").await;
}

#[tokio::test]
async fn login_with_invalid_json_is_400_json() {
    let gw = TestGateway::start().await;
    let response = gw
        .http
        .post(gw.app_api("/auth/providers/local-userpass/login"))
        .header("content-type", "application/json")
        .body("{\"username\": ")
        .send()
        .await
        .expect("request");
    assert_error(response, 400, "BadRequest").await;
}

#[tokio::test]
async fn login_with_a_form_body_is_400_json() {
    let gw = TestGateway::start().await;
    let response = gw
        .http
        .post(gw.app_api("/auth/providers/local-userpass/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("username=a%40b.c&password=secret")
        .send()
        .await
        .expect("request");
    assert_error(response, 400, "BadRequest").await;
}

#[tokio::test]
async fn non_utf8_authorization_is_401_json() {
    let gw = TestGateway::start().await;
    let before = gw.upstream.request_count();
    let mut request = format!(
        "GET /data/x HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer ",
        authority(&gw)
    )
    .into_bytes();
    request.extend_from_slice(b"\xff\xfe\xc3\x28token\r\n\r\n");
    let response = raw_request(gw_addr(&gw), &request).await;
    assert_eq!(response.status, 401, "{}", response.text());
    assert_eq!(response.json()["error_code"], "InvalidSession");
    assert_eq!(gw.upstream.request_count(), before);

    let mut request = format!(
        "GET /data/x HTTP/1.1\r\nHost: {}\r\nSession: ",
        authority(&gw)
    )
    .into_bytes();
    request.extend_from_slice(b"\xff\xfe\r\n\r\n");
    let response = raw_request(gw_addr(&gw), &request).await;
    assert_eq!(response.status, 401, "{}", response.text());
    assert_eq!(response.json()["error_code"], "InvalidSession");
    assert_eq!(gw.upstream.request_count(), before);
}

#[tokio::test]
async fn invalid_percent_escape_in_the_path_is_400_json() {
    let gw = TestGateway::start().await;
    for path in ["/a%zz", "/a%", "/a%2", "/public/%g0"] {
        let response = raw_get(&gw, path, "").await;
        assert_eq!(response.status, 400, "{path}: {}", response.text());
        assert_json_error(&response, path);
    }
}

// --- hop-by-hop and forwarding headers ----------------------------------------------------

#[tokio::test]
async fn hop_by_hop_and_client_forwarding_headers_are_replaced() {
    let gw = TestGateway::start().await;
    let login = gw.login_anon().await;
    let headers = format!(
        "Authorization: Bearer {}\r\n\
         Connection: keep-alive, X-Custom\r\n\
         X-Custom: 1\r\n\
         Keep-Alive: timeout=5, max=100\r\n\
         TE: trailers\r\n\
         Proxy-Authorization: Basic dXNlcjpwYXNz\r\n\
         Proxy-Connection: keep-alive\r\n\
         X-Forwarded-For: 6.6.6.6\r\n\
         X-Forwarded-Host: evil.example\r\n\
         X-Forwarded-Proto: https\r\n\
         Forwarded: for=6.6.6.6;host=evil.example;proto=https\r\n\
         X-Real-IP: 6.6.6.6\r\n\
         X-Kept: yes\r\n",
        login.access_token
    );
    let response = raw_get(&gw, "/data/hop?b=2&a=1&a=%20x&empty=", &headers).await;
    assert_eq!(response.status, 200, "{}", response.text());
    let seen = response.json();
    let upstream_headers = &seen["headers"];

    for name in [
        "x-custom",
        "keep-alive",
        "te",
        "proxy-authorization",
        "proxy-connection",
        "forwarded",
        "x-real-ip",
        "authorization",
        "session",
    ] {
        assert!(
            upstream_headers.get(name).is_none(),
            "{name} reached the upstream: {seen}"
        );
    }
    if let Some(connection) = upstream_headers.get("connection").and_then(Value::as_str) {
        assert!(
            !connection.to_ascii_lowercase().contains("x-custom"),
            "{seen}"
        );
    }
    assert_eq!(upstream_headers["x-forwarded-for"], "127.0.0.1", "{seen}");
    assert_eq!(upstream_headers["x-forwarded-proto"], "http", "{seen}");
    assert_eq!(
        upstream_headers["x-forwarded-host"],
        authority(&gw).as_str(),
        "{seen}"
    );
    assert_eq!(
        upstream_headers["host"],
        gw.upstream.addr.to_string().as_str(),
        "{seen}"
    );
    assert_eq!(upstream_headers["x-kept"], "yes", "{seen}");
    assert_eq!(seen["path"], "/data/hop");
    assert_eq!(seen["query"], "b=2&a=1&a=%20x&empty=");
}

#[tokio::test]
async fn session_credential_header_is_not_forwarded() {
    let gw = TestGateway::start().await;
    let login = gw.login_anon().await;
    let response = gw
        .http
        .get(gw.url("/data/x"))
        .header("Session", &login.access_token)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    let seen: Value = response.json().await.expect("echo json");
    assert!(seen["headers"].get("session").is_none(), "{seen}");
    assert!(seen["headers"].get("authorization").is_none(), "{seen}");
}

// --- bodies -------------------------------------------------------------------------------

#[tokio::test]
async fn large_proxied_body_arrives_whole() {
    let gw = TestGateway::start().await;
    let login = gw.login_anon().await;
    let body: String = (0..5 * 1024 * 1024)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    let response = gw
        .http
        .post(gw.url("/data/upload"))
        .bearer_auth(&login.access_token)
        .header("content-type", "application/octet-stream")
        .body(body.clone())
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    let seen: Value = response.json().await.expect("echo json");
    assert_eq!(seen["method"], "POST");
    let received = seen["body"].as_str().expect("body");
    assert_eq!(received.len(), body.len());
    assert!(received == body, "body changed on the way");
}

#[tokio::test]
async fn streamed_request_body_arrives_intact() {
    let gw = TestGateway::start().await;
    let login = gw.login_anon().await;
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(4);
    let chunks: Vec<String> = (0..64)
        .map(|i| format!("chunk-{i:03}:{}|", "x".repeat(16 * 1024)))
        .collect();
    let expected: String = chunks.concat();
    tokio::spawn(async move {
        for chunk in chunks {
            if tx.send(Bytes::from(chunk)).await.is_err() {
                return;
            }
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|chunk| (Ok::<_, std::io::Error>(chunk), rx))
    });
    let response = gw
        .http
        .put(gw.url("/data/stream"))
        .bearer_auth(&login.access_token)
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    let seen: Value = response.json().await.expect("echo json");
    assert_eq!(seen["method"], "PUT");
    assert!(
        seen["body"].as_str() == Some(expected.as_str()),
        "streamed body changed on the way"
    );
}

// --- HTTP/2 and upgrades ------------------------------------------------------------------

#[tokio::test]
async fn http2_client_is_proxied_with_identity() {
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::TokioExecutor;

    let gw = TestGateway::start().await;
    let login = gw.login_anon().await;
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build_http();
    let request = http::Request::get(gw.url("/data/h2?x=1"))
        .header("authorization", format!("Bearer {}", login.access_token))
        .header("x-user-id", "admin")
        .body(Full::new(Bytes::new()))
        .expect("request");
    let response = client.request(request).await.expect("h2 request");
    assert_eq!(response.version(), http::Version::HTTP_2);
    assert_eq!(response.status(), 200);
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    let seen: Value = serde_json::from_slice(&bytes).expect("echo json");
    assert_eq!(seen["path"], "/data/h2");
    assert_eq!(seen["query"], "x=1");
    assert_eq!(
        seen["headers"]["x-user-id"],
        login.user_id.as_str(),
        "{seen}"
    );
    assert_eq!(
        seen["headers"]["x-session-id"],
        session_id(&login.access_token).as_str()
    );
    assert_eq!(
        seen["headers"]["x-forwarded-host"],
        authority(&gw).as_str(),
        "{seen}"
    );

    // And a bad token over HTTP/2 is the same JSON 401.
    let request = http::Request::get(gw.url("/data/h2"))
        .header("authorization", "Bearer not-a-jwt")
        .body(Full::new(Bytes::new()))
        .expect("request");
    let response = client.request(request).await.expect("h2 request");
    assert_eq!(response.status(), 401);
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    let body: Value = serde_json::from_slice(&bytes).expect("error json");
    assert_eq!(body["error_code"], "InvalidSession");
}

#[tokio::test]
async fn websocket_upgrade_passes_through_with_identity() {
    let (upstream, heads) = upgrade_upstream().await;
    let gw =
        TestGateway::start_with(Options::default().upstream(&format!("http://{upstream}"))).await;
    let login = gw.login_anon().await;

    // What every browser sends: `Connection: Upgrade` names the `Upgrade` header.
    let mut stream = TcpStream::connect(gw_addr(&gw)).await.expect("connect");
    let request = format!(
        "GET /ws HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nX-User-Id: admin\r\n\r\n",
        authority(&gw),
        login.access_token
    );
    stream.write_all(request.as_bytes()).await.expect("write");
    let (head, rest) = read_head(&mut stream).await.expect("response head");
    let head = String::from_utf8_lossy(&head).to_ascii_lowercase();

    let upstream_head = heads
        .await
        .expect("upstream saw the request")
        .to_ascii_lowercase();
    assert!(
        upstream_head.contains("\r\nupgrade: websocket\r\n"),
        "upstream got no Upgrade:\n{upstream_head}"
    );
    assert!(
        upstream_head.contains(&format!("\r\nx-user-id: {}\r\n", login.user_id)),
        "{upstream_head}"
    );
    assert!(!upstream_head.contains("admin"), "{upstream_head}");
    assert!(!upstream_head.contains("authorization"), "{upstream_head}");

    assert!(head.starts_with("http/1.1 101"), "{head}");
    assert!(
        head.contains("\r\nupgrade: websocket"),
        "client got no Upgrade:\n{head}"
    );
    assert!(rest.is_empty());
    stream
        .write_all(b"ping over the tunnel")
        .await
        .expect("write");
    let mut echoed = vec![0; b"ping over the tunnel".len()];
    stream
        .read_exact(&mut echoed)
        .await
        .expect("echo through the tunnel");
    assert_eq!(echoed, b"ping over the tunnel");
}

// --- helpers ------------------------------------------------------------------------------

fn unix_now() -> i64 {
    let elapsed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970");
    i64::try_from(elapsed.as_secs()).expect("seconds fit")
}

/// `claims` with the fields of `changes` replaced.
fn with(claims: &Value, changes: Value) -> Value {
    let mut claims = claims.clone();
    for (key, value) in changes.as_object().expect("object") {
        claims[key] = value.clone();
    }
    claims
}

fn b64(text: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
}

fn session_id(access_token: &str) -> String {
    jwt_payload(access_token)["sid"]
        .as_str()
        .expect("sid claim")
        .to_owned()
}

/// Every header the upstream saw whose name folds (case, `_`) to an identity header, sorted.
fn identity_seen(seen: &Value) -> Vec<(String, String)> {
    let mut found: Vec<(String, String)> = seen["headers"]
        .as_object()
        .expect("headers object")
        .iter()
        .filter(|(name, _)| {
            IDENTITY.contains(&name.to_ascii_lowercase().replace('_', "-").as_str())
        })
        .map(|(name, value)| (name.clone(), value.as_str().unwrap_or_default().to_owned()))
        .collect();
    found.sort();
    found
}

fn authority(gw: &TestGateway) -> String {
    gw.client_url.trim_start_matches("http://").to_owned()
}

fn gw_addr(gw: &TestGateway) -> SocketAddr {
    authority(gw).parse().expect("gateway address")
}

/// A response read off a raw socket.
struct RawResponse {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl RawResponse {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|err| panic!("not JSON ({err}): {}", self.text()))
    }
}

/// Asserts a JSON error body with a non-empty `error` and `error_code`.
fn assert_json_error(response: &RawResponse, label: &str) {
    let content_type = response.header("content-type").unwrap_or_default();
    assert!(
        content_type.starts_with("application/json"),
        "{label}: content type {content_type:?}, body {}",
        response.text()
    );
    let body = response.json();
    assert!(
        body["error_code"].as_str().is_some_and(|c| !c.is_empty()),
        "{label}: {body}"
    );
    assert!(
        body["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{label}: {body}"
    );
}

/// `GET path` over a raw socket, exactly as written, with `headers` (each line ending CRLF).
async fn raw_get(gw: &TestGateway, path: &str, headers: &str) -> RawResponse {
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {}\r\n{headers}\r\n",
        authority(gw)
    );
    raw_request(gw_addr(gw), request.as_bytes()).await
}

async fn raw_request(addr: SocketAddr, request: &[u8]) -> RawResponse {
    try_raw_request(addr, request)
        .await
        .expect("raw HTTP exchange")
}

/// Writes `request` to a fresh connection and reads one HTTP/1.1 response (Content-Length,
/// chunked, or until the server closes).
async fn try_raw_request(addr: SocketAddr, request: &[u8]) -> std::io::Result<RawResponse> {
    let mut stream = TcpStream::connect(addr).await?;
    // The server may answer and close before reading everything (oversized headers).
    let _ = stream.write_all(request).await;
    let (head, mut rest) = read_head(&mut stream).await?;
    let head = String::from_utf8_lossy(&head).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
    let headers: Vec<(String, String)> = lines
        .filter(|line| !line.is_empty())
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_owned(), value.trim().to_owned()))
        .collect();
    let header = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    let body = if let Some(length) = header("content-length") {
        let length: usize = length.parse().expect("content-length");
        while rest.len() < length {
            read_more(&mut stream, &mut rest).await?;
        }
        rest.truncate(length);
        rest
    } else if header("transfer-encoding").is_some_and(|te| te.eq_ignore_ascii_case("chunked")) {
        read_chunked(&mut stream, rest).await?
    } else {
        stream.read_to_end(&mut rest).await?;
        rest
    };
    Ok(RawResponse {
        status,
        headers,
        body,
    })
}

/// Reads up to the end of a response head; returns the head and any bytes after it.
async fn read_head(stream: &mut TcpStream) -> std::io::Result<(Vec<u8>, Vec<u8>)> {
    let mut buffer = Vec::new();
    loop {
        if let Some(end) = find(&buffer, b"\r\n\r\n") {
            let rest = buffer.split_off(end + 4);
            return Ok((buffer, rest));
        }
        read_more(stream, &mut buffer).await?;
    }
}

async fn read_more(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> std::io::Result<()> {
    let mut chunk = [0u8; 16 * 1024];
    let n = stream.read(&mut chunk).await?;
    if n == 0 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "connection closed mid-response",
        ));
    }
    buffer.extend_from_slice(&chunk[..n]);
    Ok(())
}

async fn read_chunked(stream: &mut TcpStream, mut buffer: Vec<u8>) -> std::io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line_end = loop {
            match find(&buffer, b"\r\n") {
                Some(end) => break end,
                None => read_more(stream, &mut buffer).await?,
            }
        };
        let size_text = String::from_utf8_lossy(&buffer[..line_end]).into_owned();
        let size =
            usize::from_str_radix(size_text.split(';').next().unwrap_or_default().trim(), 16)
                .expect("chunk size");
        buffer.drain(..line_end + 2);
        if size == 0 {
            return Ok(body);
        }
        while buffer.len() < size + 2 {
            read_more(stream, &mut buffer).await?;
        }
        body.extend_from_slice(&buffer[..size]);
        buffer.drain(..size + 2);
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

/// An upstream that accepts one connection and, if it asks for `Upgrade: websocket`, answers
/// 101 and echoes bytes afterwards (426 otherwise). Resolves the receiver with the request head.
async fn upgrade_upstream() -> (SocketAddr, tokio::sync::oneshot::Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (tx, rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let Ok((mut stream, _)) = listener.accept().await else {
            return;
        };
        let Ok((head, _)) = read_head(&mut stream).await else {
            return;
        };
        let head = String::from_utf8_lossy(&head).into_owned();
        let wants_websocket = head
            .to_ascii_lowercase()
            .contains("\r\nupgrade: websocket\r\n");
        let _ = tx.send(head);
        if !wants_websocket {
            let _ = stream.write_all(b"HTTP/1.1 426 Upgrade Required\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").await;
            return;
        }
        let answer =
            b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
                       Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
        if stream.write_all(answer).await.is_err() {
            return;
        }
        let (mut read, mut write) = stream.split();
        let _ = tokio::io::copy(&mut read, &mut write).await;
    });
    (addr, rx)
}
