//! `sessiongate backup`: a consistent copy of the SQLite store while the gateway runs
//! (`VACUUM INTO` reads one snapshot and does not block writers), written 0600 next to the
//! target, verified by opening it, then moved into place.
//!
//! Does not back up PostgreSQL: `pg_dump` does that (see the README), and it is refused here
//! with a pointer to it.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::{ConnectOptions, Connection};

use super::{Options, StoreError, migrations, sqlite};

/// A verified backup.
#[derive(Debug, Clone)]
pub struct Backup {
    pub path: PathBuf,
    /// The copy's schema version (its newest applied migration).
    pub schema_version: i64,
    pub users: i64,
    pub sessions: i64,
    pub bytes: u64,
}

/// Why no backup was written. Nothing is left at the target path in any case.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error(
        "backup copies the SQLite store, and store.url is PostgreSQL: back it up with pg_dump \
         (pg_dump --format=custom --file=sessiongate.dump \"$URL\"; see the README, \"Back up \
         and restore\")"
    )]
    Postgres,
    #[error("store.url is an in-memory SQLite database: there is nothing to back up")]
    InMemory,
    #[error("store.url: no SQLite file at {0}")]
    NoStore(PathBuf),
    #[error("{0} already exists; a backup never overwrites: choose a new path")]
    Exists(PathBuf),
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("store.url: {0}")]
    Store(#[from] StoreError),
    #[error("the copy failed verification: {0}")]
    Verify(String),
}

/// Copies the SQLite store of `url` to `to` (which must not exist) and verifies the copy: it
/// opens, passes `PRAGMA integrity_check`, and has the source's schema version.
pub async fn backup(url: &str, to: &Path, options: &Options) -> Result<Backup, BackupError> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Err(BackupError::Postgres);
    }
    if url.contains(":memory:") {
        return Err(BackupError::InMemory);
    }
    let source = sqlite::file_of(url)?;
    if !source.is_file() {
        return Err(BackupError::NoStore(source));
    }
    if to.symlink_metadata().is_ok() {
        return Err(BackupError::Exists(to.to_path_buf()));
    }
    let partial = partial_path(to);
    create_private(&partial)?;
    let copied = async {
        let version = copy(url, &partial, options).await?;
        verify(&partial, version).await
    }
    .await;
    let result = copied.and_then(|backup| {
        let write = |source| BackupError::Write {
            path: to.to_path_buf(),
            source,
        };
        std::fs::File::open(&partial)
            .and_then(|file| file.sync_all())
            .map_err(write)?;
        // A hard link never replaces an existing file (unlike rename): no clobbering race.
        std::fs::hard_link(&partial, to).map_err(|err| match err.kind() {
            ErrorKind::AlreadyExists => BackupError::Exists(to.to_path_buf()),
            _ => write(err),
        })?;
        if let Some(dir) = to.parent().filter(|p| !p.as_os_str().is_empty()) {
            let _ = std::fs::File::open(dir).and_then(|dir| dir.sync_all());
        }
        Ok(Backup {
            path: to.to_path_buf(),
            ..backup
        })
    });
    remove_with_sidecars(&partial);
    result
}

/// `.NAME.partial-PID` next to `to`: same file system, so the final link is atomic.
fn partial_path(to: &Path) -> PathBuf {
    let name = to
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "backup".to_owned());
    to.with_file_name(format!(".{name}.partial-{}", std::process::id()))
}

/// An empty file only this user can read: `VACUUM INTO` fills it and keeps its mode.
fn create_private(path: &Path) -> Result<(), BackupError> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map(drop)
        .map_err(|source| BackupError::Write {
            path: path.to_path_buf(),
            source,
        })
}

/// The file and any `-wal`/`-shm`/`-journal` SQLite left next to it.
fn remove_with_sidecars(path: &Path) {
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        let _ = std::fs::remove_file(name);
    }
}

/// `VACUUM INTO` the partial file; returns the source's schema version.
async fn copy(url: &str, partial: &Path, options: &Options) -> Result<i64, BackupError> {
    let target = partial
        .to_str()
        .ok_or_else(|| BackupError::Verify(format!("{} is not UTF-8", partial.display())))?;
    let mut conn = SqliteConnectOptions::from_str(url)
        .map_err(StoreError::from)?
        .create_if_missing(false)
        .busy_timeout(options.timeout)
        .connect()
        .await
        .map_err(StoreError::from)?;
    let result = async {
        let version = schema_version(&mut conn).await?;
        sqlx::query("VACUUM INTO ?")
            .bind(target)
            .execute(&mut conn)
            .await
            .map_err(StoreError::from)?;
        Ok(version)
    }
    .await;
    let _ = conn.close().await;
    result
}

/// Opens the copy read-only and checks it (see `backup`).
async fn verify(partial: &Path, source_version: i64) -> Result<Backup, BackupError> {
    let mut conn = SqliteConnectOptions::new()
        .filename(partial)
        .read_only(true)
        .connect()
        .await
        .map_err(|err| BackupError::Verify(format!("cannot open it: {err}")))?;
    let checked = async {
        let integrity: String = sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_one(&mut conn)
            .await
            .map_err(|err| BackupError::Verify(err.to_string()))?;
        if integrity != "ok" {
            return Err(BackupError::Verify(format!("integrity check: {integrity}")));
        }
        let schema_version = schema_version(&mut conn).await?;
        if schema_version != source_version {
            return Err(BackupError::Verify(format!(
                "schema version {schema_version}, the store's is {source_version}"
            )));
        }
        let users = count(&mut conn, "SELECT COUNT(*) FROM users").await?;
        let sessions = count(&mut conn, "SELECT COUNT(*) FROM sessions").await?;
        Ok(Backup {
            path: partial.to_path_buf(),
            schema_version,
            users,
            sessions,
            bytes: 0,
        })
    }
    .await;
    let _ = conn.close().await;
    let mut backup = checked?;
    backup.bytes = std::fs::metadata(partial).map_or(0, |m| m.len());
    Ok(backup)
}

async fn count(conn: &mut SqliteConnection, sql: &'static str) -> Result<i64, BackupError> {
    sqlx::query_scalar(sql)
        .fetch_one(conn)
        .await
        .map_err(|err| BackupError::Verify(err.to_string()))
}

/// The newest applied migration of a sessiongate SQLite store; refuses a file that is not one.
async fn schema_version(conn: &mut SqliteConnection) -> Result<i64, BackupError> {
    let version: Option<i64> =
        sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations WHERE success = TRUE")
            .fetch_one(&mut *conn)
            .await
            .map_err(|err| BackupError::Verify(format!("not a sessiongate store: {err}")))?;
    let version = version.unwrap_or(0);
    let known = migrations::sqlite()
        .iter()
        .map(|m| m.version)
        .max()
        .unwrap_or(0);
    if version > known {
        tracing::warn!(
            version,
            known,
            "the store's schema is newer than this binary; the copy is taken as it is"
        );
    }
    Ok(version)
}
