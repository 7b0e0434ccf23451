//! Files the gateway writes are private: the store and its `-wal`/`-shm` 0600, the data
//! directories it creates 0700, and an existing store readable by others is restricted.

use std::os::unix::fs::PermissionsExt;

use crate::common::GatewayProcess;
use crate::{config_text, mode, run_with_config, sqlite_url, write_config};

#[tokio::test]
async fn store_files_are_created_private() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let db = data.join("state").join("sessiongate.db");
    let config = write_config(dir.path(), &config_text(&sqlite_url(&db), ""));
    let gateway = GatewayProcess::spawn(&config, &[]).await;
    // A write, so the WAL holds data while the gateway runs.
    let response = reqwest::Client::new()
        .post(gateway.app_api("/auth/providers/anon-user/login"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    assert_eq!(mode(&data), 0o700, "created data directory");
    assert_eq!(mode(db.parent().unwrap()), 0o700, "created state directory");
    for name in ["sessiongate.db", "sessiongate.db-wal", "sessiongate.db-shm"] {
        let path = db.with_file_name(name);
        assert_eq!(mode(&path), 0o600, "{name}");
    }
    drop(gateway);
}

#[tokio::test]
async fn an_existing_world_readable_store_is_restricted() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("sessiongate.db");
    std::fs::write(&db, b"").unwrap();
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    let config = write_config(dir.path(), &config_text(&sqlite_url(&db), ""));
    // `migrate` opens the store as `serve` does, and exits: its stderr is complete.
    let outcome = run_with_config(&["migrate"], &config, &[])
        .await
        .expect_code(0);
    assert_eq!(mode(&db), 0o600);
    assert!(
        outcome.stderr.contains("restricted to 0600"),
        "{}",
        outcome.stderr
    );
}
