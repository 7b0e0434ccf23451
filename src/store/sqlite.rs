//! Opening the embedded SQLite backend: the file is created on first start (0600, in a 0700
//! directory when the gateway creates it), WAL mode, foreign keys on, migrations applied.
//!
//! Several processes may share one local file (they agree on revocations through the poll);
//! a network share is not supported — use PostgreSQL for replicas.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use sqlx::any::AnyPoolOptions;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{AnyPool, Executor};

use super::migrations;
use super::sql::{Dialect, SqlStore};
use super::{Options, StoreError};

/// Opens (creating if needed) `sqlite://PATH` or `sqlite::memory:`, refusing a file migrated
/// by a newer release, and applies the pending migrations. A write waiting for another
/// writer's lock gives up at `store.timeout` (`busy_timeout`).
pub async fn open(url: &str, options: &Options) -> Result<SqlStore, StoreError> {
    let pool = pool(url, options).await?;
    if let Err(err) = migrations::apply(&pool, Dialect::Sqlite).await {
        pool.close().await;
        return Err(err);
    }
    Ok(SqlStore::new(pool, Dialect::Sqlite, None))
}

/// The connection pool of `url`, the file prepared (see `prepare_files`); no migrations.
pub async fn pool(url: &str, options: &Options) -> Result<AnyPool, StoreError> {
    let in_memory = url.contains(":memory:");
    if !in_memory {
        prepare_files(&file_of(url)?)?;
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
    Ok(pool)
}

/// Whether the file of a `sqlite://PATH` URL exists (`:memory:` never does).
pub fn exists(url: &str) -> Result<bool, StoreError> {
    if url.contains(":memory:") {
        return Ok(false);
    }
    Ok(file_of(url)?.exists())
}

/// The database file of a `sqlite://PATH` URL.
pub fn file_of(url: &str) -> Result<PathBuf, StoreError> {
    Ok(SqliteConnectOptions::from_str(url)?
        .get_filename()
        .to_path_buf())
}

/// Creates the directory (0700) and the database file (0600) if they do not exist, before
/// SQLite opens it: SQLite creates the `-wal` and `-shm` files with the database file's mode,
/// so the generated signing secret and every session stay readable by this user only.
/// Existing files readable by others are restricted to 0600, with a warning.
///
/// # Security
/// The store holds the generated token signing secret (when none is configured) and the
/// session table; a world-readable file or WAL would let any local user mint tokens.
fn prepare_files(file: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
    let io = |err| StoreError::Unavailable(sqlx::Error::Io(err));
    if let Some(parent) = file.parent().filter(|p| !p.as_os_str().is_empty()) {
        if !parent.exists() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(parent)
                .map_err(io)?;
        }
    }
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(file)
    {
        Ok(_) => {}
        Err(err) if err.kind() == ErrorKind::AlreadyExists => {}
        Err(err) => return Err(io(err)),
    }
    for suffix in ["", "-wal", "-shm"] {
        let mut name = file.as_os_str().to_owned();
        name.push(suffix);
        let path = PathBuf::from(name);
        let Ok(meta) = std::fs::metadata(&path) else {
            continue;
        };
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).map_err(io)?;
            tracing::warn!(
                path = %path.display(),
                was = format!("{mode:o}"),
                "store file was readable by other users; restricted to 0600"
            );
        }
    }
    Ok(())
}
