//! Unit tests of the CORS layer: where the gateway answers and where the upstream does.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use http::header::{ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_REQUEST_METHOD, VARY};
use http::{HeaderName, Method, StatusCode};
use tower::ServiceExt;

use super::*;
use crate::config::CorsConfig;
use crate::web;

const APP: &str = "https://app.example";

fn policy(origins: &[&str]) -> Cors {
    let config = CorsConfig {
        allowed_origins: origins.iter().map(|o| (*o).to_owned()).collect(),
        allow_credentials: false,
        max_age: Duration::from_secs(600),
        allowed_headers: Vec::new(),
    };
    Cors::new(&config, &HeaderName::from_static("x-request-id"))
}

/// Paths under `/upstream` leave CORS to their upstream.
fn gateway_answers(path: &str) -> bool {
    !path.starts_with("/upstream")
}

/// The inner service: 200 with an upstream's own CORS header; under `/upstream` or `/routed`,
/// marked as proxied on a route of that kind.
async fn inner(request: Request<()>) -> Result<Response<Body>, Infallible> {
    let mut response = web::status(StatusCode::OK);
    response.headers_mut().insert(
        ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("https://evil.example"),
    );
    let path = request.uri().path();
    let cors = if path.starts_with("/upstream") {
        Some(RouteCors::Upstream)
    } else if path.starts_with("/routed") {
        Some(RouteCors::Gateway)
    } else {
        None
    };
    if let Some(cors) = cors {
        response.extensions_mut().insert(Proxied {
            route: Arc::from("/"),
            cors,
            caller: None,
            upstream: None,
            error: None,
        });
    }
    Ok(response)
}

async fn run(cors: &Cors, request: Request<()>) -> Response<Body> {
    let service = CorsLayer::new(cors, gateway_answers).layer(tower::service_fn(inner));
    service.oneshot(request).await.expect("infallible")
}

fn request(method: Method, path: &str, origin: bool) -> Request<()> {
    let mut builder = Request::builder().method(method.clone()).uri(path);
    if origin {
        builder = builder.header(ORIGIN, APP);
    }
    if method == Method::OPTIONS {
        builder = builder.header(ACCESS_CONTROL_REQUEST_METHOD, "POST");
    }
    builder.body(()).expect("test request")
}

#[tokio::test]
async fn a_preflight_on_a_gateway_path_is_answered_here() {
    let cors = policy(&[APP]);
    for path in ["/api/client/v2.0/x", "/routed/a", "/no/route"] {
        let response = run(&cors, request(Method::OPTIONS, path, true)).await;
        assert_eq!(response.status(), StatusCode::NO_CONTENT, "{path}");
        assert_eq!(response.headers()[ACCESS_CONTROL_ALLOW_ORIGIN], APP);
        let endpoint = response.extensions().get::<Endpoint>().expect("named");
        assert_eq!(endpoint.name, "cors_preflight");
    }
}

#[tokio::test]
async fn a_preflight_on_an_upstream_route_goes_through_untouched() {
    let cors = policy(&[APP]);
    let response = run(&cors, request(Method::OPTIONS, "/upstream/a", true)).await;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "the inner service answered"
    );
    assert_eq!(
        response.headers()[ACCESS_CONTROL_ALLOW_ORIGIN],
        "https://evil.example"
    );
    assert!(response.headers().get(VARY).is_none());
}

#[tokio::test]
async fn the_gateway_s_policy_replaces_an_upstream_s_headers_on_its_routes() {
    let cors = policy(&[APP]);
    for path in ["/routed/a", "/own"] {
        let response = run(&cors, request(Method::GET, path, true)).await;
        assert_eq!(
            response.headers()[ACCESS_CONTROL_ALLOW_ORIGIN],
            APP,
            "{path}"
        );
        assert_eq!(response.headers()[VARY], "Origin");
    }
}

#[tokio::test]
async fn an_upstream_route_keeps_its_upstream_s_cors() {
    let cors = policy(&[APP]);
    let response = run(&cors, request(Method::GET, "/upstream/a", true)).await;
    assert_eq!(
        response.headers()[ACCESS_CONTROL_ALLOW_ORIGIN],
        "https://evil.example"
    );
}

#[tokio::test]
async fn an_unparsable_path_still_gets_the_policy() {
    let cors = policy(&[APP]);
    let response = run(&cors, request(Method::OPTIONS, "/a%2fb", true)).await;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "left to the inner layers"
    );
    assert_eq!(response.headers()[ACCESS_CONTROL_ALLOW_ORIGIN], APP);
}

#[tokio::test]
async fn with_cors_off_nothing_is_added_or_answered() {
    let cors = policy(&[]);
    let response = run(&cors, request(Method::OPTIONS, "/own", true)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers().get(VARY).is_none());
    assert_eq!(
        response.headers()[ACCESS_CONTROL_ALLOW_ORIGIN],
        "https://evil.example"
    );
}
