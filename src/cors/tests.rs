//! Unit tests of the CORS policy: preflights and decorated responses.

use std::time::Duration;

use super::*;

fn policy(origins: &[&str], credentials: bool) -> Cors {
    let config = CorsConfig {
        allowed_origins: origins.iter().map(|o| (*o).to_owned()).collect(),
        allow_credentials: credentials,
        max_age: Duration::from_secs(600),
        allowed_headers: vec![HeaderName::from_static("x-app-version")],
    };
    Cors::new(&config, &HeaderName::from_static("x-request-id"))
}

fn preflight(origin: &str, method: &str, headers: Option<&str>) -> Request<()> {
    let mut builder = Request::builder()
        .method(Method::OPTIONS)
        .uri("/x")
        .header(ORIGIN, origin)
        .header(ACCESS_CONTROL_REQUEST_METHOD, method);
    if let Some(headers) = headers {
        builder = builder.header(ACCESS_CONTROL_REQUEST_HEADERS, headers);
    }
    builder.body(()).unwrap()
}

#[test]
fn an_allowed_preflight_gets_the_policy() {
    let cors = policy(&["https://app.example"], true);
    let request = preflight(
        "https://app.example",
        "POST",
        Some("authorization,Content-Type, X-Request-Id, x-app-version"),
    );
    let response = cors.preflight(&request).expect("answered");
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let h = response.headers();
    assert_eq!(h[ACCESS_CONTROL_ALLOW_ORIGIN], "https://app.example");
    assert_eq!(h[ACCESS_CONTROL_ALLOW_CREDENTIALS], "true");
    assert_eq!(h[ACCESS_CONTROL_MAX_AGE], "600");
    let allowed = h[ACCESS_CONTROL_ALLOW_HEADERS].to_str().unwrap();
    for name in ["authorization", "content-type", "session", "x-request-id"] {
        assert!(allowed.contains(name), "{allowed}");
    }
    assert!(h[VARY].to_str().unwrap().starts_with("Origin"));
}

#[test]
fn refused_preflights_carry_no_cors_headers() {
    let cors = policy(&["https://app.example"], false);
    for (request, reason) in [
        (
            preflight("https://evil.example", "GET", None),
            "cors_origin",
        ),
        (preflight("null", "GET", None), "cors_origin"),
        (
            preflight("https://app.example/", "GET", None),
            "cors_origin",
        ),
        (preflight("https://APP.example", "GET", None), "cors_origin"),
        (
            preflight("https://app.example:444", "GET", None),
            "cors_origin",
        ),
        (
            preflight("https://app.example", "TRACE", None),
            "cors_method",
        ),
        (preflight("https://app.example", "get", None), "cors_method"),
        (
            preflight("https://app.example", "GET", Some("authorization, x-evil")),
            "cors_header",
        ),
    ] {
        let response = cors.preflight(&request).expect("answered");
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{reason}");
        assert_eq!(
            response
                .extensions()
                .get::<crate::error::Refusal>()
                .map(|r| r.0),
            Some(reason)
        );
        assert!(
            !response
                .headers()
                .keys()
                .any(|k| k.as_str().starts_with("access-control-")),
            "{reason}: {:?}",
            response.headers()
        );
    }
}

#[test]
fn an_options_without_request_method_or_with_cors_off_is_no_preflight() {
    let cors = policy(&["https://app.example"], false);
    let plain = Request::builder()
        .method(Method::OPTIONS)
        .header(ORIGIN, "https://app.example")
        .body(())
        .unwrap();
    assert!(cors.preflight(&plain).is_none());
    let off = policy(&[], false);
    assert!(
        off.preflight(&preflight("https://app.example", "GET", None))
            .is_none()
    );
}

#[test]
fn decorate_echoes_allowed_origins_and_replaces_upstream_cors_headers() {
    let cors = policy(&["https://app.example"], false);
    let mut response = web::status(StatusCode::UNAUTHORIZED);
    response
        .headers_mut()
        .insert(ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    response
        .headers_mut()
        .insert(VARY, HeaderValue::from_static("Accept-Encoding"));
    let origin = HeaderValue::from_static("https://app.example");
    cors.decorate(&mut response, Some(&origin));
    let h = response.headers();
    assert_eq!(h[ACCESS_CONTROL_ALLOW_ORIGIN], "https://app.example");
    assert_eq!(h[ACCESS_CONTROL_EXPOSE_HEADERS], "x-request-id");
    assert!(!h.contains_key(ACCESS_CONTROL_ALLOW_CREDENTIALS));
    let vary: Vec<_> = h.get_all(VARY).iter().collect();
    assert_eq!(vary, ["Accept-Encoding", "Origin"]);

    let mut response = web::status(StatusCode::OK);
    response
        .headers_mut()
        .insert(ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    let evil = HeaderValue::from_static("https://evil.example");
    cors.decorate(&mut response, Some(&evil));
    assert!(!response.headers().contains_key(ACCESS_CONTROL_ALLOW_ORIGIN));
    assert_eq!(response.headers()[VARY], "Origin");
}

#[test]
fn any_origin_is_echoed() {
    let cors = policy(&["*"], false);
    let request = preflight("http://localhost:3000", "DELETE", Some("authorization"));
    let response = cors.preflight(&request).expect("answered");
    assert_eq!(
        response.headers()[ACCESS_CONTROL_ALLOW_ORIGIN],
        "http://localhost:3000"
    );
}
