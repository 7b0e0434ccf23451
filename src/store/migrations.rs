//! Migrations embedded in the binary, one list per backend, applied at start by sqlx; the
//! schema version check that refuses a store migrated by a newer release; and what
//! `sessiongate migrate` reports.
//!
//! PostgreSQL migrations take sqlx's advisory lock, so replicas starting at once are safe.
//! Each backend has the same numbered files under `migrations/<backend>/`. There are no down
//! migrations: going back to an older release means restoring a backup.

use sqlx::AnyPool;
use sqlx::migrate::Migrator;

use super::StoreError;
use super::sql::Dialect;

/// SQLite migrations: every `migrations/sqlite/NNNN_name.sql`, embedded at build time.
pub fn sqlite() -> Migrator {
    sqlx::migrate!("src/store/migrations/sqlite")
}

/// PostgreSQL migrations: every `migrations/postgres/NNNN_name.sql`, embedded at build time.
pub fn postgres() -> Migrator {
    sqlx::migrate!("src/store/migrations/postgres")
}

/// The migrations of a dialect.
pub fn for_dialect(dialect: Dialect) -> Migrator {
    match dialect {
        Dialect::Sqlite => sqlite(),
        Dialect::Postgres => postgres(),
    }
}

/// A store's schema against the migrations this binary carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationStatus {
    /// Versions recorded as applied, oldest first.
    pub applied: Vec<i64>,
    /// Migrations this binary would apply: (version, name), oldest first.
    pub pending: Vec<(i64, String)>,
    /// The newest version this binary knows.
    pub known: i64,
}

impl MigrationStatus {
    /// The schema version of the store: its newest applied migration (0: none).
    pub fn version(&self) -> i64 {
        self.applied.last().copied().unwrap_or(0)
    }
}

/// Versions applied to the store behind `pool`, oldest first; none when sqlx's bookkeeping
/// table does not exist yet (a new store). Reads only.
pub async fn applied(pool: &AnyPool, dialect: Dialect) -> Result<Vec<i64>, StoreError> {
    let exists_sql = match dialect {
        Dialect::Sqlite => {
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'"
        }
        // The table is looked up on the search path, as sqlx creates and reads it.
        Dialect::Postgres => {
            "SELECT COUNT(*) FROM pg_catalog.pg_tables \
             WHERE tablename = '_sqlx_migrations' AND schemaname = ANY (current_schemas(false))"
        }
    };
    let exists: i64 = sqlx::query_scalar(exists_sql).fetch_one(pool).await?;
    if exists == 0 {
        return Ok(Vec::new());
    }
    let versions: Vec<i64> = sqlx::query_scalar(
        "SELECT version FROM _sqlx_migrations WHERE success = TRUE ORDER BY version",
    )
    .fetch_all(pool)
    .await?;
    Ok(versions)
}

/// Compares what is applied with what this binary knows.
pub fn status(applied: Vec<i64>, migrator: &Migrator) -> MigrationStatus {
    let pending = migrator
        .iter()
        .filter(|m| !applied.contains(&m.version))
        .map(|m| (m.version, m.description.to_string()))
        .collect();
    let known = migrator.iter().map(|m| m.version).max().unwrap_or(0);
    MigrationStatus {
        applied,
        pending,
        known,
    }
}

/// `SchemaTooNew` when the store holds a migration this binary does not know: a newer release
/// migrated it, and this one would misread what that release writes.
pub fn refuse_newer(status: &MigrationStatus) -> Result<(), StoreError> {
    if status.version() > status.known {
        return Err(StoreError::SchemaTooNew {
            found: status.version(),
            known: status.known,
        });
    }
    Ok(())
}

/// Refuses a newer store, then applies the pending migrations. Returns what was pending.
pub async fn apply(pool: &AnyPool, dialect: Dialect) -> Result<MigrationStatus, StoreError> {
    let migrator = for_dialect(dialect);
    let status = status(applied(pool, dialect).await?, &migrator);
    refuse_newer(&status)?;
    migrator
        .run(pool)
        .await
        .map_err(|err| StoreError::Unavailable(sqlx::Error::Migrate(Box::new(err))))?;
    Ok(status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_backends_know_the_same_versions() {
        let versions = |m: Migrator| m.iter().map(|m| m.version).collect::<Vec<_>>();
        assert_eq!(versions(sqlite()), versions(postgres()));
    }

    #[test]
    fn pending_is_what_is_not_applied() {
        let status = status(vec![1, 2], &sqlite());
        assert_eq!(status.version(), 2);
        // Every later migration, whichever numbers the releases added.
        let later: Vec<i64> = sqlite()
            .iter()
            .map(|m| m.version)
            .filter(|v| *v > 2)
            .collect();
        assert!(later.starts_with(&[3, 4, 5]), "{later:?}");
        assert_eq!(
            status.pending.iter().map(|p| p.0).collect::<Vec<_>>(),
            later
        );
        assert!(refuse_newer(&status).is_ok());
    }

    #[test]
    fn a_store_from_a_newer_release_is_refused() {
        let known = sqlite().iter().map(|m| m.version).max().unwrap_or(0);
        let mut applied: Vec<i64> = sqlite().iter().map(|m| m.version).collect();
        applied.push(known + 1);
        let status = status(applied, &sqlite());
        let err = refuse_newer(&status).unwrap_err();
        assert!(
            matches!(err, StoreError::SchemaTooNew { found, known: k } if found == known + 1 && k == known),
            "{err}"
        );
    }
}
