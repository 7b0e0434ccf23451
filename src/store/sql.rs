//! `SqlStore`: the one implementation of `Store`, over sqlx's `Any` driver, for SQLite and
//! PostgreSQL alike. Queries use `$n` parameters and portable SQL; the few differences are
//! `Dialect` branches. Connecting lives in `sqlite` and `postgres` (with its `LISTEN` task),
//! the migrations in `migrations`.
//!
//! This file holds the struct, the shared helpers and the `Store` impl, one line per
//! operation; the SQL is in a submodule per aggregate:
//! - `users`: users and identities, listing, disable, delete, purge of anonymous users, and
//!   the user-row lock (`lock_user`, PostgreSQL `FOR UPDATE`, SQLite a no-op write);
//! - `accounts`: local-userpass accounts, passwords, confirmation and reset tokens;
//! - `api_keys`: API keys;
//! - `sessions`: sessions (start, find, touch, revoke, list) and the purge of expired rows;
//! - `revocations`: the revocation log, with its lock and `NOTIFY` (both PostgreSQL only);
//! - `cap`: the session cap (`sessions.max_per_user`) enforced when a session starts;
//! - `rotation`: refresh-token rotation and the insert-once setting;
//! - `grants`: one-time grants;
//! - `keys`: signing keys and settings;
//! - `import`: the user import (PostgreSQL advisory lock, SQLite write lock);
//! - `throttle`: login-throttle counters;
//! - `outbox`: the event outbox (PostgreSQL `FOR UPDATE SKIP LOCKED`).
//!
//! Booleans are stored as integers 0/1 so both backends decode them the same way.

mod accounts;
mod api_keys;
mod cap;
mod grants;
mod import;
mod keys;
mod outbox;
mod revocations;
mod rotation;
mod sessions;
pub(super) mod throttle;
mod users;

use std::sync::Arc;

use async_trait::async_trait;
use sqlx::AnyPool;
use tokio::sync::Notify;
use tracing::instrument;

use super::{
    ApiKeyRecord, ClaimedEvent, ImportOutcome, ImportUser, LocalAccount, NewIdentity, NewSession,
    NewUser, OutboxEvent, Revocation, RotatedToken, Session, SessionStart, SigningKeyRecord, Store,
    StoreError, User, UserQuery, UserTokenKind, UserTokenRecord,
};
use throttle::{ThrottleHit, ThrottleRules, ThrottleState};

/// Which SQL dialect the pool speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

pub struct SqlStore {
    pool: AnyPool,
    dialect: Dialect,
    /// Pinged when another process recorded a revocation (PostgreSQL `LISTEN`).
    revocation_signal: Option<Arc<Notify>>,
}

impl SqlStore {
    pub(super) fn new(
        pool: AnyPool,
        dialect: Dialect,
        revocation_signal: Option<Arc<Notify>>,
    ) -> Self {
        Self {
            pool,
            dialect,
            revocation_signal,
        }
    }
}

fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.is_unique_violation())
}

fn flag(value: bool) -> i64 {
    i64::from(value)
}

/// The settings key `/readyz` upserts to prove writes work.
const HEARTBEAT_SETTING: &str = "readyz_heartbeat";

/// The `Store` impl: the methods with no SQL of their own, then one line per operation,
/// `operation(args) -> output => method;`, calling the `SqlStore` method (in the submodule of
/// its aggregate) that holds the SQL. Generated whole so `async_trait` sees the expanded
/// methods (as `deadline::Deadline`'s impl is).
macro_rules! sql_store {
    ($(
        $(#[$($attr:tt)*])*
        $name:ident($($arg:ident: $ty:ty),*) -> $out:ty => $method:ident;
    )*) => {
        #[async_trait]
        impl Store for SqlStore {
            fn backend(&self) -> &'static str {
                match self.dialect {
                    Dialect::Sqlite => "sqlite",
                    Dialect::Postgres => "postgres",
                }
            }

            async fn ping(&self) -> Result<(), StoreError> {
                sqlx::query("SELECT 1").execute(&self.pool).await?;
                Ok(())
            }

            async fn probe_write(&self, at: i64) -> Result<(), StoreError> {
                self.put_setting(HEARTBEAT_SETTING, &at.to_string()).await
            }

            async fn close(&self) {
                self.pool.close().await;
            }

            fn revocation_signal(&self) -> Option<Arc<Notify>> {
                self.revocation_signal.clone()
            }

            $(
                $(#[$($attr)*])*
                async fn $name(&self, $($arg: $ty),*) -> Result<$out, StoreError> {
                    self.$method($($arg),*).await
                }
            )*
        }
    };
}

sql_store! {
    // users.rs
    #[instrument(skip_all, fields(user_id = %user.id))]
    create_user(user: &NewUser, identity: &NewIdentity) -> () => user_create;
    find_identity(provider_type: &str, external_id: &str) -> Option<String> => identity_owner;
    #[instrument(skip_all, fields(user_id = %identity.user_id))]
    add_identity(identity: &NewIdentity) -> () => identity_add;
    #[instrument(skip_all, fields(pending_user_id, into_user_id))]
    adopt_pending_user(pending_user_id: &str, into_user_id: &str) -> bool => user_adopt_pending;
    #[instrument(skip_all, fields(user_id))]
    update_user_data(user_id: &str, data: &serde_json::Value) -> () => user_set_data;
    #[instrument(skip_all, fields(user_id))]
    find_user(user_id: &str) -> Option<User> => user_find;
    #[instrument(skip_all, fields(user_id))]
    record_login(user_id: &str, at: i64) -> () => user_record_login;
    #[instrument(skip_all)]
    list_users(query: &UserQuery) -> Vec<User> => users_list;
    #[instrument(skip_all, fields(user_id))]
    set_user_disabled(user_id: &str, disabled: bool, at: i64) -> Option<Vec<String>>
        => user_set_disabled;
    #[instrument(skip_all, fields(user_id))]
    delete_user(user_id: &str, at: i64) -> Option<Vec<String>> => user_delete;
    #[instrument(skip_all)]
    purge_anonymous_users(created_before: i64, at: i64, limit: i64) -> (usize, Vec<String>)
        => users_purge_anonymous;

    // accounts.rs
    #[instrument(skip_all, fields(user_id = %user.id))]
    create_local_user(user: &NewUser, identity: &NewIdentity, account: &LocalAccount) -> ()
        => account_create;
    #[instrument(skip_all)]
    find_local_account(email: &str) -> Option<LocalAccount> => account_find;
    #[instrument(skip_all)]
    confirm_local_account(email: &str) -> bool => account_confirm;
    #[instrument(skip_all)]
    set_local_password(email: &str, password_hash: &str) -> bool => account_set_password;
    #[instrument(skip_all)]
    rehash_local_password(email: &str, old_hash: &str, new_hash: &str) -> bool
        => account_rehash_password;
    #[instrument(skip_all)]
    create_user_token(token: &UserTokenRecord) -> () => user_token_create;
    #[instrument(skip_all)]
    consume_user_token(kind: UserTokenKind, id: &str, hash: &[u8], now: i64) -> Option<String>
        => user_token_consume;

    // import.rs
    #[instrument(skip_all, fields(users = users.len()))]
    import_users(users: &[ImportUser]) -> Vec<ImportOutcome> => import;

    // api_keys.rs
    #[instrument(skip_all, fields(user_id = %key.user_id))]
    create_api_key(key: &ApiKeyRecord) -> () => api_key_create;
    #[instrument(skip_all, fields(user_id))]
    list_api_keys(user_id: &str) -> Vec<ApiKeyRecord> => api_keys_list;
    #[instrument(skip_all)]
    find_api_key_by_hash(hash: &[u8]) -> Option<ApiKeyRecord> => api_key_by_hash;
    #[instrument(skip_all, fields(user_id, key_id))]
    set_api_key_disabled(user_id: &str, key_id: &str, disabled: bool) -> bool
        => api_key_set_disabled;
    #[instrument(skip_all, fields(user_id, key_id))]
    delete_api_key(user_id: &str, key_id: &str) -> bool => api_key_delete;

    // sessions.rs
    #[instrument(skip_all, fields(session_id = %session.id, user_id = %session.user_id))]
    create_session(session: &NewSession) -> () => session_create;
    #[instrument(skip_all, fields(session_id = %start.session.id, user_id = %start.session.user_id))]
    start_session(start: &SessionStart) -> Vec<String> => session_start;
    #[instrument(skip_all)]
    find_session_by_refresh_hash(hash: &[u8]) -> Option<Session> => session_by_refresh_hash;
    #[instrument(skip_all, fields(session_id))]
    find_session(session_id: &str) -> Option<Session> => session_find;
    #[instrument(skip_all, fields(session_id))]
    touch_session(session_id: &str, at: i64) -> () => session_touch;
    touch_sessions(touches: &[(String, i64)]) -> () => sessions_touch;
    #[instrument(skip_all, fields(session_id))]
    revoke_session(session_id: &str, at: i64) -> bool => session_revoke;
    #[instrument(skip_all, fields(user_id))]
    revoke_user_sessions(user_id: &str, keep: Option<&str>, at: i64) -> Vec<String>
        => sessions_revoke_user;
    #[instrument(skip_all, fields(user_id))]
    list_sessions(user_id: &str) -> Vec<Session> => sessions_list;
    #[instrument(skip_all)]
    purge_expired(before: i64, now: i64) -> u64 => sessions_purge_expired;

    // rotation.rs
    #[instrument(skip_all, fields(session_id))]
    rotate_refresh_token(session_id: &str, old_hash: &[u8], new_hash: &[u8], at_ms: i64) -> bool
        => rotate;
    #[instrument(skip_all)]
    find_rotated_refresh_token(hash: &[u8]) -> Option<RotatedToken> => rotated;
    setting_or_insert(key: &str, value: &str) -> String => insert_setting_once;

    // revocations.rs
    #[instrument(skip_all, fields(after))]
    revocations_since(after: i64, limit: i64) -> Vec<Revocation> => revocations_after;
    last_revocation_seq() -> i64 => revocations_last_seq;

    // grants.rs
    create_grant(hash: &[u8], user_id: &str, created_at: i64, expires_at: i64) -> ()
        => grant_create;
    consume_grant(hash: &[u8], now: i64) -> Option<String> => grant_consume;

    // keys.rs
    get_setting(key: &str) -> Option<String> => setting_get;
    put_setting(key: &str, value: &str) -> () => setting_put;
    signing_keys() -> Vec<SigningKeyRecord> => signing_keys_all;
    insert_signing_key(key: &SigningKeyRecord) -> () => signing_key_insert;
    #[instrument(skip_all, fields(kid = %kid))]
    delete_signing_key(kid: &str) -> bool => signing_key_delete;

    // throttle.rs
    #[instrument(skip_all, fields(keys = keys.len()))]
    throttle_states(keys: &[String]) -> Vec<ThrottleState> => throttle_read;
    #[instrument(skip_all, fields(keys = hits.len()))]
    throttle_failures(hits: &[ThrottleHit], rules: &ThrottleRules, now: i64)
        -> Vec<ThrottleState> => throttle_count;
    #[instrument(skip_all)]
    throttle_known(key: &str, rules: &ThrottleRules, now: i64) -> () => throttle_success;
    #[instrument(skip_all)]
    purge_throttle(idle_before: i64, now: i64, known_before: i64) -> u64 => throttle_purge;

    // outbox.rs
    #[instrument(skip_all, fields(event_id = %event.id))]
    enqueue_event(event: &OutboxEvent) -> () => outbox_enqueue;
    claim_events(owner: &str, now: i64, lease_until: i64, limit: i64) -> Vec<ClaimedEvent>
        => outbox_claim;
    finish_event(seq: i64, at: i64, dropped: bool) -> () => outbox_finish;
    retry_event(seq: i64, owner: &str, next_attempt_at: i64, error: &str) -> bool
        => outbox_retry;
    release_events(owner: &str) -> u64 => outbox_release;
    pending_events() -> i64 => outbox_pending;
    purge_events(done_before: i64, limit: i64) -> u64 => outbox_purge;
}
