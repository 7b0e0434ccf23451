//! The official `realm-web` SDK (npm, unmodified, driven from Node as a web app would) against
//! a real gateway. Installs realm-web itself with `npm ci`; without Node it says it was skipped.

mod common;
#[path = "support/hooks.rs"]
mod hooks;
#[path = "support/issuer.rs"]
mod issuer;
#[path = "support/node.rs"]
mod node;

use std::path::{Path, PathBuf};

use common::*;
use hooks::Hooks;
use node::{have, npm_ci};

fn harness_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/realm_web")
}

/// Runs one scenario of tests/realm_web/scenario.mjs against `gateway`.
async fn run_scenario(gateway: &TestGateway, scenario: &str) {
    run_scenario_with(gateway, scenario, &[]).await;
}

/// Runs a scenario with extra environment variables.
async fn run_scenario_with(gateway: &TestGateway, scenario: &str, env: &[(&str, &str)]) {
    let output = tokio::process::Command::new("node")
        .arg("scenario.mjs")
        .current_dir(harness_dir())
        .env("SESSIONGATE_URL", &gateway.client_url)
        .env("SESSIONGATE_APP_ID", APP_ID)
        .env("SESSIONGATE_SIGNING_SECRET", SIGNING_SECRET)
        .env("SCENARIO", scenario)
        .envs(env.iter().copied())
        .output()
        .await
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    assert!(
        output.status.success(),
        "realm-web scenario {scenario} failed:\n{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains("ok logout"),
        "scenario did not reach its last step:\n{stdout}"
    );
}

#[tokio::test]
async fn realm_web_sdk_works_against_the_gateway() {
    if !have("node") || !have("npm") {
        common::skip_without("node/npm", "realm_web_sdk_works_against_the_gateway");
        return;
    }
    npm_ci(&harness_dir(), "node_modules/realm-web/package.json");
    let gateway = TestGateway::start().await;
    run_scenario(&gateway, "core").await;
}

/// HS256 secret of the custom-token provider in the `providers` scenario (Node signs with it).
const JWT_SECRET: &str = "realm-web-custom-token-secret-0123456789";
const JWT_AUDIENCE: &str = "realm-web-test";

/// Issue #3's providers through realm-web: user API keys, `Credentials.apiKey`, `.jwt`,
/// `.function`, the email/password confirmation and reset flows with webhooks run here,
/// `linkCredentials` and `deleteUser`.
#[tokio::test]
async fn realm_web_providers_work_against_the_gateway() {
    if !have("node") || !have("npm") {
        common::skip_without("node/npm", "realm_web_providers_work_against_the_gateway");
        return;
    }
    npm_ci(&harness_dir(), "node_modules/realm-web/package.json");
    let hooks = Hooks::start().await;
    let keys = tempfile::tempdir().expect("temp dir");
    let key_file = keys.path().join("custom-token.key");
    std::fs::write(&key_file, JWT_SECRET).expect("write key file");
    let toml = format!(
        r#"
[providers.local_userpass]
auto_confirm = false
confirmation_url = "{confirm}"
reset_url = "{reset}"

[providers.custom_token]
enabled = true
algorithms = ["HS256"]
key_file = "{key_file}"
audience = ["{JWT_AUDIENCE}"]

[[providers.custom_token.metadata]]
claim = "email"

[providers.custom_function]
enabled = true
url = "{login}"
"#,
        confirm = hooks.url("/confirm"),
        reset = hooks.url("/reset"),
        login = hooks.url("/login"),
        key_file = key_file.display(),
    );
    let gateway = TestGateway::start_with(Options::default().toml(&toml)).await;
    run_scenario_with(
        &gateway,
        "providers",
        &[
            ("SESSIONGATE_HOOKS_URL", &hooks.url),
            ("SESSIONGATE_JWT_SECRET", JWT_SECRET),
            ("SESSIONGATE_JWT_AUDIENCE", JWT_AUDIENCE),
        ],
    )
    .await;
}

/// `Credentials.google({idToken})`, `Credentials.google({authCode})` and
/// `Credentials.apple(idToken)` against the gateway, with a local OpenID Connect issuer.
#[tokio::test]
async fn realm_web_oidc_providers_work_against_the_gateway() {
    if !have("node") || !have("npm") {
        common::skip_without(
            "node/npm",
            "realm_web_oidc_providers_work_against_the_gateway",
        );
        return;
    }
    npm_ci(&harness_dir(), "node_modules/realm-web/package.json");
    let issuer = issuer::LocalIssuer::start().await;
    let toml = format!(
        "[providers.oauth2_google]\nenabled = true\nissuer = \"{url}\"\nclient_ids = [\"{id}\"]\n\
         [providers.oauth2_apple]\nenabled = true\nissuer = \"{url}\"\nclient_ids = [\"{id}\"]\n",
        url = issuer.url,
        id = issuer::CLIENT_ID,
    );
    let gateway = TestGateway::start_with(Options::default().toml(&toml).env(
        "SESSIONGATE_PROVIDERS__OAUTH2_GOOGLE__CLIENT_SECRET",
        issuer::CLIENT_SECRET,
    ))
    .await;
    let email = "realm-web@example.com";
    issuer.set_user(issuer::User {
        sub: "realm-web-google-sub".into(),
        email: Some(email.into()),
        email_verified: true,
    });
    let mut claims = issuer.claims("realm-web-google-sub");
    claims["email"] = email.into();
    claims["email_verified"] = true.into();
    let google = issuer.id_token(&claims);
    let code = issuer.issue_code("");
    claims["aud"] = "someone-else".into();
    let wrong_audience = issuer.id_token(&claims);
    let apple = issuer.id_token(&issuer.claims("realm-web-apple-sub"));
    run_scenario_with(
        &gateway,
        "oidc",
        &[
            ("SESSIONGATE_GOOGLE_ID_TOKEN", &google),
            ("SESSIONGATE_GOOGLE_EMAIL", email),
            ("SESSIONGATE_GOOGLE_CODE", &code),
            ("SESSIONGATE_WRONG_AUDIENCE_TOKEN", &wrong_audience),
            ("SESSIONGATE_APPLE_ID_TOKEN", &apple),
        ],
    )
    .await;
}
