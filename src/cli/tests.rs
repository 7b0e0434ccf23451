//! Unit tests of the command line: parsing, base URLs and exit codes.

use clap::CommandFactory;

use super::*;

#[test]
fn the_command_line_is_consistent() {
    Cli::command().debug_assert();
}

#[test]
fn user_lists_are_comma_separated_and_options_go_anywhere() {
    let cli = Cli::try_parse_from([
        "sessiongate",
        "users",
        "--json",
        "revoke",
        "--user=a,b",
        "--user",
        "c",
        "--app",
        "x",
    ])
    .unwrap();
    let Command::Users { admin, command } = cli.command else {
        panic!("users");
    };
    assert!(admin.json);
    assert_eq!(admin.app.as_deref(), Some("x"));
    assert_eq!(admin.group, "default");
    assert_eq!(
        command.user_ids(),
        Some(&["a", "b", "c"].map(String::from)[..])
    );
}

#[test]
fn base_url_must_be_http() {
    assert!(parse_base_url("http://127.0.0.1:8081").is_ok());
    assert!(parse_base_url("https://admin.example/prefix").is_ok());
    assert!(parse_base_url("ftp://x").is_err());
    assert!(parse_base_url("127.0.0.1:8081").is_err());
    assert!(parse_base_url("http://x/?a=b").is_err());
}

#[test]
fn each_failure_has_its_own_exit_code() {
    let api = CliError::Api {
        status: 404,
        error: "user not found".into(),
        error_code: Some("UserNotFound".into()),
    };
    assert_eq!(api.exit_code(), 1);
    assert_eq!(
        api.to_string(),
        "gateway answered 404: user not found (UserNotFound)"
    );
    assert_eq!(CliError::Usage(String::new()).exit_code(), 2);
    assert_eq!(CliError::TokenExpired.exit_code(), 3);
    assert_eq!(CliError::TokenInvalid(String::new()).exit_code(), 4);
    assert_eq!(CliError::Unavailable(anyhow::anyhow!("x")).exit_code(), 69);
    assert_eq!(CliError::NoPermission(String::new()).exit_code(), 77);
    let config = ConfigError {
        key: "app.id".into(),
        reason: "is required".into(),
    };
    assert_eq!(CliError::Config(config).exit_code(), 78);
    let newer = StoreError::SchemaTooNew { found: 5, known: 4 };
    assert_eq!(CliError::Store(newer).exit_code(), 78);
    assert_eq!(CliError::Backup(BackupError::Postgres).exit_code(), 2);
    assert_eq!(
        CliError::Backup(BackupError::Exists("x".into())).exit_code(),
        73
    );
}
