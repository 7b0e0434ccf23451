//! HMAC secrets at start-up: key material and guessable strings stop the binary (exit 78).

use std::process::Stdio;

use super::GUARD;
use super::common::*;

/// Runs `sessiongate serve` with `extra` config and `env`; expects exit 78 and one stderr line.
async fn start_up_refused(extra: &str, env: &[(&str, &str)]) -> String {
    let dir = tempfile::tempdir().expect("temp dir");
    let text = config_text(
        &dir.path().join("sessiongate.db"),
        "http://127.0.0.1:9",
        extra,
    );
    let path = dir.path().join("sessiongate.toml");
    std::fs::write(&path, text).expect("write config");
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_sessiongate"));
    command
        .arg("serve")
        .arg("--config")
        .arg(&path)
        .env_clear()
        .env("SESSIONGATE_ADMIN__API_KEY", ADMIN_KEY)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let output = tokio::time::timeout(GUARD, command.output())
        .await
        .expect("sessiongate exited")
        .expect("output");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(78), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr:?}");
    assert!(!String::from_utf8_lossy(&output.stdout).contains("sessiongate ready"));
    stderr
}

#[tokio::test]
async fn a_public_key_or_a_guessable_string_is_refused_as_hmac_secret() {
    let pem = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/rsa_public.pem");
    let stderr = start_up_refused(
        &format!("[tokens]\nalgorithm = \"HS256\"\nsigning_key_file = \"{pem}\""),
        &[],
    )
    .await;
    assert!(
        stderr.contains("tokens.signing_key_file") && stderr.contains("PEM"),
        "{stderr}"
    );

    let pem_text = std::fs::read_to_string(pem).expect("fixture");
    let jwk = r#"{"kty":"RSA","e":"AQAB","n":"sXchDaQebHnPiGvyDOAT4saGEUetSyo9MKLOoWFsueri23bO"}"#;
    for (secret, word) in [
        (pem_text.as_str(), "PEM"),
        (jwk, "JWK"),
        ("correct-horse", "bytes"),
        ("passwordpasswordpasswordpassword", "entropy"),
    ] {
        let stderr = start_up_refused("", &[("SESSIONGATE_TOKENS__SIGNING_KEY", secret)]).await;
        assert!(
            stderr.contains("tokens.signing_key") && stderr.contains(word),
            "{stderr}"
        );
        assert!(
            !stderr.contains(secret.trim()),
            "the secret is not printed: {stderr}"
        );
    }
}
