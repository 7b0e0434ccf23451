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
