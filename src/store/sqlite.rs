//! Opening the embedded SQLite backend: the file is created on first start, WAL mode, foreign
//! keys on, migrations applied.
//!
//! Several processes may share one local file (they agree on revocations through the poll);
//! a network share is not supported — use PostgreSQL for replicas.

use std::str::FromStr;

use sqlx::Executor;
use sqlx::any::AnyPoolOptions;
use sqlx::sqlite::SqliteConnectOptions;

use super::migrations;
use super::sql::{Dialect, SqlStore};
use super::{Options, StoreError};

/// Opens (creating if needed) `sqlite://PATH` or `sqlite::memory:`. A write waiting for
/// another writer's lock gives up at `store.timeout` (`busy_timeout`).
pub async fn open(url: &str, options: &Options) -> Result<SqlStore, StoreError> {
    let file_options = SqliteConnectOptions::from_str(url)?;
    let file = file_options.get_filename();
    let in_memory = url.contains(":memory:");
    if !in_memory {
        if let Some(parent) = file.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .map_err(|err| StoreError::Unavailable(sqlx::Error::Io(err)))?;
        }
    }
    let url = if url.contains("mode=") {
        url.to_owned()
    } else if url.contains('?') {
        format!("{url}&mode=rwc")
    } else {
        format!("{url}?mode=rwc")
    };
    sqlx::any::install_default_drivers();
    let busy_ms = options.timeout.as_millis().max(1);
    // Every connection to `:memory:` is its own database: keep one.
    let pool = AnyPoolOptions::new()
        .max_connections(if in_memory { 1 } else { 8 })
        .acquire_timeout(options.timeout)
        .after_connect(move |conn, _meta| {
            Box::pin(async move {
                conn.execute(format!("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = {busy_ms};").as_str())
                    .await?;
                Ok(())
            })
        })
        .connect(&url)
        .await?;
    migrations::sqlite()
        .run(&pool)
        .await
        .map_err(|err| StoreError::Unavailable(sqlx::Error::Migrate(Box::new(err))))?;
    Ok(SqlStore::new(pool, Dialect::Sqlite, None))
}
