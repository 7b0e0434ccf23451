//! `sessiongate migrate` (`--dry-run` lists, writes nothing) and the refusal of a store that a
//! newer release migrated: `serve` and `migrate` exit 78 with a message saying so. On SQLite,
//! and on PostgreSQL (a fresh schema) when `SESSIONGATE_TEST_POSTGRES_URL` is set.

use std::path::Path;

use sqlx::Connection;

use crate::common::postgres_url_or_skip;
use crate::{config_text, run_with_config, sqlite_url, write_config};

/// Migrations this binary carries.
/// (Counts and the newest version below are derived from it: a new migration adds one line.)
const KNOWN: &[&str] = &[
    "0001_init",
    "0002_key_activation",
    "0003_grants",
    "0004_keys_and_tokens",
    "0005_password_reset_required",
    "0006_login_throttle",
    "0007_refresh_rotation",
    "0008_event_outbox",
    "0009_revocation_commit_time",
];

/// The newest version this binary knows (the number of the last of `KNOWN`).
fn newest() -> u32 {
    KNOWN
        .last()
        .and_then(|name| name.split('_').next())
        .and_then(|number| number.parse().ok())
        .expect("KNOWN names start with their number")
}

/// The story on one store: dry run, apply, nothing left, then a "newer release" row refused.
/// `applied_table_exists` says whether sqlx's bookkeeping table exists; `add_future_version`
/// records a migration this binary does not know.
async fn migrate_story<E, F>(config: &Path, applied_table_exists: E, add_future_version: F)
where
    E: AsyncFn() -> bool,
    F: AsyncFn(),
{
    let outcome = run_with_config(&["migrate", "--dry-run"], config, &[])
        .await
        .expect_code(0);
    assert!(
        outcome
            .stdout
            .contains(&format!("would apply {} migration(s)", KNOWN.len())),
        "{}",
        outcome.stdout
    );
    for name in KNOWN.iter().copied() {
        assert!(outcome.stdout.contains(name), "{}", outcome.stdout);
    }
    assert!(!applied_table_exists().await, "a dry run writes nothing");

    let outcome = run_with_config(&["migrate"], config, &[])
        .await
        .expect_code(0);
    assert!(
        outcome
            .stdout
            .contains(&format!("applied {} migration(s)", KNOWN.len())),
        "{}",
        outcome.stdout
    );
    for args in [&["migrate"][..], &["migrate", "--dry-run"]] {
        let outcome = run_with_config(args, config, &[]).await.expect_code(0);
        assert!(
            outcome.stdout.contains(&format!(
                "schema version {} is current; no pending migrations",
                newest()
            )),
            "{}",
            outcome.stdout
        );
    }

    add_future_version().await;
    for args in [&["serve"][..], &["migrate"], &["migrate", "--dry-run"]] {
        let outcome = run_with_config(args, config, &[]).await.expect_code(78);
        assert!(
            outcome.stderr.contains(&format!(
                "schema is at version 9999, newer than this sessiongate knows (up to {})",
                newest()
            )),
            "{args:?}: {}",
            outcome.stderr
        );
    }
}

#[tokio::test]
async fn sqlite_migrate_and_refuse_a_newer_store() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("sessiongate.db");
    let url = sqlite_url(&db);
    let config = write_config(dir.path(), &config_text(&url, ""));
    migrate_story(
        &config,
        async || db.exists(),
        async || {
            let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
            sqlx::query(
                "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
                 VALUES (9999, 'from the future', TRUE, ?, 0)",
            )
            .bind(vec![0u8])
            .execute(&mut conn)
            .await
            .unwrap();
            conn.close().await.unwrap();
        },
    )
    .await;
}

#[tokio::test]
async fn postgres_migrate_and_refuse_a_newer_store() {
    let Some(base) = postgres_url_or_skip() else {
        return;
    };
    let schema = format!("sg_ops_{}", sessiongate::ids::object_id());
    let mut admin = sqlx::PgConnection::connect(&base).await.expect("connect");
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&mut admin)
        .await
        .unwrap();
    let separator = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{separator}options=-c%20search_path%3D{schema}");
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &config_text(&url, ""));
    let tables = format!(
        "SELECT COUNT(*) FROM pg_catalog.pg_tables WHERE schemaname = '{schema}' \
         AND tablename = '_sqlx_migrations'"
    );
    migrate_story(
        &config,
        async || {
            let mut conn = sqlx::PgConnection::connect(&base).await.unwrap();
            let count: i64 = sqlx::query_scalar(&tables)
                .fetch_one(&mut conn)
                .await
                .unwrap();
            count > 0
        },
        async || {
            let mut conn = sqlx::PgConnection::connect(&base).await.unwrap();
            sqlx::query(&format!(
                "INSERT INTO {schema}._sqlx_migrations \
                 (version, description, success, checksum, execution_time) \
                 VALUES (9999, 'from the future', TRUE, $1, 0)"
            ))
            .bind(vec![0u8])
            .execute(&mut conn)
            .await
            .unwrap();
        },
    )
    .await;
    sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
        .execute(&mut admin)
        .await
        .unwrap();
}
