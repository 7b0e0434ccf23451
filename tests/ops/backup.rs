//! `sessiongate backup`: a copy taken while logins are being written holds every session
//! acknowledged before it started; PostgreSQL, an existing target and a missing store are
//! refused with their exit codes.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection};

use crate::common::{GatewayProcess, jwt_payload};
use crate::{config_text, mode, run_with_config, sqlite_url, write_config};

/// Logins in a loop until `stop`; each acknowledged session id is pushed, and the count sent.
fn login_loop(
    url: String,
    acknowledged: Arc<Mutex<Vec<String>>>,
    count: tokio::sync::watch::Sender<usize>,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let http = reqwest::Client::new();
        while !stop.load(Ordering::Relaxed) {
            let response = http.post(&url).send().await.expect("login request");
            assert_eq!(response.status(), 200, "login during the backup");
            let body: serde_json::Value = response.json().await.expect("login JSON");
            let token = body["access_token"].as_str().expect("access_token");
            let sid = jwt_payload(token)["sid"]
                .as_str()
                .expect("sid claim")
                .to_owned();
            let len = {
                let mut list = acknowledged.lock().expect("lock");
                list.push(sid);
                list.len()
            };
            count.send_replace(len);
        }
    })
}

#[tokio::test]
async fn backup_during_logins_holds_every_acknowledged_session() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("sessiongate.db");
    let config = write_config(dir.path(), &config_text(&sqlite_url(&db), ""));
    let gateway = GatewayProcess::spawn(&config, &[]).await;

    let acknowledged = Arc::new(Mutex::new(Vec::new()));
    let (count_tx, mut count_rx) = tokio::sync::watch::channel(0usize);
    let stop = Arc::new(AtomicBool::new(false));
    let login_url = gateway.app_api("/auth/providers/anon-user/login");
    let loops: Vec<_> = (0..2)
        .map(|_| {
            login_loop(
                login_url.clone(),
                acknowledged.clone(),
                count_tx.clone(),
                stop.clone(),
            )
        })
        .collect();
    count_rx.wait_for(|n| *n >= 40).await.expect("logins run");

    // Every login acknowledged before the backup starts must be in it; logins go on meanwhile.
    let before: Vec<String> = acknowledged.lock().expect("lock").clone();
    let target = dir.path().join("backups").join("copy.db");
    std::fs::create_dir(target.parent().unwrap()).unwrap();
    let outcome = run_with_config(&["backup", "--to", target.to_str().unwrap()], &config, &[])
        .await
        .expect_code(0);
    stop.store(true, Ordering::Relaxed);
    for handle in loops {
        handle.await.expect("login loop");
    }
    assert!(
        outcome.stdout.contains("backup written to") && outcome.stdout.contains("schema version"),
        "{}",
        outcome.stdout
    );
    assert_eq!(mode(&target), 0o600, "the backup is private");
    let leftovers: Vec<_> = std::fs::read_dir(target.parent().unwrap())
        .unwrap()
        .map(|entry| entry.unwrap().file_name())
        .collect();
    assert_eq!(leftovers, ["copy.db"], "no partial files are left");

    let mut copy = SqliteConnectOptions::new()
        .filename(&target)
        .read_only(true)
        .connect()
        .await
        .expect("the backup opens");
    let integrity: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&mut copy)
        .await
        .unwrap();
    assert_eq!(integrity, "ok");
    let version: i64 = sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations")
        .fetch_one(&mut copy)
        .await
        .unwrap();
    assert!(version >= 4, "schema version {version}");
    for sid in &before {
        let found: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM sessions WHERE id = ?")
            .bind(sid)
            .fetch_one(&mut copy)
            .await
            .unwrap();
        assert_eq!(
            found, 1,
            "session {sid} acknowledged before the backup is in it"
        );
    }
    copy.close().await.unwrap();
    drop(gateway);
}

#[tokio::test]
async fn backup_refuses_postgres_an_existing_target_and_a_missing_store() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("copy.db");

    let postgres = write_config(
        dir.path(),
        &config_text("postgres://sessiongate:secret-pw@127.0.0.1:9/db", ""),
    );
    let outcome = run_with_config(
        &["backup", "--to", target.to_str().unwrap()],
        &postgres,
        &[],
    )
    .await
    .expect_code(2);
    assert!(outcome.stderr.contains("pg_dump"), "{}", outcome.stderr);
    assert!(!outcome.stderr.contains("secret-pw"), "{}", outcome.stderr);
    assert!(!target.exists());

    let missing = write_config(
        dir.path(),
        &config_text(&sqlite_url(&dir.path().join("absent.db")), ""),
    );
    let outcome = run_with_config(&["backup", "--to", target.to_str().unwrap()], &missing, &[])
        .await
        .expect_code(69);
    assert!(outcome.stderr.contains("absent.db"), "{}", outcome.stderr);
    assert!(
        !dir.path().join("absent.db").exists(),
        "no store is created"
    );

    let db = dir.path().join("sessiongate.db");
    let config = write_config(dir.path(), &config_text(&sqlite_url(&db), ""));
    run_with_config(&["migrate"], &config, &[])
        .await
        .expect_code(0);
    std::fs::write(&target, b"an older backup").unwrap();
    let outcome = run_with_config(&["backup", "--to", target.to_str().unwrap()], &config, &[])
        .await
        .expect_code(73);
    assert!(
        outcome.stderr.contains("already exists"),
        "{}",
        outcome.stderr
    );
    assert_eq!(std::fs::read(&target).unwrap(), b"an older backup");
}
