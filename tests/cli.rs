//! The admin commands of the real binary against a running gateway: each test starts a
//! `TestGateway` and runs `sessiongate users|sessions|grants|token|keys|security …` against
//! its admin listener, then checks the effect through the client API and the proxy.

mod common;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use common::{
    ADMIN_KEY, APP_ID, Options, SIGNING_SECRET, TestGateway, assert_error, forge_hs256, jwt_kid,
    jwt_payload,
};
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_sessiongate");
/// Upper bound for one CLI run; a guard against hanging, not a synchronisation.
const GUARD: Duration = Duration::from_secs(60);
const UNKNOWN_USER: &str = "0123456789abcdef01234567";
const PASSWORD: &str = "Cl1-Pa55w0rd!";

/// What a CLI run left behind.
#[derive(Debug)]
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|err| panic!("stdout is not JSON ({err}): {self:?}"))
    }

    fn assert_ok(&self) -> &Self {
        assert_eq!(self.code, 0, "{self:?}");
        self
    }
}

/// Runs the binary with exactly `env` (nothing inherited) and `stdin`.
async fn run(args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Run {
    let mut command = Command::new(BIN);
    command
        .args(args)
        .env_clear()
        .envs(env.iter().copied())
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = command.spawn().expect("spawn sessiongate");
    if let Some(text) = stdin {
        let mut pipe = child.stdin.take().expect("stdin");
        pipe.write_all(text.as_bytes()).await.expect("write stdin");
        drop(pipe);
    }
    let output = tokio::time::timeout(GUARD, child.wait_with_output())
        .await
        .expect("the CLI finished")
        .expect("CLI output");
    Run {
        code: output.status.code().expect("exit code, not a signal"),
        stdout: String::from_utf8(output.stdout).expect("utf-8 stdout"),
        stderr: String::from_utf8(output.stderr).expect("utf-8 stderr"),
    }
}

/// A config path that does not exist, so nothing comes from a config file.
fn no_config(gw: &TestGateway) -> PathBuf {
    gw.dir.path().join("no-config.toml")
}

/// Runs an admin command against `gw` with the URL, key and app given as arguments.
async fn admin(gw: &TestGateway, args: &[&str]) -> Run {
    admin_with(gw, args, &[], None).await
}

async fn admin_with(
    gw: &TestGateway,
    args: &[&str],
    env: &[(&str, &str)],
    stdin: Option<&str>,
) -> Run {
    let config = no_config(gw);
    let mut all: Vec<&str> = args.to_vec();
    all.extend([
        "--url",
        &gw.admin_url,
        "--admin-key",
        ADMIN_KEY,
        "--app",
        APP_ID,
        "--config",
        config.to_str().expect("utf-8 path"),
    ]);
    run(&all, env, stdin).await
}

fn sid(access_token: &str) -> String {
    jwt_payload(access_token)["sid"]
        .as_str()
        .expect("sid claim")
        .to_owned()
}

async fn user_ids_listed(gw: &TestGateway) -> Vec<String> {
    let run = admin(gw, &["users", "list", "--json"]).await;
    run.assert_ok();
    run.json()
        .as_array()
        .expect("array")
        .iter()
        .map(|u| u["_id"].as_str().expect("_id").to_owned())
        .collect()
}

// ---------------------------------------------------------------------------------------------
// users revoke

#[tokio::test]
async fn users_revoke_ends_every_session_of_each_listed_user_only() {
    let gw = TestGateway::start().await;
    let a = gw.login_anon().await;
    let b = gw.login_anon().await;
    let c = gw.login_anon().await;
    assert!(a.user_id != b.user_id && b.user_id != c.user_id);
    // Verified and cached by a proxied request first, so revocation must beat the cache.
    for login in [&a, &b, &c] {
        gw.echo("/data/warm", &login.access_token).await;
    }

    let users = format!("--user={},{}", a.user_id, b.user_id);
    let run = admin(&gw, &["users", "revoke", &users]).await;
    run.assert_ok();
    assert!(run.stdout.contains(&a.user_id), "{run:?}");
    assert!(run.stdout.contains(&b.user_id), "{run:?}");

    for login in [&a, &b] {
        let response = gw.get_upstream("/data/after", &login.access_token).await;
        assert_error(response, 401, "InvalidSession").await;
        let response = gw.refresh(&login.refresh_token).await;
        assert_error(response, 401, "InvalidSession").await;
    }
    let seen = gw.echo("/data/after", &c.access_token).await;
    assert_eq!(seen["headers"]["x-user-id"], c.user_id.as_str());
    assert_eq!(gw.refresh(&c.refresh_token).await.status(), 201);
}

#[tokio::test]
async fn users_revoke_does_every_user_reports_each_and_fails_if_any_failed() {
    let gw = TestGateway::start().await;
    let a = gw.login_anon().await;
    let b = gw.login_anon().await;

    // The unknown user is in the middle: the one after it is still revoked.
    let users = format!("--user={},{UNKNOWN_USER},{}", a.user_id, b.user_id);
    let run = admin(&gw, &["users", "revoke", &users]).await;
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stdout.contains(&a.user_id), "{run:?}");
    assert!(run.stdout.contains(&b.user_id), "{run:?}");
    assert!(run.stderr.contains(UNKNOWN_USER), "{run:?}");
    assert!(run.stderr.contains("UserNotFound"), "{run:?}");
    for login in [&a, &b] {
        assert_eq!(gw.refresh(&login.refresh_token).await.status(), 401);
    }

    // --json: one result per user, in order.
    let users = format!("--user={UNKNOWN_USER},{}", a.user_id);
    let run = admin(&gw, &["users", "revoke", &users, "--json"]).await;
    assert_eq!(run.code, 1, "{run:?}");
    let results = run.json();
    assert_eq!(results[0]["user_id"], UNKNOWN_USER, "{results}");
    assert_eq!(results[0]["ok"], false, "{results}");
    assert_eq!(results[0]["status"], 404, "{results}");
    assert_eq!(results[0]["error_code"], "UserNotFound", "{results}");
    assert_eq!(results[1], json!({"user_id": a.user_id, "ok": true}));
}

// ---------------------------------------------------------------------------------------------
// users list, sessions list / revoke

#[tokio::test]
async fn users_list_and_sessions_list_print_json_for_scripts_and_tables_for_people() {
    let gw = TestGateway::start().await;
    gw.register("list@example.com", PASSWORD).await;
    let first = gw.login_userpass("list@example.com", PASSWORD).await;
    let second = gw.login_userpass("list@example.com", PASSWORD).await;
    let anon = gw.login_anon().await;

    let ids = user_ids_listed(&gw).await;
    assert!(ids.contains(&first.user_id), "{ids:?}");
    assert!(ids.contains(&anon.user_id), "{ids:?}");

    // Filters reach the gateway.
    let run = admin(
        &gw,
        &["users", "list", "--json", "--email", "list@example.com"],
    )
    .await;
    run.assert_ok();
    let users = run.json();
    assert_eq!(users.as_array().map(Vec::len), Some(1), "{users}");
    assert_eq!(users[0]["_id"], first.user_id.as_str());

    let run = admin(&gw, &["users", "list"]).await;
    run.assert_ok();
    let header: Vec<&str> = run
        .stdout
        .lines()
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(
        header,
        ["ID", "TYPE", "PROVIDERS", "EMAIL", "DISABLED", "CREATED"]
    );
    let row = run
        .stdout
        .lines()
        .find(|line| line.starts_with(&first.user_id))
        .unwrap_or_else(|| panic!("{run:?}"));
    assert!(row.contains("list@example.com"), "{row}");
    assert!(row.contains("local-userpass"), "{row}");

    let user = format!("--user={}", first.user_id);
    let run = admin(&gw, &["sessions", "list", &user, "--json"]).await;
    run.assert_ok();
    let sessions = run.json();
    let mut listed: Vec<&str> = sessions
        .as_array()
        .expect("array")
        .iter()
        .map(|s| s["id"].as_str().expect("id"))
        .collect();
    listed.sort_unstable();
    let mut expected = [sid(&first.access_token), sid(&second.access_token)];
    expected.sort_unstable();
    assert_eq!(listed, expected, "{sessions}");
    assert!(
        sessions
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["user_id"] == first.user_id.as_str()),
        "{sessions}"
    );

    let run = admin(&gw, &["sessions", "list", &user]).await;
    run.assert_ok();
    assert!(run.stdout.starts_with("ID "), "{run:?}");
    assert!(run.stdout.contains(&sid(&first.access_token)), "{run:?}");
    // Never a token in any output.
    for text in [&run.stdout, &run.stderr] {
        assert!(!text.contains(&first.refresh_token));
        assert!(!text.contains(&first.access_token));
    }
}

#[tokio::test]
async fn sessions_revoke_ends_that_session_only() {
    let gw = TestGateway::start().await;
    gw.register("two@example.com", PASSWORD).await;
    let first = gw.login_userpass("two@example.com", PASSWORD).await;
    let second = gw.login_userpass("two@example.com", PASSWORD).await;

    let user = format!("--user={}", first.user_id);
    let session = format!("--session={}", sid(&first.access_token));
    admin(&gw, &["sessions", "revoke", &user, &session])
        .await
        .assert_ok();

    assert_eq!(gw.refresh(&first.refresh_token).await.status(), 401);
    assert_eq!(gw.refresh(&second.refresh_token).await.status(), 201);

    let other = format!("--session={UNKNOWN_USER}");
    let run = admin(&gw, &["sessions", "revoke", &user, &other]).await;
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("404"), "{run:?}");
}

// ---------------------------------------------------------------------------------------------
// users create / disable / enable / delete

#[tokio::test]
async fn users_create_takes_the_password_from_stdin_and_the_user_can_log_in() {
    let gw = TestGateway::start().await;
    let run = admin_with(
        &gw,
        &[
            "users",
            "create",
            "--email",
            "new@example.com",
            "--password-stdin",
        ],
        &[],
        Some(&format!("{PASSWORD}\n")),
    )
    .await;
    run.assert_ok();
    assert!(!run.stdout.contains(PASSWORD) && !run.stderr.contains(PASSWORD));
    let login = gw.login_userpass("new@example.com", PASSWORD).await;
    assert!(run.stdout.contains(&login.user_id), "{run:?}");
    gw.echo("/data/new", &login.access_token).await;

    // The same email again: the gateway's error, exit 1.
    let run = admin_with(
        &gw,
        &["users", "create", "--email", "new@example.com", "--json"],
        &[("SESSIONGATE_USER_PASSWORD", PASSWORD)],
        None,
    )
    .await;
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("409"), "{run:?}");
}

#[tokio::test]
async fn users_create_without_a_password_is_a_usage_error() {
    let gw = TestGateway::start().await;
    let run = admin(&gw, &["users", "create", "--email", "nopw@example.com"]).await;
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("password"), "{run:?}");
    let run = admin(&gw, &["users", "revoke"]).await;
    assert_eq!(run.code, 2, "{run:?}");
}

#[tokio::test]
async fn url_key_and_app_default_to_the_config_file_and_the_password_to_the_environment() {
    let gw = TestGateway::start().await;
    let key_file = gw.dir.path().join("admin-key");
    std::fs::write(&key_file, format!("{ADMIN_KEY}\n")).expect("write key file");
    let admin_listen = gw.admin_url.trim_start_matches("http://");
    let config = gw.dir.path().join("cli.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nadmin_listen = \"{admin_listen}\"\n[app]\nid = \"{APP_ID}\"\n\
             [admin]\napi_key_file = \"{}\"\n",
            key_file.display()
        ),
    )
    .expect("write config");
    let run = run(
        &[
            "users",
            "create",
            "--email",
            "cfg@example.com",
            "--config",
            config.to_str().unwrap(),
            "--json",
        ],
        &[("SESSIONGATE_USER_PASSWORD", PASSWORD)],
        None,
    )
    .await;
    run.assert_ok();
    let login = gw.login_userpass("cfg@example.com", PASSWORD).await;
    assert_eq!(run.json()["_id"], login.user_id.as_str());
}

#[tokio::test]
async fn users_disable_refuses_login_and_enable_allows_it_again() {
    let gw = TestGateway::start().await;
    gw.register("toggle@example.com", PASSWORD).await;
    let login = gw.login_userpass("toggle@example.com", PASSWORD).await;
    let user = format!("--user={}", login.user_id);

    admin(&gw, &["users", "disable", &user]).await.assert_ok();
    let response = gw.login_userpass_raw("toggle@example.com", PASSWORD).await;
    assert_eq!(response.status(), 401);
    assert_eq!(gw.refresh(&login.refresh_token).await.status(), 401);
    let run = admin(&gw, &["users", "list", "--json"]).await;
    let users = run.json();
    let listed = users
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["_id"] == login.user_id.as_str())
        .expect("listed");
    assert_eq!(listed["disabled"], true);

    admin(&gw, &["users", "enable", &user]).await.assert_ok();
    let again = gw.login_userpass("toggle@example.com", PASSWORD).await;
    gw.echo("/data/again", &again.access_token).await;
}

#[tokio::test]
async fn users_delete_removes_the_user_and_their_sessions() {
    let gw = TestGateway::start().await;
    let gone = gw.login_anon().await;
    let kept = gw.login_anon().await;

    let user = format!("--user={}", gone.user_id);
    admin(&gw, &["users", "delete", &user]).await.assert_ok();

    let ids = user_ids_listed(&gw).await;
    assert!(!ids.contains(&gone.user_id), "{ids:?}");
    assert!(ids.contains(&kept.user_id), "{ids:?}");
    let response = gw
        .admin(reqwest::Method::GET, &format!("/users/{}", gone.user_id))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    assert_eq!(gw.refresh(&gone.refresh_token).await.status(), 401);
    assert_eq!(gw.refresh(&kept.refresh_token).await.status(), 201);

    let run = admin(&gw, &["users", "delete", &user]).await;
    assert_eq!(run.code, 1, "{run:?}");
}

// ---------------------------------------------------------------------------------------------
// token verify

#[tokio::test]
async fn token_verify_prints_the_claims_of_a_valid_token() {
    let gw = TestGateway::start().await;
    let login = gw.login_anon().await;
    let run = admin(&gw, &["token", "verify", &login.access_token]).await;
    run.assert_ok();
    let sub = run
        .stdout
        .lines()
        .find_map(|line| line.strip_prefix("sub"))
        .unwrap_or_else(|| panic!("{run:?}"));
    assert_eq!(sub.trim(), login.user_id);

    let run = admin(&gw, &["token", "verify", &login.access_token, "--json"]).await;
    run.assert_ok();
    assert_eq!(run.json()["sub"], login.user_id.as_str());
}

#[tokio::test]
async fn token_verify_exits_4_on_garbage_and_3_on_an_expired_token() {
    let gw = TestGateway::start().await;
    let run = admin(&gw, &["token", "verify", "not-a-token"]).await;
    assert_eq!(run.code, 4, "{run:?}");
    assert!(run.stderr.contains("signature is invalid"), "{run:?}");

    let login = gw.login_anon().await;
    let now = i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap();
    let claims = jwt_payload(&login.access_token);
    let expired = forge_hs256(
        &json!({
            "sub": login.user_id,
            "sid": claims["sid"],
            "iat": now - 7200,
            "exp": now - 3600,
            "iss": APP_ID,
            "typ": "access",
            "baas_device_id": login.device_id,
            "baas_provider": "anon-user",
            "user_data": {},
        }),
        &jwt_kid(&login.access_token),
        SIGNING_SECRET.as_bytes(),
    );
    let run = admin(&gw, &["token", "verify", &expired]).await;
    assert_eq!(run.code, 3, "{run:?}");
    assert!(run.stderr.contains("token expired"), "{run:?}");
    let run = admin(&gw, &["token", "verify", &expired, "--json"]).await;
    assert_eq!(run.code, 3, "{run:?}");
    assert_eq!(run.json(), json!("token expired"));
}

// ---------------------------------------------------------------------------------------------
// admin key, reachability

#[tokio::test]
async fn a_wrong_or_missing_admin_key_exits_77_and_is_never_printed() {
    let gw = TestGateway::start().await;
    let config = no_config(&gw);
    let config = config.to_str().unwrap();
    let wrong = "wrong-admin-key-0123456789";
    let target = ["--url", &gw.admin_url, "--app", APP_ID, "--config", config];

    let mut args = vec!["users", "list", "--admin-key", wrong];
    args.extend(target);
    let run = run(&args, &[], None).await;
    assert_eq!(run.code, 77, "{run:?}");
    assert!(!run.stdout.contains(wrong) && !run.stderr.contains(wrong));

    // A multi-user command stops at the first refusal too.
    let mut args = vec!["users", "revoke", "--user=a,b", "--admin-key", wrong];
    args.extend(target);
    assert_eq!(run_bin(&args, &[]).await.code, 77);

    let mut args = vec!["users", "list"];
    args.extend(target);
    let missing = run_bin(&args, &[]).await;
    assert_eq!(missing.code, 77, "{missing:?}");
    assert!(missing.stderr.contains("--admin-key"), "{missing:?}");

    // The key from the environment.
    let from_env = run_bin(&args, &[("SESSIONGATE_ADMIN__API_KEY", ADMIN_KEY)]).await;
    from_env.assert_ok();
    assert!(!from_env.stdout.contains(ADMIN_KEY) && !from_env.stderr.contains(ADMIN_KEY));
}

async fn run_bin(args: &[&str], env: &[(&str, &str)]) -> Run {
    run(args, env, None).await
}

#[tokio::test]
async fn an_unreachable_gateway_exits_69() {
    // A port that was just free: nothing listens on it.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    drop(listener);
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("none.toml");
    let run = run(
        &[
            "users",
            "revoke",
            "--user=a,b",
            "--url",
            &url,
            "--admin-key",
            ADMIN_KEY,
            "--app",
            APP_ID,
            "--config",
            config.to_str().unwrap(),
        ],
        &[],
        None,
    )
    .await;
    assert_eq!(run.code, 69, "{run:?}");
    assert!(run.stderr.contains("cannot reach"), "{run:?}");
}

// ---------------------------------------------------------------------------------------------
// grants, keys, security

#[tokio::test]
async fn grants_create_prints_a_token_that_logs_in_exactly_once() {
    let gw = TestGateway::start().await;
    let login = gw.login_anon().await;
    let user = format!("--user={}", login.user_id);
    let run = admin(&gw, &["grants", "create", &user, "--ttl", "10m"]).await;
    run.assert_ok();
    let token = run.stdout.trim();
    assert!(
        !token.is_empty() && !token.contains(char::is_whitespace),
        "{run:?}"
    );

    let exchange = || async {
        gw.http
            .post(gw.app_api("/auth/providers/grant/login"))
            .json(&json!({ "token": token }))
            .send()
            .await
            .expect("grant exchange")
    };
    let response = exchange().await;
    assert_eq!(response.status(), 200);
    let answer: Value = response.json().await.expect("login json");
    assert_eq!(answer["user_id"], login.user_id.as_str(), "{answer}");
    let access = answer["access_token"].as_str().expect("access token");
    gw.echo("/data/granted", access).await;

    assert_eq!(exchange().await.status(), 401);

    let run = admin(&gw, &["grants", "create", &user, "--ttl", "soon"]).await;
    assert_eq!(run.code, 2, "{run:?}");
}

#[tokio::test]
async fn keys_rotate_then_list_shows_both_keys() {
    // No configured signing key: it is generated and kept in the store, so it can rotate.
    let gw = TestGateway::start_with(Options::default().env("SESSIONGATE_TOKENS__SIGNING_KEY", ""))
        .await;
    let run = admin(&gw, &["keys", "list", "--json"]).await;
    run.assert_ok();
    assert_eq!(run.json().as_array().map(Vec::len), Some(1), "{run:?}");

    let rotated = admin(&gw, &["keys", "rotate", "--json"]).await;
    rotated.assert_ok();
    let kid = rotated.json()["kid"].as_str().expect("kid").to_owned();

    let run = admin(&gw, &["keys", "list", "--json"]).await;
    run.assert_ok();
    let keys = run.json();
    assert_eq!(keys.as_array().map(Vec::len), Some(2), "{keys}");
    assert!(
        keys.as_array()
            .unwrap()
            .iter()
            .any(|k| k["kid"] == kid.as_str()),
        "{keys}"
    );
    let run = admin(&gw, &["keys", "list"]).await;
    run.assert_ok();
    assert!(run.stdout.contains(&kid), "{run:?}");
}

#[tokio::test]
async fn keys_rotate_of_a_configured_key_is_the_gateways_error() {
    let gw = TestGateway::start().await;
    let run = admin(&gw, &["keys", "rotate"]).await;
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("409"), "{run:?}");
}

#[tokio::test]
async fn security_refresh_ttl_sets_seconds_from_a_duration_and_shows_it() {
    let gw = TestGateway::start().await;
    let run = admin(&gw, &["security", "refresh-ttl", "--set", "10d", "--json"]).await;
    run.assert_ok();
    assert_eq!(run.json(), json!({ "expiration_time_seconds": 864_000 }));
    let run = admin(&gw, &["security", "refresh-ttl"]).await;
    run.assert_ok();
    assert!(run.stdout.contains("864000"), "{run:?}");

    let run = admin(&gw, &["security", "refresh-ttl", "--set", "1m"]).await;
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("expiration_time_seconds"), "{run:?}");
}
