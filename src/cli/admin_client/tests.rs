//! Unit tests of the admin client: settings resolution and error answers.

use std::path::PathBuf;

use super::*;

fn args(config: PathBuf) -> AdminArgs {
    AdminArgs {
        url: None,
        admin_key: None,
        config,
        app: None,
        group: "default".to_owned(),
        json: false,
    }
}

fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn defaults_come_from_the_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("admin-key");
    std::fs::write(&key_file, "file-admin-key-0123456789\n").unwrap();
    let path = dir.path().join("sessiongate.toml");
    std::fs::write(
        &path,
        format!(
            "[server]\nadmin_listen = \"0.0.0.0:9999\"\n[app]\nid = \"cfg-app\"\n\
             [admin]\napi_key_file = \"{}\"\n",
            key_file.display()
        ),
    )
    .unwrap();
    let settings = Settings::resolve(&args(path.clone()), &env(&[])).unwrap();
    assert_eq!(settings.url.as_str(), "http://127.0.0.1:9999/");
    assert_eq!(settings.app, "cfg-app");
    assert_eq!(settings.key, "file-admin-key-0123456789");
    // The environment wins over the file, the arguments over both.
    let from_env = Settings::resolve(
        &args(path.clone()),
        &env(&[(ADMIN_KEY_ENV, "env-admin-key-0123456789")]),
    )
    .unwrap();
    assert_eq!(from_env.key, "env-admin-key-0123456789");
    let mut given = args(path);
    given.admin_key = Some("arg-admin-key".to_owned());
    given.app = Some("arg-app".to_owned());
    given.url = Some(Url::parse("http://10.0.0.1:1").unwrap());
    let settings = Settings::resolve(&given, &env(&[(ADMIN_KEY_ENV, "env-key")])).unwrap();
    assert_eq!(settings.key, "arg-admin-key");
    assert_eq!(settings.app, "arg-app");
    assert_eq!(settings.url.as_str(), "http://10.0.0.1:1/");
}

#[test]
fn without_a_config_file_the_url_defaults_and_the_app_id_is_a_config_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut given = args(dir.path().join("missing.toml"));
    given.app = Some("a".to_owned());
    let settings = Settings::resolve(&given, &env(&[(ADMIN_KEY_ENV, "k")])).unwrap();
    assert_eq!(settings.url.as_str(), "http://127.0.0.1:8081/");
    given.app = None;
    let err = Settings::resolve(&given, &env(&[(ADMIN_KEY_ENV, "k")])).unwrap_err();
    assert_eq!(err.exit_code(), 78, "{err}");
}

#[test]
fn a_missing_key_is_no_permission_and_an_invalid_config_a_config_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut given = args(dir.path().join("missing.toml"));
    given.app = Some("a".to_owned());
    let err = Settings::resolve(&given, &env(&[])).unwrap_err();
    assert_eq!(err.exit_code(), 77, "{err}");
    assert!(err.to_string().contains("--admin-key"), "{err}");
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, "[app]\nid = \"a b\"\n").unwrap();
    given.config = path;
    let err = Settings::resolve(&given, &env(&[])).unwrap_err();
    assert_eq!(err.exit_code(), 78, "{err}");
}

#[test]
fn error_answers_keep_the_gateway_message() {
    let answer = Answer {
        status: StatusCode::NOT_FOUND,
        body: serde_json::json!({"error": "user not found", "error_code": "UserNotFound"}),
    };
    let err = answer.into_result().unwrap_err();
    assert_eq!(err.exit_code(), 1);
    assert!(
        err.to_string().contains("user not found (UserNotFound)"),
        "{err}"
    );
    let refused = Answer {
        status: StatusCode::UNAUTHORIZED,
        body: Value::Null,
    };
    assert_eq!(refused.into_result().unwrap_err().exit_code(), 77);
}
