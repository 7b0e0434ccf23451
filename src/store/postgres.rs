//! Opening the PostgreSQL backend (several replicas on one database), and the `LISTEN` task
//! that wakes this replica when another one records a revocation.
//!
//! The listener only says "look now"; what changed is read by sequence number from the store,
//! so a notification lost while the connection was down is caught up on reconnect (and by the
//! periodic poll in any case).

use std::sync::Arc;
use std::time::Duration;

use sqlx::any::AnyPoolOptions;
use sqlx::postgres::PgListener;
use tokio::sync::Notify;

use super::migrations;
use super::sql::{Dialect, SqlStore};
use super::{Options, StoreError};

/// The `NOTIFY` channel of revocations.
pub const REVOCATION_CHANNEL: &str = "sessiongate_revocations";

/// Opens `postgres://…`, refuses a schema migrated by a newer release, applies migrations
/// (under sqlx's advisory lock, so replicas starting together are safe) and starts the
/// revocation listener.
pub async fn open(url: &str, options: &Options) -> Result<SqlStore, StoreError> {
    let pool = pool(url, options).await?;
    if let Err(err) = migrations::apply(&pool, Dialect::Postgres).await {
        pool.close().await;
        return Err(err);
    }
    let listen_url = with_timeouts(url, options.timeout)?;
    let signal = Arc::new(Notify::new());
    tokio::spawn(listen(listen_url.into(), signal.clone(), pool.clone()));
    Ok(SqlStore::new(pool, Dialect::Postgres, Some(signal)))
}

/// The connection pool of `url`; no migrations. Every session gets the server-side half of
/// `store.timeout`: a `statement_timeout`, and an `idle_in_transaction_session_timeout` so
/// locks of a client that stalled mid-transaction do not block other replicas for long.
pub async fn pool(url: &str, options: &Options) -> Result<sqlx::AnyPool, StoreError> {
    sqlx::any::install_default_drivers();
    let url = with_timeouts(url, options.timeout)?;
    let pool = AnyPoolOptions::new()
        .max_connections(16)
        .acquire_timeout(options.timeout)
        .connect(url.as_str())
        .await?;
    Ok(pool)
}

/// `url` with the server-side timeouts added to its libpq `options` (sqlx joins several
/// `options` parameters, so a URL's own `-c search_path=…` stays).
fn with_timeouts(url: &str, timeout: Duration) -> Result<url::Url, StoreError> {
    let mut parsed = url::Url::parse(url).map_err(|err| {
        StoreError::Unavailable(sqlx::Error::Configuration(
            format!("not a PostgreSQL URL: {err}").into(),
        ))
    })?;
    let statement_ms = timeout.as_millis().max(1);
    let idle_ms = statement_ms.saturating_mul(2);
    parsed.query_pairs_mut().append_pair(
        "options",
        &format!(
            "-c statement_timeout={statement_ms} -c idle_in_transaction_session_timeout={idle_ms}"
        ),
    );
    Ok(parsed)
}

/// Keeps a `LISTEN` connection open for as long as the pool is; signals on every notification
/// and after every (re)connect, since notifications may have been missed meanwhile.
async fn listen(url: String, signal: Arc<Notify>, pool: sqlx::AnyPool) {
    let mut backoff = Duration::from_millis(100);
    while !pool.is_closed() {
        match PgListener::connect(&url).await {
            Ok(mut listener) => match listener.listen(REVOCATION_CHANNEL).await {
                Ok(()) => {
                    tracing::debug!("listening for revocations");
                    backoff = Duration::from_millis(100);
                    signal.notify_one();
                    loop {
                        tokio::select! {
                            received = listener.try_recv() => match received {
                                Ok(Some(_)) => signal.notify_one(),
                                // Connection lost and re-established by sqlx: catch up.
                                Ok(None) => signal.notify_one(),
                                Err(err) => {
                                    tracing::warn!(error = %err, "revocation listener lost its connection; reconnecting");
                                    break;
                                }
                            },
                            () = pool.close_event() => return,
                        }
                    }
                }
                Err(err) => tracing::warn!(error = %err, "cannot LISTEN for revocations; retrying"),
            },
            Err(err) => {
                tracing::warn!(error = %err, "cannot connect the revocation listener; retrying")
            }
        }
        tokio::select! {
            () = tokio::time::sleep(backoff) => {}
            () = pool.close_event() => return,
        }
        backoff = (backoff * 2).min(Duration::from_secs(2));
    }
}
