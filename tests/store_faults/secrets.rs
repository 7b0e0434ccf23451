//! Passwords inside URLs are never printed.

use super::*;

const STORE_PASSWORD: &str = "pg-pw-hunter2";
const UPSTREAM_PASSWORD: &str = "upstream-pw-swordfish";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn url_passwords_are_masked_by_config_check_and_start_up_errors() {
    let dir = tempfile::tempdir().expect("temp dir");
    // Port 1 refuses: the store cannot be opened.
    let config = write_config(
        dir.path(),
        &format!("postgres://gateway:{STORE_PASSWORD}@127.0.0.1:1/sessions?sslmode=disable"),
        &format!("http://proxy:{UPSTREAM_PASSWORD}@127.0.0.1:9/"),
        "",
        r#"timeout = "1s""#,
    );
    let run = |args: &[&str]| {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_sessiongate"));
        command
            .args(args)
            .arg("--config")
            .arg(&config)
            .env("SESSIONGATE_LOG", "debug")
            .stdin(Stdio::null())
            .kill_on_drop(true);
        for (key, value) in PROCESS_ENV {
            command.env(key, value);
        }
        async move {
            let output = tokio::time::timeout(GUARD, command.output())
                .await
                .expect("sessiongate finishes")
                .expect("run sessiongate");
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
            (output.status.code(), text)
        }
    };

    let (code, text) = run(&["config", "check"]).await;
    assert_eq!(code, Some(0), "{text}");
    for secret in [STORE_PASSWORD, UPSTREAM_PASSWORD] {
        assert!(
            !text.contains(secret),
            "config check printed a password:\n{text}"
        );
    }
    assert!(
        text.contains("postgres://gateway:***@127.0.0.1:1/sessions"),
        "{text}"
    );
    assert!(text.contains("http://proxy:***@127.0.0.1:9/"), "{text}");

    let (code, text) = run(&["serve"]).await;
    assert_eq!(code, Some(69), "the store cannot be opened: {text}");
    for secret in [STORE_PASSWORD, UPSTREAM_PASSWORD] {
        assert!(!text.contains(secret), "serve printed a password:\n{text}");
    }
}
