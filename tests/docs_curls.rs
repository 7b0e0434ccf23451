//! The curl commands of the App Services "Manage User Sessions" page, run with the real `curl`
//! against a real gateway, with only the base URL, the placeholders the page asks the reader
//! to fill in, and the admin Bearer changed; each gets the answer the page shows.
//!
//! The commands are copied verbatim from the page (`../shared/seeds/000_*.txt`); curl sends
//! their `--data-raw` bodies as `application/x-www-form-urlencoded` unless the command says
//! otherwise, which the gateway reads as JSON like App Services did.

mod common;
#[path = "support/hooks.rs"]
mod hooks;

use std::process::Stdio;

use common::*;
use hooks::Hooks;
use serde_json::{Value, json};

/// The app id the page uses in its client API examples.
const DOCS_APP_ID: &str = "myapp-abcde";
const DOCS_BASE: &str = "https://services.cloud.mongodb.com";
const JWT_SECRET: &str = "docs-custom-token-secret-0123456789abcdef";
/// The custom-token example's `aud`.
const JWT_AUDIENCE: &str = "testdev-bpqel";

const LOCATION: &str =
    "curl 'https://services.cloud.mongodb.com/api/client/v2.0/app/<App ID>/location'";
const ANON: &str = "curl -X POST 'https://services.cloud.mongodb.com/api/client/v2.0/app/myapp-abcde/auth/providers/anon-user/login'";
const USERPASS: &str = r#"curl -X POST 'https://services.cloud.mongodb.com/api/client/v2.0/app/myapp-abcde/auth/providers/local-userpass/login' \
  --header 'Content-Type: application/json' \
  --data-raw '{
    "username": "test@example.com",
    "password": "Pa55w0rd"
  }'"#;
const API_KEY: &str = r#"curl -X POST 'https://services.cloud.mongodb.com/api/client/v2.0/app/myapp-abcde/auth/providers/api-key/login' \
  --header 'Content-Type: application/json' \
  --data-raw '{
    "key": "hScMWZyOKnjQMbfDPMJ1qHgtdGT2raQXdVDDvlC2SzKEBKlHKV8FK9SPCSTnODPg"
  }'"#;
const DOCS_API_KEY: &str = "hScMWZyOKnjQMbfDPMJ1qHgtdGT2raQXdVDDvlC2SzKEBKlHKV8FK9SPCSTnODPg";
const CUSTOM_TOKEN: &str = r#"curl -X POST 'https://services.cloud.mongodb.com/api/client/v2.0/app/myapp-abcde/auth/providers/custom-token/login' \
  --header 'Content-Type: application/json' \
  --data-raw '{
    "token": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJhdWQiOiJ0ZXN0ZGV2LWJwcWVsIiwiZXhwIjoxNTE2MjM5MDIyLCJzdWIiOiIyNDYwMSIsInVzZXJfZGF0YSI6eyJuYW1lIjoiSmVhbiBWYWxqZWFuIiwiYWxpYXNlcyI6WyJNb25zaWV1ciBNYWRlbGVpbmUiLCJVbHRpbWUgRmF1Y2hlbGV2ZW50IiwiVXJiYWluIEZhYnJlIl19fQ.mVWr4yFf8nD1EhuhrJbgKfY7BEpMab38RflXzUxuaEI"
  }'"#;
const DOCS_CUSTOM_TOKEN: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJhdWQiOiJ0ZXN0ZGV2LWJwcWVsIiwiZXhwIjoxNTE2MjM5MDIyLCJzdWIiOiIyNDYwMSIsInVzZXJfZGF0YSI6eyJuYW1lIjoiSmVhbiBWYWxqZWFuIiwiYWxpYXNlcyI6WyJNb25zaWV1ciBNYWRlbGVpbmUiLCJVbHRpbWUgRmF1Y2hlbGV2ZW50IiwiVXJiYWluIEZhYnJlIl19fQ.mVWr4yFf8nD1EhuhrJbgKfY7BEpMab38RflXzUxuaEI";
const CUSTOM_FUNCTION: &str = r#"curl -X POST 'https://services.cloud.mongodb.com/api/client/v2.0/app/myapp-abcde/auth/providers/custom-function/login' \
  --header 'Content-Type: application/json' \
  --data-raw '{
    "someCustomFunctionArg": "<Login Info>"
  }'"#;
const REFRESH: &str = r#"curl -X POST 'https://services.cloud.mongodb.com/api/client/v2.0/auth/session' \
  --header 'Content-Type: application/json' \
  --header 'Authorization: Bearer <RefreshToken>'"#;
const SET_EXPIRATION: &str = r#"curl -X PUT \
  https://services.cloud.mongodb.com/api/admin/v3.0/groups/{groupId}/apps/{appId}/security/refresh_token_expiration \
  --data-raw '{
    "expiration_time_seconds": 864000
  }'"#;
const VERIFY_TOKEN: &str = r#"curl -X POST \
  https://services.cloud.mongodb.com/api/admin/v3.0/groups/{groupId}/apps/{appId}/users/verify_token \
  --data-raw '{
    "token": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJiYWFzX2RldmljZV9pZCI6IjAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMCIsImJhYXNfZG9tYWluX2lkIjoiNWNkYjEyNDA4ZTIzMmFjNGY5NTg3ZmU4IiwiZXhwIjoxNjc2NTExMjgyLCJpYXQiOjE2NzY1MDk0ODIsImlzcyI6IjYzZWQ4MTJhNDNiZTcyYzE3NmFhNWQyMyIsInN0aXRjaF9kZXZJZCI6IjAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMCIsInN0aXRjaF9kb21haW5JZCI6IjVjZGIxMjQwOGUyMzJhYzRmOTU4N2ZlOCIsInN1YiI6IjYzZWQ4MTJhNDNiZTcyYzE3NmFhNWQyMSIsInR5cCI6ImFjY2VzcyJ9.7kHO9wjWvIaD3VewDyPhLyb-oRc7wTYZdD9-hroF-H4"
  }'"#;
const DOCS_ACCESS_TOKEN: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJiYWFzX2RldmljZV9pZCI6IjAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMCIsImJhYXNfZG9tYWluX2lkIjoiNWNkYjEyNDA4ZTIzMmFjNGY5NTg3ZmU4IiwiZXhwIjoxNjc2NTExMjgyLCJpYXQiOjE2NzY1MDk0ODIsImlzcyI6IjYzZWQ4MTJhNDNiZTcyYzE3NmFhNWQyMyIsInN0aXRjaF9kZXZJZCI6IjAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMCIsInN0aXRjaF9kb21haW5JZCI6IjVjZGIxMjQwOGUyMzJhYzRmOTU4N2ZlOCIsInN1YiI6IjYzZWQ4MTJhNDNiZTcyYzE3NmFhNWQyMSIsInR5cCI6ImFjY2VzcyJ9.7kHO9wjWvIaD3VewDyPhLyb-oRc7wTYZdD9-hroF-H4";
const ADMIN_LOGOUT: &str = r#"curl -X PUT \
  -H 'Authorization: Bearer {access_token}' \
  https://services.cloud.mongodb.com/api/admin/v3.0/groups/{groupId}/apps/{appId}/users/{userId}/logout"#;

/// What one curl printed: status and body.
struct Answer {
    status: u16,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|err| panic!("{err}: {}", self.body))
    }
}

struct Docs {
    gateway: TestGateway,
}

impl Docs {
    /// Runs `command` after pointing its base URL at the gateway (`admin`: the admin
    /// listener) and applying `replace` (placeholders the page asks the reader to fill in).
    async fn run(&self, command: &str, admin: bool, replace: &[(&str, &str)]) -> Answer {
        let base = if admin {
            &self.gateway.admin_url
        } else {
            &self.gateway.client_url
        };
        let mut command = command.replace(DOCS_BASE, base);
        for (from, to) in replace {
            command = command.replace(from, to);
        }
        // The status on a line of its own after the body.
        let script = format!("{command} --silent --show-error --write-out '\\n%{{http_code}}'");
        let output = tokio::process::Command::new("sh")
            .arg("-c")
            .arg(&script)
            .stdin(Stdio::null())
            .output()
            .await
            .expect("run curl");
        assert!(
            output.status.success(),
            "{script}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let stdout = String::from_utf8(output.stdout).expect("UTF-8 output");
        let (body, status) = stdout.rsplit_once('\n').expect("status line");
        Answer {
            status: status.trim().parse().expect("status"),
            body: body.to_owned(),
        }
    }

    /// An admin command with the admin Bearer added (the page's admin curls assume one).
    async fn admin(&self, command: &str, replace: &[(&str, &str)]) -> Answer {
        let with_bearer = command.replacen(
            "curl -X",
            &format!("curl -H 'Authorization: Bearer {ADMIN_KEY}' -X"),
            1,
        );
        let mut all = vec![
            ("{groupId}", "5f1b2c3d4e5f6a7b8c9d0e1f"),
            ("{appId}", DOCS_APP_ID),
        ];
        all.extend_from_slice(replace);
        self.run(&with_bearer, true, &all).await
    }
}

fn assert_login(answer: &Answer) -> Value {
    assert_eq!(answer.status, 200, "{}", answer.body);
    let body = answer.json();
    for field in ["access_token", "refresh_token", "user_id", "device_id"] {
        assert!(body[field].is_string(), "{field}: {body}");
    }
    body
}

#[tokio::test]
async fn every_curl_of_the_sessions_page_gets_the_answer_it_shows() {
    if std::process::Command::new("curl")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .map_or(true, |status| !status.success())
    {
        skip_without(
            "curl",
            "every_curl_of_the_sessions_page_gets_the_answer_it_shows",
        );
        return;
    }
    let hooks = Hooks::start().await;
    let keys = tempfile::tempdir().unwrap();
    let key_file = keys.path().join("custom-token.key");
    std::fs::write(&key_file, JWT_SECRET).unwrap();
    let toml = format!(
        "[providers.custom_token]\nenabled = true\nalgorithms = [\"HS256\"]\n\
         key_file = \"{}\"\naudience = [\"{JWT_AUDIENCE}\"]\n\
         [providers.custom_function]\nenabled = true\nurl = \"{}\"\n",
        key_file.display(),
        hooks.url("/login"),
    );
    let gateway = TestGateway::start_with(
        Options::default()
            .toml(&toml)
            .env("SESSIONGATE_APP__ID", DOCS_APP_ID),
    )
    .await;
    let docs = Docs { gateway };

    // Location: the four fields, the hostname being where the gateway is reached.
    let answer = docs
        .run(LOCATION, false, &[("<App ID>", DOCS_APP_ID)])
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let location = answer.json();
    for field in ["deployment_model", "location", "hostname", "ws_hostname"] {
        assert!(location[field].is_string(), "{field}: {location}");
    }

    // One login per provider tab.
    let anon = assert_login(&docs.run(ANON, false, &[]).await);
    let registered = docs
        .gateway
        .http
        .post(format!(
            "{}/api/client/v2.0/app/{DOCS_APP_ID}/auth/providers/local-userpass/register",
            docs.gateway.client_url
        ))
        .json(&json!({"email": "test@example.com", "password": "Pa55w0rd"}))
        .send()
        .await
        .unwrap();
    assert_eq!(registered.status(), 201);
    let userpass = assert_login(&docs.run(USERPASS, false, &[]).await);
    let key = create_api_key(&docs.gateway, userpass["refresh_token"].as_str().unwrap()).await;
    assert_login(&docs.run(API_KEY, false, &[(DOCS_API_KEY, &key)]).await);
    // The page's token, with the example's claims, signed with the configured key and not
    // yet expired (the page's own expired in 2018).
    let claims = json!({
        "aud": JWT_AUDIENCE,
        "exp": sessiongate::ids::now() + 600,
        "sub": "24601",
        "user_data": {"name": "Jean Valjean", "aliases": ["Monsieur Madeleine", "Ultime Fauchelevent", "Urbain Fabre"]},
    });
    let token = forge_hs256_raw(
        &json!({"alg": "HS256", "typ": "JWT"}),
        &claims,
        JWT_SECRET.as_bytes(),
    );
    assert_login(
        &docs
            .run(CUSTOM_TOKEN, false, &[(DOCS_CUSTOM_TOKEN, &token)])
            .await,
    );
    assert_login(&docs.run(CUSTOM_FUNCTION, false, &[]).await);

    // Refresh: `{"access_token": …}`.
    let refresh_token = anon["refresh_token"].as_str().unwrap();
    let answer = docs
        .run(REFRESH, false, &[("<RefreshToken>", refresh_token)])
        .await;
    assert_eq!(answer.status, 201, "{}", answer.body);
    assert!(answer.json()["access_token"].is_string(), "{}", answer.body);

    // The refresh token expiration: 204.
    let answer = docs.admin(SET_EXPIRATION, &[]).await;
    assert_eq!(answer.status, 204, "{}", answer.body);

    // Verify a token: the page's own (signed by another app) is 401 "signature is invalid";
    // one of ours is 200 with the claims the page lists.
    let answer = docs.admin(VERIFY_TOKEN, &[]).await;
    assert_eq!(answer.status, 401, "{}", answer.body);
    assert_eq!(answer.json()["error"], "signature is invalid");
    let access_token = userpass["access_token"].as_str().unwrap();
    let answer = docs
        .admin(VERIFY_TOKEN, &[(DOCS_ACCESS_TOKEN, access_token)])
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let claims = answer.json();
    for field in ["sub", "exp", "iat", "iss", "domain_id", "device_id"] {
        assert!(!claims[field].is_null(), "{field}: {claims}");
    }
    assert_eq!(claims["sub"], userpass["user_id"]);

    // End a user's sessions, with an Admin API access token from the `mongodb-cloud` login
    // as the page's Bearer. The user's refresh token stops working.
    let login = docs
        .gateway
        .http
        .post(format!(
            "{}/api/admin/v3.0/auth/providers/mongodb-cloud/login",
            docs.gateway.admin_url
        ))
        .json(&json!({"username": "my-atlas-public-key", "apiKey": ADMIN_KEY}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
    let admin_token: Value = login.json().await.unwrap();
    let admin_token = admin_token["access_token"].as_str().unwrap().to_owned();
    let user_id = userpass["user_id"].as_str().unwrap();
    let answer = docs
        .run(
            ADMIN_LOGOUT,
            true,
            &[
                ("{access_token}", &admin_token),
                ("{groupId}", "5f1b2c3d4e5f6a7b8c9d0e1f"),
                ("{appId}", DOCS_APP_ID),
                ("{userId}", user_id),
            ],
        )
        .await;
    assert_eq!(answer.status, 204, "{}", answer.body);
    let refreshed = docs
        .gateway
        .refresh(userpass["refresh_token"].as_str().unwrap())
        .await;
    assert_eq!(refreshed.status(), 401);
}

/// A user API key made through the client API (with the user's refresh token, as App Services
/// asks), as the page's api-key tab assumes one exists.
async fn create_api_key(gateway: &TestGateway, refresh_token: &str) -> String {
    let response = gateway
        .http
        .post(gateway.client_api("/auth/api_keys"))
        .bearer_auth(refresh_token)
        .json(&json!({"name": "docs"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    body["key"].as_str().expect("key").to_owned()
}
