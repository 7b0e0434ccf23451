//! The OpenAPI description (`GET /openapi.json` on the admin listener, from
//! `src/admin/openapi.yaml`) against the code and against the running gateway:
//!
//! - the document and the code's route tables (`client_api::route` + `allowed_methods`,
//!   `admin::allowed_methods`) agree both ways: every described path and method is routed, and
//!   every path near a described one that the tables route is described, with the same methods;
//! - every described operation, sent to a real gateway, is answered by its handler (not the
//!   proxy, not "no such route") with one of its described statuses, and every other method on
//!   a described path is 405 with an `Allow` naming exactly the described methods;
//! - every path near a described one that the admin route table does not route is answered
//!   "no such route" by the admin handler, whatever the method (a handler arm the table and the
//!   document miss would show here);
//! - schemathesis (`.ci/setup-schemathesis`) generates requests for every operation against the
//!   real binary with every provider that runs locally, and finds no 5xx, no undocumented
//!   status, content type, header or body, and no accepted invalid input.

mod common;
#[path = "openapi/described.rs"]
mod described;
#[path = "support/hooks.rs"]
mod hooks;
#[path = "openapi/schemathesis.rs"]
mod schemathesis;

use std::collections::BTreeSet;

use common::{ADMIN_KEY, APP_ID, TestGateway, assert_json_status};
use described::{Credential, METHODS, Operation, method_set};
use serde_json::{Value, json};
use sessiongate::client_api;

/// The login providers the document describes, one path each. The code routes any provider
/// name; the others answer 404 `AuthProviderNotFound` (described on every login) and are
/// deliberately not described as paths of their own.
const PROVIDERS: [&str; 8] = [
    "anon-user",
    "local-userpass",
    "api-key",
    "custom-token",
    "custom-function",
    "grant",
    "oauth2-google",
    "oauth2-apple",
];

/// The served document; `/openapi.json` needs no admin key.
async fn served_document(gw: &TestGateway) -> Value {
    let response = gw
        .http
        .get(format!("{}/openapi.json", gw.admin_url))
        .send()
        .await
        .expect("GET /openapi.json");
    assert_json_status(response, 200).await
}

/// The methods the code's route tables give a path (`client_api::route` +
/// `client_api::allowed_methods`, `admin::allowed_methods`), or `None` where nothing is routed.
fn routed_methods(path: &str) -> Option<BTreeSet<String>> {
    let allow = if path.starts_with(client_api::BASE) {
        let route = client_api::route(path)?;
        if route.name() == "login" && !PROVIDERS.contains(&route.params().get("provider")) {
            return None;
        }
        client_api::allowed_methods(path, APP_ID)?
    } else {
        sessiongate::admin::allowed_methods(path, APP_ID)?
    };
    Some(method_set(allow))
}

#[tokio::test]
async fn served_document_admits_only_the_configured_app_id() {
    let gw = TestGateway::start().await;
    let document = served_document(&gw).await;
    assert_eq!(document["openapi"], "3.1.0");
    assert_eq!(
        document["components"]["parameters"]["appId"]["schema"]["enum"],
        json!([APP_ID])
    );
    assert_eq!(document["info"]["version"], env!("CARGO_PKG_VERSION"));
    // Another method is 405 naming GET, like every described path.
    let response = gw
        .http
        .post(format!("{}/openapi.json", gw.admin_url))
        .send()
        .await
        .expect("POST /openapi.json");
    assert_eq!(response.headers()["allow"], "GET");
    assert_json_status(response, 405).await;
}

#[tokio::test]
async fn described_operations_and_route_tables_agree() {
    let gw = TestGateway::start().await;
    let document = served_document(&gw).await;
    let operations = described::operations(&document);
    let described = described::methods_by_template(&operations);
    assert!(described.len() > 40, "{} paths", described.len());

    for (template, methods) in &described {
        let path = described::instantiate(template);
        assert_eq!(
            routed_methods(&path).as_ref(),
            Some(methods),
            "{template} is described with {methods:?}; the route table disagrees"
        );
    }

    let templates: BTreeSet<&String> = described.keys().collect();
    let nearby = described::nearby_paths(&templates);
    assert!(nearby.len() > 1000, "{} paths", nearby.len());
    for path in &nearby {
        let Some(methods) = routed_methods(path) else {
            continue;
        };
        let template = described::template_of(described.keys(), path)
            .unwrap_or_else(|| panic!("{path} is routed ({methods:?}) but not described"));
        assert_eq!(
            described[template], methods,
            "{path} is routed with {methods:?} but described as {template}"
        );
    }
}

/// Fresh tokens of a new anonymous session: (access, refresh).
async fn fresh_tokens(gw: &TestGateway) -> (String, String) {
    let login = gw.login_anon().await;
    (login.access_token, login.refresh_token)
}

/// An admin refresh token from the `mongodb-cloud` login with the admin key.
async fn admin_refresh_token(gw: &TestGateway) -> String {
    let response = gw
        .http
        .post(format!(
            "{}/api/admin/v3.0/auth/providers/mongodb-cloud/login",
            gw.admin_url
        ))
        .json(&json!({"username": "scripts", "apiKey": ADMIN_KEY}))
        .send()
        .await
        .expect("admin login");
    let body: serde_json::Value = response.json().await.expect("JSON");
    body["refresh_token"]
        .as_str()
        .expect("refresh_token")
        .to_owned()
}

/// A request for `operation`'s path with `method`, carrying the credential it needs.
async fn request(gw: &TestGateway, operation: &Operation, method: &str) -> reqwest::Response {
    let path = described::instantiate(&operation.template);
    let base = if path.starts_with(client_api::BASE) {
        &gw.client_url
    } else {
        &gw.admin_url
    };
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let mut request = gw.http.request(method.clone(), format!("{base}{path}"));
    request = match operation.credential {
        Credential::None => request,
        Credential::AdminKey => request.bearer_auth(ADMIN_KEY),
        Credential::AccessToken => request.bearer_auth(fresh_tokens(gw).await.0),
        Credential::RefreshToken => request.bearer_auth(fresh_tokens(gw).await.1),
        Credential::AdminRefreshToken => request.bearer_auth(admin_refresh_token(gw).await),
    };
    if method == reqwest::Method::POST || method == reqwest::Method::PUT {
        request = request.json(&json!({}));
    }
    request.send().await.expect("request")
}

#[tokio::test]
async fn every_described_operation_is_answered_by_its_handler() {
    let gw = TestGateway::start().await;
    let document = served_document(&gw).await;
    let operations = described::operations(&document);
    let described = described::methods_by_template(&operations);

    for operation in &operations {
        let before = gw.upstream.request_count();
        let response = request(&gw, operation, &operation.method).await;
        let status = response.status().as_u16();
        let allow = response.headers().get("allow").cloned();
        let body = response.text().await.expect("body");
        assert_eq!(
            gw.upstream.request_count(),
            before,
            "{operation} went to the upstream: no handler answers it"
        );
        assert!(
            operation.statuses.contains(&status),
            "{operation} answered {status}, which it does not describe: {body}"
        );
        assert!(
            status != 405 && allow.is_none(),
            "{operation} is described but answered 405: {body}"
        );
        let route_miss =
            status == 404 && body.contains(r#""error":"not found","error_code":"NotFound""#);
        assert!(
            !route_miss,
            "{operation} is described but not routed: {body}"
        );
    }

    // Every other method on a described path: 405 naming exactly the described ones.
    for (template, methods) in &described {
        let operation = operations
            .iter()
            .find(|operation| &operation.template == template)
            .expect("a described path has an operation");
        for method in METHODS.iter().filter(|m| !methods.contains(**m)) {
            let before = gw.upstream.request_count();
            let response = request(&gw, operation, method).await;
            assert_eq!(
                gw.upstream.request_count(),
                before,
                "{method} {template} went upstream"
            );
            let allow = response
                .headers()
                .get("allow")
                .and_then(|v| v.to_str().ok())
                .map(method_set);
            assert_eq!(response.status(), 405, "{method} {template}");
            assert_eq!(
                allow.as_ref(),
                Some(methods),
                "Allow of {method} {template}"
            );
            assert_json_status(response, 405).await;
        }
    }
}

#[tokio::test]
async fn paths_the_admin_route_table_does_not_route_are_not_answered() {
    let gw = TestGateway::start().await;
    let document = served_document(&gw).await;
    let described = described::methods_by_template(&described::operations(&document));
    let templates: BTreeSet<&String> = described.keys().collect();
    let unrouted: Vec<String> = described::nearby_paths(&templates)
        .into_iter()
        .filter(|path| !path.starts_with(client_api::BASE) && routed_methods(path).is_none())
        .filter(|path| !path.starts_with("/console/") && path != "/")
        .collect();
    assert!(unrouted.len() > 500, "{} paths", unrouted.len());
    for path in &unrouted {
        for method in METHODS {
            let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
            let response = gw
                .http
                .request(method.clone(), format!("{}{path}", gw.admin_url))
                .bearer_auth(ADMIN_KEY)
                .send()
                .await
                .expect("request");
            let status = response.status().as_u16();
            let body = response.text().await.expect("body");
            // "No such route", or a path with another app id: nothing a handler says.
            let unrouted = body.contains(r#""error":"not found","error_code":"NotFound""#)
                || body.contains(r#""error_code":"AppNotFound""#);
            assert!(
                status == 404 && unrouted,
                "{method} {path} is not in the route table but answered {status}: {body}"
            );
        }
    }
}

#[tokio::test]
async fn schemathesis_finds_no_fault() {
    let Some(schemathesis) = schemathesis::Schemathesis::find() else {
        common::skip_without(
            "schemathesis (run .ci/setup-schemathesis)",
            "schemathesis_finds_no_fault",
        );
        return;
    };
    schemathesis::run_against_gateway(&schemathesis).await;
}
