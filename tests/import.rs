//! `POST users/import` and `sessiongate users import` against a real gateway: an App Services
//! `GET users` export (tests/fixtures/app_services_users.json) keeps every id, users log in
//! through their providers as the same user, the proxy sends their id upstream; re-running is
//! a no-op, a malformed or conflicting batch writes nothing. On SQLite, and on PostgreSQL
//! (a fresh schema) when `SESSIONGATE_TEST_POSTGRES_URL` is set.

mod common;
#[path = "support/hooks.rs"]
mod hooks;

use std::path::PathBuf;
use std::time::Duration;

use argon2::password_hash::{PasswordHasher, SaltString};
use common::*;
use hooks::Hooks;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::Method;
use serde_json::{Value, json};

const AUDIENCE: &str = "import-audience";
const ADA: &str = "651fa006b15a534c69b119ef";
const GRACE: &str = "6233247fb46a9b5bb144e797";
const DISABLED: &str = "62f4815cdf2bbee9f10cd10b";
const MARGARET: &str = "64b7f3a2c9e77d1a2b3c4d5f";
const BCRYPT_USER: &str = "65aa00000000000000000b01";
const ARGON_USER: &str = "65aa00000000000000000a02";

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn export() -> Vec<Value> {
    let text = std::fs::read_to_string(fixture("app_services_users.json")).expect("fixture");
    serde_json::from_str(&text).expect("fixture is JSON")
}

/// The fixture plus two users from another system, with a bcrypt and an argon2id hash
/// (argon2id with lighter parameters than the gateway's, so the rehash shows).
fn export_with_hashes() -> Vec<Value> {
    let bcrypt_hash = bcrypt::hash("Bcrypt-pa55", 4).expect("bcrypt");
    let params = argon2::Params::new(8 * 1024, 1, 1, None).expect("params");
    let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let salt = SaltString::encode_b64(b"import-test-salt").expect("salt");
    let argon_hash = argon
        .hash_password(b"Argon-pa55", &salt)
        .expect("argon2id")
        .to_string();
    let mut users = export();
    for (id, email, hash) in [
        (BCRYPT_USER, "bea@example.com", bcrypt_hash),
        (ARGON_USER, "arno@example.com", argon_hash),
    ] {
        users.push(json!({
            "_id": id,
            "identities": [{"id": format!("{id}-lp"), "provider_type": "local-userpass",
                            "provider_data": {"email": email}}],
            "type": "normal",
            "creation_date": 1_700_000_000,
            "disabled": false,
            "data": {"email": email},
            "password_hash": hash,
        }));
    }
    users
}

/// Webhooks for reset, custom-token with the fixture RSA key, and every provider on.
fn import_toml(hooks: &Hooks) -> String {
    let key = format!("{:?}", fixture("rsa_public.pem").display().to_string());
    // The export's anonymous user was created in 2020: past the default `anon_user_ttl`, the
    // lifecycle chore (which runs at start, racing the import) would purge it, as designed.
    format!(
        r#"
[tokens]
anon_user_ttl = "36500d"

[providers.local_userpass]
reset_url = "{reset}"
confirmation_url = "{confirm}"
webhook_timeout = "2s"

[providers.custom_token]
enabled = true
algorithms = ["RS256"]
key_file = {key}
audience = ["{AUDIENCE}"]
"#,
        reset = hooks.url("/reset"),
        confirm = hooks.url("/confirm"),
    )
}

fn custom_token(sub: &str) -> String {
    let now = sessiongate::ids::now();
    let claims = json!({"sub": sub, "aud": AUDIENCE, "iat": now, "exp": now + 600});
    let key = EncodingKey::from_rsa_pem(&std::fs::read(fixture("rsa_private.pem")).unwrap())
        .expect("RSA key");
    jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &key).expect("sign")
}

async fn import<T: serde::Serialize + ?Sized>(gw: &TestGateway, body: &T) -> reqwest::Response {
    gw.admin(Method::POST, "/users/import")
        .json(body)
        .send()
        .await
        .expect("import request")
}

async fn login(gw: &TestGateway, provider: &str, body: Value) -> reqwest::Response {
    gw.http
        .post(gw.app_api(&format!("/auth/providers/{provider}/login")))
        .json(&body)
        .send()
        .await
        .expect("login request")
}

async fn logged_in_as(response: reqwest::Response, user_id: &str) -> String {
    let body = assert_json_status(response, 200).await;
    assert_eq!(body["user_id"], user_id, "{body}");
    body["access_token"]
        .as_str()
        .expect("access token")
        .to_owned()
}

fn ids(list: &Value) -> Vec<String> {
    list.as_array()
        .expect("a report list")
        .iter()
        .map(|e| e["_id"].as_str().expect("_id").to_owned())
        .collect()
}

async fn stored_hash(gw: &TestGateway, email: &str) -> String {
    gw.state
        .auth
        .store()
        .find_local_account(email)
        .await
        .expect("store")
        .expect("account")
        .password_hash
}

/// The whole story on one gateway (SQLite or PostgreSQL behind it).
async fn import_story(gw: &TestGateway, hooks: &Hooks) {
    let users = export_with_hashes();
    let expected: Vec<String> = users
        .iter()
        .map(|u| u["_id"].as_str().unwrap().to_owned())
        .collect();

    let report = assert_json_status(import(gw, &users).await, 200).await;
    assert_eq!(ids(&report["created"]), expected, "{report}");
    assert_eq!(report["skipped"], json!([]));
    assert_eq!(report["refused"], json!([]));

    // Every user is there with its id, type, data, dates, disabled flag and identities.
    for user in &users {
        let id = user["_id"].as_str().unwrap();
        let shown = assert_json_status(
            gw.admin(Method::GET, &format!("/users/{id}"))
                .send()
                .await
                .unwrap(),
            200,
        )
        .await;
        assert_eq!(shown["_id"], id);
        assert_eq!(shown["type"], user["type"], "{shown}");
        assert_eq!(shown["creation_date"], user["creation_date"], "{shown}");
        assert_eq!(shown["disabled"], user["disabled"], "{shown}");
        assert_eq!(shown["data"], user["data"], "{shown}");
        let providers = |u: &Value| -> Vec<(String, String)> {
            u["identities"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| {
                    (
                        i["id"].as_str().unwrap().to_owned(),
                        i["provider_type"].as_str().unwrap().to_owned(),
                    )
                })
                .collect()
        };
        assert_eq!(providers(&shown), providers(user), "{shown}");
    }

    // Re-running the same file changes nothing.
    let again = assert_json_status(import(gw, &users).await, 200).await;
    assert_eq!(again["created"], json!([]));
    assert_eq!(ids(&again["skipped"]), expected);
    assert_eq!(again["skipped"][0]["reason"], "exists and identical");

    // custom-token: the identity's id is the token's sub; same user, and the proxy says so.
    let access = logged_in_as(
        login(
            gw,
            "custom-token",
            json!({"token": custom_token("ext-user-42")}),
        )
        .await,
        GRACE,
    )
    .await;
    let echoed = gw.echo("/items", &access).await;
    assert_eq!(echoed["headers"]["x-user-id"], GRACE, "{echoed}");

    // A disabled user stays disabled.
    let refused = login(
        gw,
        "custom-token",
        json!({"token": custom_token("ext-user-43")}),
    )
    .await;
    assert_eq!(refused.status(), 401);
    let shown = assert_json_status(
        gw.admin(Method::GET, &format!("/users/{DISABLED}"))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(shown["disabled"], true);

    // An App Services email user has no password: a clear 401, whatever the password.
    let body = assert_error(
        gw.login_userpass_raw("ada@example.com", "any-password")
            .await,
        401,
        "PasswordResetRequired",
    )
    .await;
    assert!(body["error"].as_str().unwrap().contains("reset"), "{body}");
    // reset/send works for them; the reset sets a password; the login lands on the same id.
    let response = gw
        .http
        .post(gw.app_api("/auth/providers/local-userpass/reset/send"))
        .json(&json!({"email": "ada@example.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let delivery = hooks.next("reset", "ada@example.com").await;
    let response = gw
        .http
        .post(gw.app_api("/auth/providers/local-userpass/reset"))
        .json(
            &json!({"token": delivery.token, "tokenId": delivery.token_id,
                      "password": "N3w-password"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    logged_in_as(
        gw.login_userpass_raw("ada@example.com", "N3w-password")
            .await,
        ADA,
    )
    .await;

    // The email of a linked user is normalized; its other identity is kept.
    assert_error(
        gw.login_userpass_raw("margaret@example.com", "whatever-1")
            .await,
        401,
        "PasswordResetRequired",
    )
    .await;
    let margaret = gw
        .state
        .auth
        .store()
        .find_identity("custom-function", "cf-margaret")
        .await
        .unwrap();
    assert_eq!(margaret.as_deref(), Some(MARGARET));

    // Users from other systems log in with their password; the hash becomes argon2id.
    for (email, password, id) in [
        ("bea@example.com", "Bcrypt-pa55", BCRYPT_USER),
        ("arno@example.com", "Argon-pa55", ARGON_USER),
    ] {
        assert!(
            !stored_hash(gw, email)
                .await
                .starts_with("$argon2id$v=19$m=19456")
        );
        assert_error(
            gw.login_userpass_raw(email, "wrong-password").await,
            401,
            "InvalidPassword",
        )
        .await;
        logged_in_as(gw.login_userpass_raw(email, password).await, id).await;
        let rehashed = stored_hash(gw, email).await;
        assert!(
            rehashed.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{email}: {rehashed}"
        );
        logged_in_as(gw.login_userpass_raw(email, password).await, id).await;
    }

    // After logins changed the users, the same file still writes nothing and refuses no one
    // whose imported fields are unchanged.
    let third = import(gw, &users).await;
    assert_eq!(third.status(), 200, "{:?}", third.text().await);
}

async fn start_with_store(hooks: &Hooks, store_url: Option<&str>) -> TestGateway {
    let mut options = Options::default().toml(&import_toml(hooks));
    if let Some(url) = store_url {
        options = options.env("SESSIONGATE_STORE__URL", url);
    }
    TestGateway::start_with(options).await
}

#[tokio::test]
async fn an_app_services_export_keeps_ids_and_logins_on_sqlite() {
    let hooks = Hooks::start().await;
    let gw = start_with_store(&hooks, None).await;
    import_story(&gw, &hooks).await;
    gw.stop().await;
}

#[tokio::test]
async fn an_app_services_export_keeps_ids_and_logins_on_postgres() {
    let Some(base) = postgres_url_or_skip() else {
        return;
    };
    let (url, schema) = fresh_pg_schema(&base).await;
    let hooks = Hooks::start().await;
    let gw = start_with_store(&hooks, Some(&url)).await;
    import_story(&gw, &hooks).await;
    gw.stop().await;
    drop_pg_schema(&base, &schema).await;
}

/// A batch with malformed entries: 400, every bad index with its reason, nothing written.
async fn malformed_story(gw: &TestGateway) {
    let mut users = export();
    users.push(json!({"_id": "not-an-object-id", "identities": [{"id": "x", "provider_type": "anon-user"}]}));
    users.push(json!({"_id": "65aa00000000000000000c03", "identities": [
        {"id": "y", "provider_type": "local-userpass"}]}));
    users.push(users[2].clone());
    let response = import(gw, &users).await;
    let body = assert_error(response, 400, "ImportRefused").await;
    let refused: Vec<u64> = body["refused"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["index"].as_u64().unwrap())
        .collect();
    assert_eq!(refused, [7, 8, 9], "{body}");
    assert!(
        body["refused"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("_id")
    );
    assert!(
        body["refused"][1]["reason"]
            .as_str()
            .unwrap()
            .contains("email")
    );
    assert!(
        body["refused"][2]["reason"]
            .as_str()
            .unwrap()
            .contains("entry 2")
    );
    assert_eq!(body["created"], json!([]));
    let listed =
        assert_json_status(gw.admin(Method::GET, "/users").send().await.unwrap(), 200).await;
    assert_eq!(listed, json!([]), "nothing was written");

    // Not an array at all.
    let response = gw
        .admin(Method::POST, "/users/import")
        .body("users: nope")
        .send()
        .await
        .unwrap();
    assert_error(response, 400, "BadRequest").await;
}

/// An id the store holds differently refuses the whole batch (409): the new users of the
/// same batch are not written, the existing one is not changed.
async fn conflict_story(gw: &TestGateway) {
    let users = export();
    assert_json_status(import(gw, &users[..1]).await, 200).await;
    let mut changed = users.clone();
    changed[0]["data"] = json!({"email": "ada@example.com", "plan": "gold"});
    let body = assert_error(import(gw, &changed).await, 409, "ImportRefused").await;
    assert_eq!(body["refused"].as_array().unwrap().len(), 1, "{body}");
    assert_eq!(body["refused"][0]["_id"], ADA);
    assert!(
        body["refused"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("data"),
        "{body}"
    );
    assert_eq!(body["created"], json!([]));
    let listed =
        assert_json_status(gw.admin(Method::GET, "/users").send().await.unwrap(), 200).await;
    assert_eq!(ids(&listed), [ADA], "only the first import's user exists");
    assert_eq!(listed[0]["data"], users[0]["data"], "not overwritten");

    // An identity another user holds is refused too.
    let mut taken = users[2].clone();
    taken["_id"] = json!("65aa00000000000000000d04");
    assert_json_status(import(gw, &users[2..3]).await, 200).await;
    let body = assert_error(import(gw, &[taken]).await, 409, "ImportRefused").await;
    assert!(
        body["refused"][0]["reason"]
            .as_str()
            .unwrap()
            .contains(GRACE),
        "{body}"
    );
}

#[tokio::test]
async fn malformed_and_conflicting_batches_write_nothing_on_sqlite() {
    let gw = TestGateway::start().await;
    malformed_story(&gw).await;
    conflict_story(&gw).await;
    gw.stop().await;
}

#[tokio::test]
async fn malformed_and_conflicting_batches_write_nothing_on_postgres() {
    let Some(base) = postgres_url_or_skip() else {
        return;
    };
    let (url, schema) = fresh_pg_schema(&base).await;
    let gw = TestGateway::start_with(Options::default().env("SESSIONGATE_STORE__URL", &url)).await;
    malformed_story(&gw).await;
    conflict_story(&gw).await;
    gw.stop().await;
    drop_pg_schema(&base, &schema).await;
}

/// The route has its own body limit, above the own endpoints' 64 KiB.
#[tokio::test]
async fn the_import_body_limit_is_its_own() {
    let gw = TestGateway::start_with(Options::default().toml("[admin]\nimport_max_bytes = 200000"))
        .await;
    let many: Vec<Value> = (0..600)
        .map(|n| {
            json!({"_id": format!("{n:024x}"), "type": "normal", "creation_date": 1_700_000_000,
                   "identities": [{"id": format!("sub-{n}"), "provider_type": "custom-token",
                                   "provider_data": {"name": "x".repeat(40)}}],
                   "disabled": false, "data": {"name": format!("user {n}")}})
        })
        .collect();
    let size = serde_json::to_vec(&many).unwrap().len();
    assert!((65_536..200_000).contains(&size), "{size}");
    let report = assert_json_status(import(&gw, &many).await, 200).await;
    assert_eq!(report["created"].as_array().unwrap().len(), 600);
    let more: Vec<Value> = many.iter().chain(many.iter()).cloned().collect();
    assert_error(import(&gw, &more).await, 413, "PayloadTooLarge").await;
    // GET on the action is not a user id: 405 with Allow.
    let response = gw.admin(Method::GET, "/users/import").send().await.unwrap();
    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["allow"], "POST");
    gw.stop().await;
}

/// `sessiongate users import FILE` against the running gateway prints the report.
#[tokio::test]
async fn the_cli_import_prints_the_report() {
    let gw = TestGateway::start().await;
    let run = |args: Vec<String>| async move {
        let output = tokio::time::timeout(
            Duration::from_secs(60),
            tokio::process::Command::new(env!("CARGO_BIN_EXE_sessiongate"))
                .args(&args)
                .env_clear()
                .env("SESSIONGATE_ADMIN__API_KEY", ADMIN_KEY)
                .kill_on_drop(true)
                .output(),
        )
        .await
        .expect("the CLI finished")
        .expect("CLI output");
        (
            output.status.code().expect("exit code"),
            String::from_utf8(output.stdout).unwrap(),
            String::from_utf8(output.stderr).unwrap(),
        )
    };
    let args = |file: &std::path::Path| -> Vec<String> {
        [
            "users",
            "import",
            &file.display().to_string(),
            "--url",
            &gw.admin_url,
            "--app",
            APP_ID,
            "--config",
            &gw.dir.path().join("none.toml").display().to_string(),
        ]
        .map(str::to_owned)
        .to_vec()
    };
    let file = fixture("app_services_users.json");
    let (code, stdout, stderr) = run(args(&file)).await;
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("created 7, skipped 0"), "{stdout}");
    let (code, stdout, _) = run(args(&file)).await;
    assert_eq!(code, 0);
    assert!(stdout.contains("created 0, skipped 7"), "{stdout}");

    let bad = gw.dir.path().join("bad.json");
    std::fs::write(&bad, r#"[{"_id": "nope", "identities": []}]"#).unwrap();
    let (code, stdout, stderr) = run(args(&bad)).await;
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(stdout.contains("refused entry 0 (nope): _id"), "{stdout}");
    assert!(stderr.contains("ImportRefused"), "{stderr}");
    gw.stop().await;
}
