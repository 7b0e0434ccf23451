//! `StoreError`: what can go wrong in the store, and how sqlx's errors map onto it (a missing
//! row, an undecodable row, an unreachable database).

/// What can go wrong in the store, in the store's words.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// A unique value (an email, an identity) already belongs to someone.
    #[error("{0} already exists")]
    Conflict(&'static str),
    /// The database cannot be reached or answered with an error. The message has any
    /// password inside a URL masked (sqlx errors may echo the connection URL).
    #[error("store unavailable: {}", crate::config::mask_urls(&.0.to_string()))]
    Unavailable(#[source] sqlx::Error),
    /// The operation did not finish within `store.timeout` (a stalled or overloaded
    /// database); it was abandoned.
    #[error("store did not answer within {}", crate::config::format_duration(*.0))]
    TimedOut(std::time::Duration),
    /// A row that the gateway wrote cannot be read back.
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// The store was migrated by a newer release: its schema has migrations this binary does
    /// not know, so it would misread what that release writes. Nothing was changed.
    #[error(
        "the store's schema is at version {found}, newer than this sessiongate knows (up to \
         {known}): a newer release migrated it; run that release (or newer), or restore a \
         backup taken before the upgrade"
    )]
    SchemaTooNew { found: i64, known: i64 },
    /// A login would exceed `sessions.max_per_user` (the cap, carried here) and
    /// `sessions.on_limit` is `reject`. Nothing was written.
    #[error("the user already has {0} live sessions")]
    SessionCapReached(u32),
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        match err {
            sqlx::Error::RowNotFound => StoreError::NotFound,
            sqlx::Error::ColumnDecode { .. }
            | sqlx::Error::Decode(_)
            | sqlx::Error::ColumnNotFound(_) => StoreError::Corrupt(err.to_string()),
            other => StoreError::Unavailable(other),
        }
    }
}
