//! `sessiongate config check` validates what `serve` would: each failure case with the real
//! binary (exit 78, one line naming the key), the missing admin key warning, and the
//! effective config printed as TOML.

use crate::{ADMIN_KEY, command, config_text, run, run_with_config, sqlite_url, write_config};

fn check_args() -> [&'static str; 2] {
    ["config", "check"]
}

#[tokio::test]
async fn a_toml_syntax_error_names_its_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        "[app]\nid = \"x\"\n\n[server]\nlisten = 127.0.0.1\n",
    );
    let outcome = run_with_config(&check_args(), &config, &[])
        .await
        .expect_code(78);
    assert!(
        outcome.stderr.contains("invalid TOML at line 5, column "),
        "{}",
        outcome.stderr
    );
    // serve says the same.
    let outcome = run_with_config(&["serve"], &config, &[])
        .await
        .expect_code(78);
    assert!(
        outcome.stderr.contains("line 5, column "),
        "{}",
        outcome.stderr
    );
}

#[tokio::test]
async fn a_bad_log_filter_is_refused_by_check_and_serve() {
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_url(&dir.path().join("sessiongate.db"));
    let config = write_config(
        dir.path(),
        &config_text(&db, "[log]\nlevel = \"sessiongate=loud\""),
    );
    for args in [&check_args()[..], &["serve"]] {
        let outcome = run_with_config(args, &config, &[]).await.expect_code(78);
        assert!(outcome.stderr.contains("log.level"), "{}", outcome.stderr);
    }
    assert!(
        !dir.path().join("sessiongate.db").exists(),
        "refused before the store"
    );
}

/// A self-signed certificate and its key, PEM.
fn certificate() -> (String, String) {
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    (made.cert.pem(), made.key_pair.serialize_pem())
}

#[tokio::test]
async fn tls_files_must_be_readable_parse_and_match() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = certificate();
    let (_, other_key) = certificate();
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    };
    let cert_file = write("cert.pem", &cert);
    let key_file = write("key.pem", &key);
    let other_key_file = write("other-key.pem", &other_key);
    let not_pem = write("not.pem", "this is not PEM\n");
    let db = sqlite_url(&dir.path().join("sessiongate.db"));
    let tls = |cert: &str, key: &str| {
        format!("[server.tls]\ncert_file = \"{cert}\"\nkey_file = \"{key}\"\n")
    };
    let cases = [
        (tls(&cert_file, &key_file), None),
        (
            tls("/nonexistent/cert.pem", &key_file),
            Some("cannot read /nonexistent/cert.pem"),
        ),
        (
            tls(&cert_file, &other_key_file),
            Some("certificate and key do not fit"),
        ),
        (tls(&not_pem, &key_file), Some("no certificate found")),
        (tls(&cert_file, &not_pem), Some("no private key found")),
    ];
    for (extra, expected) in cases {
        // The [server.tls] table must follow [server]'s keys: prepend it to the config.
        let text = config_text(&db, "").replacen(
            "shutdown_grace = \"5s\"\n",
            &format!("shutdown_grace = \"5s\"\n{extra}"),
            1,
        );
        let config = write_config(dir.path(), &text);
        let outcome = run_with_config(&check_args(), &config, &[]).await;
        match expected {
            None => {
                outcome.expect_code(0);
            }
            Some(message) => {
                let outcome = outcome.expect_code(78);
                assert!(outcome.stderr.contains("server.tls"), "{}", outcome.stderr);
                assert!(outcome.stderr.contains(message), "{}", outcome.stderr);
            }
        }
    }
}

#[tokio::test]
async fn an_unusable_signing_key_pair_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let private = dir.path().join("private.pem");
    std::fs::write(&private, "not a key\n").unwrap();
    let public = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/rsa_public.pem");
    let db = sqlite_url(&dir.path().join("sessiongate.db"));
    let extra = format!(
        "[tokens]\nalgorithm = \"RS256\"\nsigning_key_file = \"{}\"\nverifying_key_file = \"{public}\"\n",
        private.display()
    );
    let config = write_config(dir.path(), &config_text(&db, &extra));
    let outcome = run_with_config(&check_args(), &config, &[])
        .await
        .expect_code(78);
    assert!(
        outcome.stderr.contains("tokens.signing_key_file"),
        "{}",
        outcome.stderr
    );
}

#[tokio::test]
async fn a_missing_admin_key_is_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_url(&dir.path().join("sessiongate.db"));
    let config = write_config(dir.path(), &config_text(&db, ""));
    let mut check = command(&check_args());
    check.arg("--config").arg(&config);
    let outcome = run(check).await.expect_code(0);
    assert!(outcome.stderr.contains("warning:"), "{}", outcome.stderr);
    assert!(outcome.stderr.contains("admin"), "{}", outcome.stderr);
    // With a key: no warning.
    let outcome = run_with_config(&check_args(), &config, &[])
        .await
        .expect_code(0);
    assert!(!outcome.stderr.contains("warning"), "{}", outcome.stderr);
}

#[tokio::test]
async fn the_effective_config_prints_as_toml_with_durations_as_written_and_secrets_masked() {
    let dir = tempfile::tempdir().unwrap();
    let signing_key = "signing-key-never-printed-0123456789abcdefXYZ";
    let extra =
        "[tokens]\naccess_ttl = \"90m\"\n\n[[routes]]\nprefix = \"/public\"\nauth = \"none\"\n";
    let config = write_config(
        dir.path(),
        &config_text("postgres://gate:db-password@127.0.0.1:5432/gate", extra),
    );
    let outcome = run_with_config(
        &["config", "check", "--format", "toml"],
        &config,
        &[("SESSIONGATE_TOKENS__SIGNING_KEY", signing_key)],
    )
    .await
    .expect_code(0);
    let text = outcome.stdout;
    for secret in [ADMIN_KEY, signing_key, "db-password"] {
        assert!(!text.contains(secret), "{secret} printed:\n{text}");
    }
    let printed: toml::Table = toml::from_str(&text).expect("valid TOML");
    assert_eq!(
        printed["tokens"]["access_ttl"].as_str(),
        Some("90m"),
        "{text}"
    );
    assert_eq!(
        printed["tokens"]["refresh_ttl"].as_str(),
        Some("60d"),
        "{text}"
    );
    assert_eq!(printed["store"]["timeout"].as_str(), Some("5s"), "{text}");
    assert_eq!(printed["admin"]["api_key"].as_str(), Some("***"), "{text}");
    assert_eq!(
        printed["store"]["url"].as_str(),
        Some("postgres://gate:***@127.0.0.1:5432/gate"),
        "{text}"
    );
    assert_eq!(printed["routes"][0]["prefix"].as_str(), Some("/public"));
    assert_eq!(printed["app"]["id"].as_str(), Some(crate::APP));
}
