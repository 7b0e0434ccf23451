//! Row mapping shared by both backends: the same columns decode the same way in SQLite and
//! PostgreSQL, so each model is read in one place.

use sqlx::{ColumnIndex, Decode, Row, Type};

use super::{ApiKeyRecord, LocalAccount, Revocation, Session, SigningKeyRecord, UserIdentity};

/// Columns selected for a `Session`, in the order `session` reads them.
pub const SESSION_COLUMNS: &str = "id, user_id, provider_type, device_id, client_ip, user_agent, created_at, last_used_at, expires_at, revoked_at";

macro_rules! get {
    ($row:expr, $name:literal) => {
        $row.try_get($name)?
    };
}

pub fn session<'r, R>(row: &'r R) -> Result<Session, sqlx::Error>
where
    R: Row,
    &'static str: ColumnIndex<R>,
    String: Decode<'r, R::Database> + Type<R::Database>,
    i64: Decode<'r, R::Database> + Type<R::Database>,
{
    Ok(Session {
        id: get!(row, "id"),
        user_id: get!(row, "user_id"),
        provider_type: get!(row, "provider_type"),
        device_id: get!(row, "device_id"),
        client_ip: get!(row, "client_ip"),
        user_agent: get!(row, "user_agent"),
        created_at: get!(row, "created_at"),
        last_used_at: get!(row, "last_used_at"),
        expires_at: get!(row, "expires_at"),
        revoked_at: get!(row, "revoked_at"),
    })
}

pub fn identity<'r, R>(row: &'r R) -> Result<UserIdentity, sqlx::Error>
where
    R: Row,
    &'static str: ColumnIndex<R>,
    String: Decode<'r, R::Database> + Type<R::Database>,
{
    Ok(UserIdentity {
        id: get!(row, "id"),
        provider_type: get!(row, "provider_type"),
        provider_id: get!(row, "provider_id"),
    })
}

pub fn local_account<'r, R>(row: &'r R) -> Result<LocalAccount, sqlx::Error>
where
    R: Row,
    &'static str: ColumnIndex<R>,
    String: Decode<'r, R::Database> + Type<R::Database>,
    i64: Decode<'r, R::Database> + Type<R::Database>,
{
    let confirmed: i64 = get!(row, "confirmed");
    Ok(LocalAccount {
        email: get!(row, "email"),
        user_id: get!(row, "user_id"),
        password_hash: get!(row, "password_hash"),
        confirmed: confirmed != 0,
    })
}

pub fn revocation<'r, R>(row: &'r R) -> Result<Revocation, sqlx::Error>
where
    R: Row,
    &'static str: ColumnIndex<R>,
    String: Decode<'r, R::Database> + Type<R::Database>,
    i64: Decode<'r, R::Database> + Type<R::Database>,
{
    Ok(Revocation {
        seq: get!(row, "seq"),
        session_id: get!(row, "session_id"),
        user_id: get!(row, "user_id"),
        revoked_at: get!(row, "revoked_at"),
    })
}

pub fn signing_key<'r, R>(row: &'r R) -> Result<SigningKeyRecord, sqlx::Error>
where
    R: Row,
    &'static str: ColumnIndex<R>,
    String: Decode<'r, R::Database> + Type<R::Database>,
    i64: Decode<'r, R::Database> + Type<R::Database>,
    Vec<u8>: Decode<'r, R::Database> + Type<R::Database>,
{
    Ok(SigningKeyRecord {
        kid: get!(row, "kid"),
        algorithm: get!(row, "algorithm"),
        secret: get!(row, "secret"),
        created_at: get!(row, "created_at"),
        active_from: get!(row, "active_from"),
    })
}

pub fn api_key<'r, R>(row: &'r R) -> Result<ApiKeyRecord, sqlx::Error>
where
    R: Row,
    &'static str: ColumnIndex<R>,
    String: Decode<'r, R::Database> + Type<R::Database>,
    i64: Decode<'r, R::Database> + Type<R::Database>,
    Vec<u8>: Decode<'r, R::Database> + Type<R::Database>,
{
    let disabled: i64 = get!(row, "disabled");
    Ok(ApiKeyRecord {
        id: get!(row, "id"),
        user_id: get!(row, "user_id"),
        name: get!(row, "name"),
        key_hash: get!(row, "key_hash"),
        disabled: disabled != 0,
        created_at: get!(row, "created_at"),
    })
}

/// Maps every row with `map`, failing on the first row that does not decode.
pub fn all<'r, R, T>(
    rows: &'r [R],
    map: impl Fn(&'r R) -> Result<T, sqlx::Error>,
) -> Result<Vec<T>, sqlx::Error> {
    rows.iter().map(map).collect()
}
