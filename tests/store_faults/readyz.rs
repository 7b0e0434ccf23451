//! /readyz means writes work.

use super::*;

async fn readyz(gw: &TestGateway) -> u16 {
    answered(
        "readyz",
        gw.http.get(format!("{}/readyz", gw.admin_url)).send(),
    )
    .await
    .status()
    .as_u16()
}

/// A SQLite file another process holds the write lock of (`BEGIN EXCLUSIVE`) still answers
/// reads; /readyz must say not ready. (A read-only file cannot be tested portably: tests may
/// run as root, for whom `chmod 0444` does not stop writes, and a read-only bind mount needs
/// privileges; the lock exercises the same "reads work, writes do not" state.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_is_503_while_the_sqlite_file_cannot_be_written() {
    let gw =
        TestGateway::start_with(Options::default().env("SESSIONGATE_STORE__TIMEOUT", "1s")).await;
    assert_eq!(readyz(&gw).await, 200);
    let mut holder =
        sqlx::SqliteConnection::connect(&format!("sqlite://{}", gw.db_path().display()))
            .await
            .expect("open the gateway's SQLite file");
    sqlx::query("BEGIN EXCLUSIVE")
        .execute(&mut holder)
        .await
        .expect("take the write lock");
    assert_eq!(
        readyz(&gw).await,
        503,
        "not ready while writes cannot happen"
    );
    sqlx::query("ROLLBACK")
        .execute(&mut holder)
        .await
        .expect("release the lock");
    assert_eq!(readyz(&gw).await, 200, "ready again");
    gw.stop().await;
}
