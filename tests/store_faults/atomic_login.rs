//! A login whose session insert fails leaves nothing behind.

use super::*;

async fn user_rows_sqlite(db: &Path) -> i64 {
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display()))
        .await
        .expect("open the gateway's SQLite file");
    sqlx::query_scalar("SELECT (SELECT COUNT(*) FROM users) + (SELECT COUNT(*) FROM identities)")
        .fetch_one(&mut conn)
        .await
        .expect("count")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_session_insert_leaves_no_anonymous_user_on_sqlite() {
    let gw = TestGateway::start().await;
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", gw.db_path().display()))
        .await
        .expect("open the gateway's SQLite file");
    sqlx::query(
        "CREATE TRIGGER sg_test_fail_session BEFORE INSERT ON sessions
         BEGIN SELECT RAISE(ABORT, 'injected session failure'); END",
    )
    .execute(&mut conn)
    .await
    .expect("create trigger");
    conn.close().await.expect("close");
    let response = gw
        .http
        .post(anon_login_url(&gw.client_url))
        .send()
        .await
        .expect("login");
    assert_json_error(response, 503).await;
    assert_eq!(
        user_rows_sqlite(&gw.db_path()).await,
        0,
        "no user or identity without its session"
    );
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_session_insert_leaves_no_anonymous_user_on_postgres() {
    let Some(base) = postgres_url() else { return };
    let (url, schema) = fresh_schema(&base).await;
    let gw = TestGateway::start_with(Options::default().env("SESSIONGATE_STORE__URL", &url)).await;
    let mut conn = sqlx::PgConnection::connect(&url).await.expect("connect");
    for statement in [
        "CREATE FUNCTION sg_test_fail_session() RETURNS trigger LANGUAGE plpgsql
         AS $$ BEGIN RAISE EXCEPTION 'injected session failure'; END $$",
        "CREATE TRIGGER sg_test_fail_session BEFORE INSERT ON sessions
         FOR EACH ROW EXECUTE FUNCTION sg_test_fail_session()",
    ] {
        sqlx::query(statement)
            .execute(&mut conn)
            .await
            .expect("create trigger");
    }
    let response = gw
        .http
        .post(anon_login_url(&gw.client_url))
        .send()
        .await
        .expect("login");
    assert_json_error(response, 503).await;
    let rows: i64 = sqlx::query_scalar(
        "SELECT (SELECT COUNT(*) FROM users) + (SELECT COUNT(*) FROM identities)",
    )
    .fetch_one(&mut conn)
    .await
    .expect("count");
    assert_eq!(rows, 0, "no user or identity without its session");
    gw.stop().await;
    drop_schema(&base, &schema).await;
}
