//! The console over plain HTTP: the page's security headers, sign-in, the cookie, and the
//! cross-site rules on cookie-authenticated Admin API calls.

use reqwest::Method;
use reqwest::header::{COOKIE, SET_COOKIE};
use serde_json::{Value, json};

use crate::common::*;

/// Signs in to the console; returns the `Cookie` header value.
async fn console_cookie(gw: &TestGateway) -> String {
    let response = gw
        .http
        .post(format!("{}/console/session", gw.admin_url))
        .header("x-sessiongate-console", "1")
        .json(&json!({ "key": ADMIN_KEY }))
        .send()
        .await
        .expect("sign in");
    assert_eq!(response.status(), 200);
    let cookie = response.headers()[SET_COOKIE]
        .to_str()
        .expect("ascii")
        .to_owned();
    cookie.split(';').next().expect("name=value").to_owned()
}

#[tokio::test]
async fn the_console_page_is_served_with_a_strict_policy() {
    let gw = TestGateway::start().await;
    let response = gw
        .http
        .get(format!("{}/", gw.admin_url))
        .send()
        .await
        .expect("get /");
    assert_eq!(response.status(), 200);
    let headers = response.headers().clone();
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let csp = headers["content-security-policy"].to_str().unwrap();
    for part in [
        "default-src 'none'",
        "script-src 'self'",
        "frame-ancestors 'none'",
        "require-trusted-types-for 'script'",
    ] {
        assert!(csp.contains(part), "{part} in {csp}");
    }
    assert!(
        !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
        "{csp}"
    );
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    let html = response.text().await.unwrap();
    assert!(
        !html.contains("<script>") && !html.contains(" on"),
        "no inline script or handlers"
    );
    let js = gw
        .http
        .get(format!("{}/console/app.js", gw.admin_url))
        .send()
        .await
        .unwrap();
    assert!(
        js.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );
    let missing = gw
        .http
        .get(format!("{}/console/nope.js", gw.admin_url))
        .send()
        .await
        .unwrap();
    assert_error(missing, 404, "NotFound").await;
    let post = gw
        .http
        .post(format!("{}/", gw.admin_url))
        .send()
        .await
        .unwrap();
    assert_error(post, 405, "MethodNotAllowed").await;
    // Never on the client listener.
    let client = gw
        .http
        .get(format!("{}/console/app.js", gw.client_url))
        .send()
        .await
        .unwrap();
    assert_ne!(client.status(), 200);
}

#[tokio::test]
async fn sign_in_sets_a_strict_httponly_cookie_and_a_wrong_key_is_refused() {
    let gw = TestGateway::start().await;
    let url = format!("{}/console/session", gw.admin_url);
    let wrong = gw
        .http
        .post(&url)
        .header("x-sessiongate-console", "1")
        .json(&json!({ "key": "test-admin-key-012345678" }))
        .send()
        .await
        .unwrap();
    assert!(wrong.headers().get(SET_COOKIE).is_none());
    assert_error(wrong, 401, "Unauthorized").await;
    let no_header = gw
        .http
        .post(&url)
        .json(&json!({ "key": ADMIN_KEY }))
        .send()
        .await
        .unwrap();
    assert!(no_header.headers().get(SET_COOKIE).is_none());
    assert_error(no_header, 403, "Forbidden").await;

    let response = gw
        .http
        .post(&url)
        .header("x-sessiongate-console", "1")
        .json(&json!({ "key": ADMIN_KEY }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let set_cookie = response.headers()[SET_COOKIE].to_str().unwrap().to_owned();
    for part in [
        "sessiongate_console=",
        "HttpOnly",
        "SameSite=Strict",
        "Path=/",
    ] {
        assert!(set_cookie.contains(part), "{part} in {set_cookie}");
    }
    let info: Value = response.json().await.unwrap();
    assert_eq!(info["app_id"], APP_ID);
    assert_eq!(info["store"], "sqlite");
    assert!(info.to_string().find(ADMIN_KEY).is_none());
    let cookie = set_cookie.split(';').next().unwrap();
    let me = gw
        .http
        .get(&url)
        .header(COOKIE, cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);
    let forged = gw
        .http
        .get(&url)
        .header(COOKIE, "sessiongate_console=forged")
        .send()
        .await
        .unwrap();
    assert_error(forged, 401, "Unauthorized").await;
}

#[tokio::test]
async fn the_cookie_works_on_the_admin_api_only_from_the_console_origin() {
    let gw = TestGateway::start().await;
    let user: Value = gw
        .admin(Method::POST, "/users")
        .json(&json!({ "email": "ada@example.com", "password": "Pa55w0rd!" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let user_id = user["_id"].as_str().unwrap().to_owned();
    let cookie = console_cookie(&gw).await;
    let disable = gw.admin_api(&format!("/users/{user_id}/disable"));
    let origin = gw.admin_url.clone();

    let list = gw
        .http
        .get(gw.admin_api("/users"))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(list.status(), 200, "same-origin read");
    let refused = [
        // A form post: no console header.
        gw.http
            .put(&disable)
            .header(COOKIE, &cookie)
            .header("origin", &origin),
        // Another port of the same host is the same site, not the same origin.
        gw.http
            .put(&disable)
            .header(COOKIE, &cookie)
            .header("x-sessiongate-console", "1")
            .header("origin", &gw.client_url),
        gw.http
            .put(&disable)
            .header(COOKIE, &cookie)
            .header("x-sessiongate-console", "1")
            .header("sec-fetch-site", "same-site"),
        gw.http
            .get(gw.admin_api("/users"))
            .header(COOKIE, &cookie)
            .header("sec-fetch-site", "cross-site"),
    ];
    for request in refused {
        assert_error(request.send().await.unwrap(), 403, "Forbidden").await;
    }
    // A wrong Bearer key is not rescued by a good cookie.
    let bearer = gw
        .http
        .put(&disable)
        .header(COOKIE, &cookie)
        .bearer_auth("wrong")
        .send()
        .await
        .unwrap();
    assert_error(bearer, 401, "Unauthorized").await;
    let user: Value = gw
        .admin(Method::GET, &format!("/users/{user_id}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(user["disabled"], false, "nothing changed");

    let ok = gw
        .http
        .put(&disable)
        .header(COOKIE, &cookie)
        .header("x-sessiongate-console", "1")
        .header("origin", &origin)
        .header("sec-fetch-site", "same-origin")
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 204);

    let out = gw
        .http
        .delete(format!("{}/console/session", gw.admin_url))
        .header(COOKIE, &cookie)
        .header("x-sessiongate-console", "1")
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 204);
    assert!(
        out.headers()[SET_COOKIE]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    let after = gw
        .http
        .get(gw.admin_api("/users"))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_error(after, 401, "Unauthorized").await;
}
