//! schemathesis against the real binary: every provider that runs locally enabled (its webhooks
//! on a local hook server, custom-token with the fixture EC key), an admin key, a generated
//! signing key (so rotation can succeed), the echo upstream behind it.
//!
//! Two runs read the served `/openapi.json`: one against the admin listener (Admin API, health,
//! metrics, the document) and one against the client listener (the client API). Access and
//! refresh tokens come from logins made by schemathesis itself (`auth.dynamic`), fetched again
//! whenever an operation answers 401 — operations such as `DELETE /auth/sessions` end them.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use serde_json::json;

use crate::common::{self, ADMIN_KEY, APP_ID, EchoUpstream, GatewayProcess};
use crate::described::GROUP_ID;
use crate::hooks::Hooks;

/// Seed of every run: the same requests each time.
const SEED: u64 = 20_261_201;

/// Cases generated per operation in the fuzzing phase (the examples and coverage phases add
/// their own, bounded by the schema): keeps both runs within a couple of minutes on two busy
/// cores.
const MAX_EXAMPLES: u32 = 30;

/// The checks every run applies (`st run --checks`).
const CHECKS: &str = "all";

/// The fixture user whose refresh token the API-key operations use.
const USER_EMAIL: &str = "openapi-fixture@example.com";
const USER_PASSWORD: &str = "fixture-password-1";

pub struct Schemathesis {
    st: PathBuf,
}

impl Schemathesis {
    /// The virtualenv `.ci/setup-schemathesis` builds, if it holds the checked-in pins.
    pub fn find() -> Option<Self> {
        let venv = match std::env::var_os("SESSIONGATE_SCHEMATHESIS_VENV") {
            Some(venv) => PathBuf::from(venv),
            None => std::env::var_os("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .or_else(|| {
                    std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache"))
                })?
                .join("sessiongate/schemathesis"),
        };
        let wanted = std::fs::read(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/openapi/requirements.txt"),
        )
        .expect("read tests/openapi/requirements.txt");
        let installed = std::fs::read(venv.join("requirements.txt")).ok()?;
        if installed != wanted {
            println!(
                "{} holds other pins than tests/openapi/requirements.txt",
                venv.display()
            );
            return None;
        }
        let st = venv.join("bin/st");
        st.exists().then_some(Self { st })
    }

    /// Runs `st run` against `base` for the operations whose path matches `paths`; returns
    /// whether it passed and what it printed.
    async fn run(&self, config: &Path, schema: &str, base: &str, paths: &str) -> (bool, String) {
        // Run in the temp dir: schemathesis keeps a `.schemathesis/` cache in its working dir.
        let dir = config.parent().expect("the config is in the temp dir");
        let output = tokio::process::Command::new(&self.st)
            .current_dir(dir)
            .arg("--config-file")
            .arg(config)
            .args(["run", schema, "--url", base])
            .args(["--include-path-regex", paths])
            .args(["--checks", CHECKS])
            .args(["--seed", &SEED.to_string()])
            .args(["--max-examples", &MAX_EXAMPLES.to_string()])
            // One worker: hypothesis' lambda descriptions are not thread-safe (runtime errors with 2).
            .args([
                "--workers",
                "1",
                "--no-color",
                "--generation-database",
                "none",
            ])
            .args(["--request-timeout", "30"])
            .stdin(Stdio::null())
            .output()
            .await
            .expect("run schemathesis");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        (output.status.success(), text)
    }
}

/// The gateway's config: every provider that runs on this machine.
fn config(dir: &Path, upstream: &str, hooks: &Hooks) -> PathBuf {
    let key_file = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ec_public.pem");
    let extra = format!(
        r#"
[providers.local_userpass]
auto_confirm = false
confirmation_url = "{confirm}"
reset_url = "{reset}"
webhook_timeout = "5s"

[providers.custom_token]
enabled = true
algorithms = ["ES256"]
key_file = "{key_file}"
audience = ["openapi-test"]

[providers.custom_function]
enabled = true
url = "{login}"
"#,
        confirm = hooks.url("/confirm"),
        reset = hooks.url("/reset"),
        login = hooks.url("/login"),
        key_file = key_file.display(),
    );
    let text = common::config_text(&dir.join("sessiongate.db"), upstream, &extra);
    let path = dir.join("sessiongate.toml");
    std::fs::write(&path, text).expect("write config");
    path
}

/// schemathesis' own config: credentials per security scheme, the fixed group id.
fn schemathesis_config(dir: &Path) -> PathBuf {
    let login =
        |provider: &str| format!("/api/client/v2.0/app/{APP_ID}/auth/providers/{provider}/login");
    let text = format!(
        r#"
[parameters]
# The Admin API takes any group id; the path-normalization answers to odd segments (`;`,
# dots only) are the proxy's rules, tested in tests/edge_http.rs.
"path.groupId" = "{GROUP_ID}"

# A well-formed confirmation or reset token that was never issued is 400 UserpassTokenInvalid,
# as App Services answers it: no schema can tell an issued token from a made-up one. The same
# holds for the OpenID Connect callback's `state` (400 InvalidParameter when never issued).
[[operations]]
include-operation-id = ["confirmUserpass", "resetPassword", "oauthCallback", "oauthCallbackForm"]
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "404", "409"]

# An import's rules across fields (a local-userpass identity needs an email, a password_hash a
# local-userpass identity and a supported PHC scheme, no id twice in a batch) and against the
# store (an id held differently: 409) are beyond a schema; such a batch is refused whole.
[[operations]]
include-operation-id = ["adminImportUsers"]
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "404", "409"]

[auth.openapi.adminKey]
bearer = "{ADMIN_KEY}"

[auth.dynamic.openapi.adminRefreshToken]
path = "/api/admin/v3.0/auth/providers/mongodb-cloud/login"
payload = {{ username = "schemathesis", apiKey = "{ADMIN_KEY}" }}
extract_selector = "/refresh_token"

[auth.dynamic.openapi.accessToken]
path = "{anon}"
extract_selector = "/access_token"

[auth.dynamic.openapi.refreshToken]
path = "{userpass}"
payload = {{ username = "{USER_EMAIL}", password = "{USER_PASSWORD}" }}
extract_selector = "/refresh_token"
"#,
        anon = login("anon-user"),
        userpass = login("local-userpass"),
    );
    let path = dir.join("schemathesis.toml");
    std::fs::write(&path, text).expect("write schemathesis.toml");
    path
}

pub async fn run_against_gateway(schemathesis: &Schemathesis) {
    let dir = tempfile::tempdir().expect("temp dir");
    let upstream = EchoUpstream::start().await;
    let hooks = Hooks::start().await;
    let config = config(dir.path(), &upstream.url(), &hooks);
    let gateway = GatewayProcess::spawn(
        &config,
        &[
            ("SESSIONGATE_ADMIN__API_KEY", ADMIN_KEY),
            ("SESSIONGATE_LOG", "warn"),
        ],
    )
    .await;

    // A confirmed email/password user, so the API-key operations can succeed.
    let created = reqwest::Client::new()
        .post(gateway.admin_api("/users"))
        .bearer_auth(ADMIN_KEY)
        .json(&json!({ "email": USER_EMAIL, "password": USER_PASSWORD }))
        .send()
        .await
        .expect("create the fixture user");
    assert_eq!(created.status(), 201, "create the fixture user");

    let st_config = schemathesis_config(dir.path());
    let schema = format!("{}/openapi.json", gateway.admin_url);
    let reports = Path::new(env!("CARGO_TARGET_TMPDIR")).join("schemathesis");
    std::fs::create_dir_all(&reports).expect("create the report dir");
    let mut failures = Vec::new();
    // The client listener first: the admin run's stateful phase may disable or delete the
    // fixture user (it follows links from `GET /users`), after which the client run's logins
    // would answer 401 `UserDisabled`. Nothing the client run does changes what the admin run
    // can reach.
    for (name, base, paths) in [
        ("client", &gateway.client_url, "^/api/client/"),
        ("admin", &gateway.admin_url, "^/(?!api/client/)"),
    ] {
        let (passed, output) = schemathesis.run(&st_config, &schema, base, paths).await;
        let report = reports.join(format!("{name}.txt"));
        std::fs::write(&report, &output).expect("write the schemathesis output");
        println!(
            "schemathesis against the {name} listener: {}",
            report.display()
        );
        if !passed {
            failures.push(format!("--- schemathesis, {name} listener ---\n{output}"));
        }
    }
    if !failures.is_empty() {
        let stderr = gateway.stderr.lock().expect("stderr lock").clone();
        panic!(
            "{}\n--- gateway stderr ---\n{}",
            failures.join("\n"),
            tail(&stderr, 20_000)
        );
    }
}

/// The last `max` bytes of `text` (at a character boundary).
fn tail(text: &str, max: usize) -> &str {
    let mut start = text.len().saturating_sub(max);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}
