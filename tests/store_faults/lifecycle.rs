//! A purge backlog never delays revocation sync.

use super::*;

const BACKLOG: i64 = 5_000;

async fn expired_anonymous_users(url: &str) -> i64 {
    let mut conn = sqlx::PgConnection::connect(url).await.expect("connect");
    sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE id LIKE 'backlog%'")
        .fetch_one(&mut conn)
        .await
        .expect("count")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn revocation_reaches_a_replica_while_it_purges_a_large_backlog() {
    let Some(base) = postgres_url() else { return };
    let (url, schema) = fresh_schema(&base).await;
    let on_postgres = || Options::default().env("SESSIONGATE_STORE__URL", &url);
    let a = TestGateway::start_with(on_postgres()).await;
    // Anonymous users created long ago, each with a live session, written in bulk.
    let mut conn = sqlx::PgConnection::connect(&url).await.expect("connect");
    for statement in [
        "INSERT INTO users (id, user_type, data, created_at)
         SELECT 'backlog' || g, 'normal', '{}', 1000 FROM generate_series(1, $1) g",
        "INSERT INTO identities (id, user_id, provider_type, provider_id, external_id, created_at)
         SELECT 'backlog-i' || g, 'backlog' || g, 'anon-user', 'anon-user', 'backlog-e' || g, 1000
         FROM generate_series(1, $1) g",
        "INSERT INTO sessions (id, user_id, provider_type, device_id, refresh_hash, created_at, last_used_at)
         SELECT 'backlog-s' || g, 'backlog' || g, 'anon-user', 'device', decode(md5('backlog-s' || g), 'hex'), 1000, 1000
         FROM generate_series(1, $1) g",
    ] {
        sqlx::query(statement)
            .bind(BACKLOG)
            .execute(&mut conn)
            .await
            .expect("write the backlog");
    }
    // B purges the backlog from its start (lifecycle chores run at start).
    let b = TestGateway::start_with(on_postgres()).await;
    let login = a.login_anon().await;
    let response = b.get_upstream("/private", &login.access_token).await;
    assert_eq!(response.status(), 200, "B accepts A's token");
    let remaining = expired_anonymous_users(&url).await;
    assert!(
        remaining > 0,
        "the purge must still be running for this test to mean anything"
    );

    let response = a.logout(&login.refresh_token).await;
    assert!(response.status().is_success(), "logout on A");
    let revoked_at = Instant::now();
    let refused = tokio::time::timeout(GUARD, async {
        loop {
            let response = b.get_upstream("/private", &login.access_token).await;
            if response.status() == 401 {
                return revoked_at.elapsed();
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("B refuses the revoked token");
    println!("revocation reached B after {refused:?}; {remaining} backlog users were left");
    assert!(
        refused < Duration::from_secs(1),
        "revocation took {refused:?} to reach B while it purged"
    );

    // The purge finishes, in batches, in the same lifecycle run.
    let purged = tokio::time::timeout(Duration::from_secs(180), async {
        while expired_anonymous_users(&url).await > 0 {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await;
    assert!(purged.is_ok(), "every expired anonymous user was purged");
    a.stop().await;
    b.stop().await;
    drop_schema(&base, &schema).await;
}
