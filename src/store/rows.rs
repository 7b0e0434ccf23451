//! Row mapping: each model is read from an `AnyRow` in one place (SQLite and PostgreSQL rows
//! decode alike through sqlx's `Any` driver).

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{ApiKeyRecord, LocalAccount, Revocation, Session, SigningKeyRecord, UserIdentity};

/// Columns selected for a `LocalAccount`.
pub const LOCAL_ACCOUNT_COLUMNS: &str =
    "email, user_id, password_hash, confirmed, password_reset_required";

/// Columns selected for a `Session`, in the order `session` reads them.
pub const SESSION_COLUMNS: &str = "id, user_id, provider_type, device_id, client_ip, user_agent, created_at, last_used_at, expires_at, revoked_at";

macro_rules! get {
    ($row:expr, $name:literal) => {
        $row.try_get($name)?
    };
}

pub fn session(row: &AnyRow) -> Result<Session, sqlx::Error> {
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

pub fn identity(row: &AnyRow) -> Result<UserIdentity, sqlx::Error> {
    Ok(UserIdentity {
        id: get!(row, "id"),
        provider_type: get!(row, "provider_type"),
        provider_id: get!(row, "provider_id"),
    })
}

pub fn local_account(row: &AnyRow) -> Result<LocalAccount, sqlx::Error> {
    let confirmed: i64 = get!(row, "confirmed");
    let reset_required: i64 = get!(row, "password_reset_required");
    Ok(LocalAccount {
        email: get!(row, "email"),
        user_id: get!(row, "user_id"),
        password_hash: get!(row, "password_hash"),
        confirmed: confirmed != 0,
        password_reset_required: reset_required != 0,
    })
}

pub fn revocation(row: &AnyRow) -> Result<Revocation, sqlx::Error> {
    Ok(Revocation {
        seq: get!(row, "seq"),
        session_id: get!(row, "session_id"),
        user_id: get!(row, "user_id"),
        revoked_at: get!(row, "revoked_at"),
        committed_at_ms: get!(row, "committed_at_ms"),
    })
}

pub fn signing_key(row: &AnyRow) -> Result<SigningKeyRecord, sqlx::Error> {
    Ok(SigningKeyRecord {
        kid: get!(row, "kid"),
        algorithm: get!(row, "algorithm"),
        secret: get!(row, "secret"),
        created_at: get!(row, "created_at"),
        active_from: get!(row, "active_from"),
    })
}

pub fn api_key(row: &AnyRow) -> Result<ApiKeyRecord, sqlx::Error> {
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
pub fn all<T>(
    rows: &[AnyRow],
    map: impl Fn(&AnyRow) -> Result<T, sqlx::Error>,
) -> Result<Vec<T>, sqlx::Error> {
    rows.iter().map(map).collect()
}
