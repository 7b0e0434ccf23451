use std::time::Duration;

use super::*;

const MINIMAL: &str = "[app]\nid = \"myapp-abcde\"\n";

fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn load_str(text: &str, pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
    from_toml_str(text, &env(pairs), Path::new("."))
}

#[test]
fn minimal_config_gets_app_services_defaults() {
    let config = load_str(MINIMAL, &[]).unwrap();
    assert_eq!(config.tokens.access_ttl, Duration::from_secs(1800));
    assert_eq!(config.tokens.refresh_ttl, Duration::from_secs(60 * 86_400));
    assert_eq!(
        config.tokens.anon_user_ttl,
        Duration::from_secs(90 * 86_400)
    );
    assert_eq!(config.tokens.algorithm, SigningAlgorithm::HS256);
    assert_eq!(config.identity_headers.user_id.as_str(), "x-user-id");
    assert_eq!(config.app.public_url, None);
    assert!(config.admin.api_key.is_none());
}

#[test]
fn shipped_config_file_is_valid() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(DEFAULT_PATH);
    let config = load(&path, &BTreeMap::new()).unwrap();
    assert!(
        config.providers.anon_user && config.providers.local_userpass && config.providers.api_key
    );
    assert!(config.providers.local_userpass_auto_confirm);
}

#[test]
fn environment_overrides_the_file_and_coerces_types() {
    let config = load_str(
        MINIMAL,
        &[
            ("SESSIONGATE_UPSTREAM__URL", "http://10.0.0.1:9000"),
            ("SESSIONGATE_SERVER__MAX_HEADER_BYTES", "4096"),
            ("SESSIONGATE_PROVIDERS__ANON_USER__ENABLED", "false"),
        ],
    )
    .unwrap();
    assert_eq!(config.upstream.url.as_str(), "http://10.0.0.1:9000/");
    assert_eq!(config.server.max_header_bytes, 4096);
    assert!(!config.providers.anon_user);
}

#[test]
fn unknown_key_is_named() {
    let err = load_str("[app]\nid = \"a\"\n[server]\nlisten_addr = \"x\"\n", &[]).unwrap_err();
    assert_eq!(err.key, "server.listen_addr");
    let err = load_str(MINIMAL, &[("SESSIONGATE_SERVER__BOGUS", "1")]).unwrap_err();
    assert_eq!(err.key, "server.bogus");
}

#[test]
fn bad_duration_is_named() {
    let err = load_str("[app]\nid = \"a\"\n[tokens]\naccess_ttl = \"soon\"\n", &[]).unwrap_err();
    assert_eq!(err.key, "tokens.access_ttl");
    assert!(!err.to_string().contains('\n'));
}

#[test]
fn refresh_ttl_outside_app_services_bounds_is_refused() {
    let err = load_str("[app]\nid = \"a\"\n[tokens]\nrefresh_ttl = \"10m\"\n", &[]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "tokens.refresh_ttl: 10m is below the minimum 30m"
    );
    let err = load_str("[app]\nid = \"a\"\n[tokens]\nrefresh_ttl = \"181d\"\n", &[]).unwrap_err();
    assert_eq!(err.key, "tokens.refresh_ttl");
    assert!(load_str("[app]\nid = \"a\"\n[tokens]\nrefresh_ttl = \"180d\"\n", &[]).is_ok());
    assert!(load_str("[app]\nid = \"a\"\n[tokens]\nrefresh_ttl = \"30m\"\n", &[]).is_ok());
}

#[test]
fn unreadable_key_file_is_named() {
    let err = load_str(
        "[app]\nid = \"a\"\n[admin]\napi_key_file = \"/nonexistent/key\"\n",
        &[],
    )
    .unwrap_err();
    assert_eq!(err.key, "admin.api_key_file");
}

#[test]
fn secrets_written_in_the_file_are_refused() {
    let err = load_str(
        "[app]\nid = \"a\"\n[admin]\napi_key = \"0123456789abcdef0\"\n",
        &[],
    )
    .unwrap_err();
    assert_eq!(err.key, "admin.api_key");
    let err = load_str("[app]\nid = \"a\"\n[tokens]\nsigning_key = \"x\"\n", &[]).unwrap_err();
    assert_eq!(err.key, "tokens.signing_key");
}

#[test]
fn secrets_from_environment_are_masked_when_printed() {
    let config = load_str(
        MINIMAL,
        &[
            ("SESSIONGATE_ADMIN__API_KEY", "admin-key-0123456789"),
            (
                "SESSIONGATE_TOKENS__SIGNING_KEY",
                "0123456789abcdef0123456789abcdef",
            ),
        ],
    )
    .unwrap();
    let printed = serde_json::to_string(&config).unwrap();
    assert!(!printed.contains("admin-key-0123456789"));
    assert!(!printed.contains("0123456789abcdef0123456789abcdef"));
    assert!(format!("{config:?}").contains("***"));
}

#[test]
fn short_hmac_key_and_short_admin_key_are_refused() {
    let err = load_str(MINIMAL, &[("SESSIONGATE_TOKENS__SIGNING_KEY", "short")]).unwrap_err();
    assert_eq!(err.key, "tokens.signing_key");
    let err = load_str(MINIMAL, &[("SESSIONGATE_ADMIN__API_KEY", "short")]).unwrap_err();
    assert_eq!(err.key, "admin.api_key");
}

#[test]
fn routes_are_validated() {
    let ok = load_str(
        "[app]\nid = \"a\"\n[[routes]]\nprefix = \"/public/\"\nauth = \"none\"\n",
        &[],
    )
    .unwrap();
    assert_eq!(ok.routes[0].prefix, "/public");
    assert_eq!(ok.routes[0].auth, AuthMode::None);
    let err = load_str(
        "[app]\nid = \"a\"\n[[routes]]\nprefix = \"/x\"\nauth = \"maybe\"\n",
        &[],
    )
    .unwrap_err();
    assert_eq!(err.key, "routes[0].auth");
    let err = load_str("[app]\nid = \"a\"\n[[routes]]\nprefix = \"/a/../b\"\n", &[]).unwrap_err();
    assert_eq!(err.key, "routes[0].prefix");
}

#[test]
fn route_prefixes_that_lenient_readings_would_blur_are_refused() {
    for prefix in [
        "/Admin",
        "/admin;x",
        "/admin%2e",
        "/admin.",
        "/a./b",
        "/a b",
    ] {
        let text = format!("[app]\nid = \"a\"\n[[routes]]\nprefix = \"{prefix}\"\n");
        let err = load_str(&text, &[]).unwrap_err();
        assert_eq!(err.key, "routes[0].prefix", "{prefix}");
    }
    assert!(load_str("[app]\nid = \"a\"\n[[routes]]\nprefix = \"/v1.2/x\"\n", &[]).is_ok());
}

#[test]
fn missing_app_id_and_bad_toml_are_one_line_errors() {
    assert_eq!(load_str("", &[]).unwrap_err().key, "app.id");
    let err = load_str("[app\nid=", &[]).unwrap_err();
    assert_eq!(err.key, "config");
    assert!(!err.to_string().contains('\n'));
}

#[test]
fn public_key_or_weak_string_as_hmac_secret_is_refused_naming_the_key() {
    let pem = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/rsa_public.pem");
    let text = format!(
        "{MINIMAL}[tokens]\nalgorithm = \"HS256\"\nsigning_key_file = {:?}\n",
        pem.display().to_string()
    );
    let err = load_str(&text, &[]).unwrap_err();
    assert_eq!(err.key, "tokens.signing_key_file");
    assert!(err.reason.contains("PEM"), "{}", err.reason);
    let pem_text = std::fs::read_to_string(&pem).unwrap();
    for (secret, word) in [
        (pem_text.as_str(), "PEM"),
        (
            r#"{"kty":"oct","k":"c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0"}"#,
            "JWK",
        ),
        ("passwordpasswordpasswordpassword", "entropy"),
    ] {
        let err = load_str(MINIMAL, &[("SESSIONGATE_TOKENS__SIGNING_KEY", secret)]).unwrap_err();
        assert_eq!(err.key, "tokens.signing_key");
        assert!(err.reason.contains(word), "{}", err.reason);
        assert!(
            !err.to_string().contains(secret),
            "the secret is not echoed"
        );
    }
}

#[test]
fn cors_origins_come_from_the_file_or_a_comma_separated_environment_list() {
    let text = format!(
        "{MINIMAL}[cors]\nallowed_origins = [\"https://app.example.com\"]\nmax_age = \"2h\"\n"
    );
    let config = load_str(&text, &[]).unwrap();
    assert_eq!(config.cors.allowed_origins, ["https://app.example.com"]);
    assert_eq!(config.cors.max_age, Duration::from_secs(7200));
    assert!(!config.cors.allow_credentials);
    let config = load_str(
        MINIMAL,
        &[
            (
                "SESSIONGATE_CORS__ALLOWED_ORIGINS",
                "https://a.example, http://127.0.0.1:5173",
            ),
            ("SESSIONGATE_CORS__ALLOW_CREDENTIALS", "true"),
            ("SESSIONGATE_CORS__ALLOWED_HEADERS", "X-App-Version"),
        ],
    )
    .unwrap();
    assert_eq!(
        config.cors.allowed_origins,
        ["https://a.example", "http://127.0.0.1:5173"]
    );
    assert!(config.cors.allow_credentials);
    assert_eq!(config.cors.allowed_headers[0].as_str(), "x-app-version");
    let defaults = load_str(MINIMAL, &[]).unwrap();
    assert!(defaults.cors.allowed_origins.is_empty());
    assert_eq!(defaults.cors.max_age, Duration::from_secs(600));
}

#[test]
fn cors_wildcard_with_credentials_and_inexact_origins_are_refused_naming_the_key() {
    let err = load_str(
        MINIMAL,
        &[
            ("SESSIONGATE_CORS__ALLOWED_ORIGINS", "*"),
            ("SESSIONGATE_CORS__ALLOW_CREDENTIALS", "true"),
        ],
    )
    .unwrap_err();
    assert_eq!(err.key, "cors.allow_credentials");
    assert!(err.reason.contains("\"*\""), "{}", err.reason);
    for (origins, says) in [
        ("https://app.example.com/", "browsers send it as"),
        ("https://app.example.com:443", "browsers send it as"),
        ("app.example.com", "exact origin"),
        ("null", "sandboxed"),
        ("*,https://a.example", "alone"),
    ] {
        let err = load_str(MINIMAL, &[("SESSIONGATE_CORS__ALLOWED_ORIGINS", origins)]).unwrap_err();
        assert_eq!(err.key, "cors.allowed_origins", "{origins}");
        assert!(err.reason.contains(says), "{origins}: {}", err.reason);
    }
    let err = load_str(&format!("{MINIMAL}[cors]\nmax_age = \"2d\"\n"), &[]).unwrap_err();
    assert_eq!(err.key, "cors.max_age");
}

#[test]
fn route_browser_options_are_checked() {
    let route = |extra: &str| format!("{MINIMAL}[[routes]]\nprefix = \"/ws\"\n{extra}\n");
    let config = load_str(
        &route("cors = \"upstream\"\nwebsocket_token_protocol = true\ntoken_query_param = \"access_token\""),
        &[],
    )
    .unwrap();
    let ws = &config.routes[0];
    assert_eq!(ws.cors, RouteCors::Upstream);
    assert!(ws.websocket_token_protocol);
    assert_eq!(ws.token_query_param.as_deref(), Some("access_token"));
    let err = load_str(&route("cors = \"browser\""), &[]).unwrap_err();
    assert_eq!(err.key, "routes[0].cors");
    let err = load_str(&route("token_query_param = \"a b\""), &[]).unwrap_err();
    assert_eq!(err.key, "routes[0].token_query_param");
}
