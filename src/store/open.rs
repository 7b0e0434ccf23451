//! Opening a store by URL: `connect` picks the backend by scheme (`sqlite:` or
//! `postgres://`), applies its migrations and wraps it in the `Deadline`; `migrate` is
//! `sessiongate migrate`.

use std::sync::Arc;

use super::deadline::{self, Options};
use super::migrations::{self, MigrationStatus};
use super::{Dialect, Store, StoreError, postgres, sqlite};

/// Opens the store named by `url` — `sqlite://PATH` (embedded, created on first start) or
/// `postgres://…` — and applies its migrations, with the default `Options`. A store whose
/// schema is newer than this binary is refused (`SchemaTooNew`) before anything is written.
pub async fn connect(url: &str) -> Result<Arc<dyn Store>, StoreError> {
    connect_with(url, Options::default()).await
}

/// Like `connect`, with every operation bounded by `options.timeout` (`store.timeout`).
pub async fn connect_with(url: &str, options: Options) -> Result<Arc<dyn Store>, StoreError> {
    let opened = async {
        if url.starts_with("sqlite:") {
            return Ok(Some(sqlite::open(url, &options).await?));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Some(postgres::open(url, &options).await?));
        }
        Ok::<_, StoreError>(None)
    };
    // Opening (connect + migrations) gets a few deadlines' worth: migrations may take a while.
    let bound = options
        .timeout
        .saturating_mul(4)
        .max(std::time::Duration::from_secs(30));
    let opened = tokio::time::timeout(bound, opened)
        .await
        .map_err(|_| StoreError::TimedOut(bound))?;
    if let Some(store) = opened? {
        return Ok(Arc::new(deadline::Deadline::new(store, options.timeout)));
    }
    Err(unsupported_scheme(url))
}

/// `sessiongate migrate`: the store's schema against this binary's migrations; unless
/// `dry_run`, the pending ones are applied (the returned status is what was pending before).
/// A dry run writes nothing (a SQLite file that does not exist yet is not created).
pub async fn migrate(
    url: &str,
    options: Options,
    dry_run: bool,
) -> Result<MigrationStatus, StoreError> {
    let (pool, dialect) = if url.starts_with("sqlite:") {
        if dry_run && !sqlite::exists(url)? {
            return Ok(migrations::status(Vec::new(), &migrations::sqlite()));
        }
        (sqlite::pool(url, &options).await?, Dialect::Sqlite)
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        (postgres::pool(url, &options).await?, Dialect::Postgres)
    } else {
        return Err(unsupported_scheme(url));
    };
    let result = if dry_run {
        let status = migrations::status(
            migrations::applied(&pool, dialect).await?,
            &migrations::for_dialect(dialect),
        );
        migrations::refuse_newer(&status).map(|()| status)
    } else {
        migrations::apply(&pool, dialect).await
    };
    pool.close().await;
    result
}

fn unsupported_scheme(url: &str) -> StoreError {
    StoreError::Unavailable(sqlx::Error::Configuration(
        format!(
            "unsupported store url scheme in {:?}",
            url.split(':').next().unwrap_or_default()
        )
        .into(),
    ))
}
