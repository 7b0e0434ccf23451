//! `Deadline`: the `Store` every caller holds — each operation of the backend bounded by
//! `store.timeout`, answering `StoreError::TimedOut` when it passes, and a close that does not
//! wait for connections hung on a stalled database.
//!
//! Does not retry or decide what a timeout means for the request; `error` maps it to 503.
//! The server-side half of the deadline (PostgreSQL `statement_timeout`) is set at connect.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::Notify;

use super::{
    ApiKeyRecord, ClaimedEvent, ImportOutcome, ImportUser, LocalAccount, NewIdentity, NewSession,
    NewUser, OutboxEvent, Revocation, RotatedToken, Session, SessionStart, SigningKeyRecord, Store,
    StoreError, ThrottleHit, ThrottleRules, ThrottleState, User, UserQuery, UserTokenKind,
    UserTokenRecord,
};

/// How the store is opened (`store.*` keys).
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Deadline of each operation and of taking a pooled connection (`store.timeout`).
    pub timeout: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(5),
        }
    }
}

/// Deadline of `Store::import_users`: one transaction checking and writing a whole batch
/// (tens of thousands of rows) needs more than one operation's `store.timeout` — 20 times
/// it, at least 2 minutes. Each statement inside stays under PostgreSQL's `statement_timeout`.
pub fn import_bound(timeout: Duration) -> Duration {
    timeout.saturating_mul(20).max(Duration::from_secs(120))
}

/// Longest `Store::close` waits for connections to be handed back; a connection hung on a
/// stalled database is abandoned (the process is exiting anyway).
pub const CLOSE_BOUND: Duration = Duration::from_secs(1);

pub(super) struct Deadline<S> {
    inner: S,
    timeout: Duration,
}

impl<S: Store> Deadline<S> {
    pub(super) fn new(inner: S, timeout: Duration) -> Self {
        Self { inner, timeout }
    }

    /// Runs `operation`, abandoning it (the future is dropped, its connection discarded by
    /// the pool) when the deadline passes.
    async fn bounded<T>(
        &self,
        operation: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        tokio::time::timeout(self.timeout, operation)
            .await
            .map_err(|_| StoreError::TimedOut(self.timeout))?
    }
}

/// The `Store` impl: the four methods that need thought, then one line per operation,
/// each `bounded(inner.operation(args))`. (The impl is generated whole so `async_trait` sees
/// the expanded methods.)
macro_rules! bounded_store {
    ($($name:ident($($arg:ident: $ty:ty),*) -> $out:ty;)*) => {
        #[async_trait]
        impl<S: Store> Store for Deadline<S> {
            fn backend(&self) -> &'static str {
                self.inner.backend()
            }

            async fn close(&self) {
                if tokio::time::timeout(CLOSE_BOUND, self.inner.close())
                    .await
                    .is_err()
                {
                    tracing::warn!("store connections did not close in time; abandoned");
                }
            }

            fn revocation_signal(&self) -> Option<Arc<Notify>> {
                self.inner.revocation_signal()
            }

            async fn import_users(
                &self,
                users: &[ImportUser],
            ) -> Result<Vec<ImportOutcome>, StoreError> {
                let bound = import_bound(self.timeout);
                tokio::time::timeout(bound, self.inner.import_users(users))
                    .await
                    .map_err(|_| StoreError::TimedOut(bound))?
            }

            $(
                async fn $name(&self, $($arg: $ty),*) -> Result<$out, StoreError> {
                    self.bounded(self.inner.$name($($arg),*)).await
                }
            )*
        }
    };
}

bounded_store! {
    ping() -> ();
    probe_write(at: i64) -> ();
    create_user(user: &NewUser, identity: &NewIdentity) -> ();
    create_local_user(user: &NewUser, identity: &NewIdentity, account: &LocalAccount) -> ();
    find_identity(provider_type: &str, external_id: &str) -> Option<String>;
    add_identity(identity: &NewIdentity) -> ();
    adopt_pending_user(pending_user_id: &str, into_user_id: &str) -> bool;
    update_user_data(user_id: &str, data: &serde_json::Value) -> ();
    create_api_key(key: &ApiKeyRecord) -> ();
    list_api_keys(user_id: &str) -> Vec<ApiKeyRecord>;
    find_api_key_by_hash(hash: &[u8]) -> Option<ApiKeyRecord>;
    set_api_key_disabled(user_id: &str, key_id: &str, disabled: bool) -> bool;
    delete_api_key(user_id: &str, key_id: &str) -> bool;
    create_user_token(token: &UserTokenRecord) -> ();
    consume_user_token(kind: UserTokenKind, id: &str, hash: &[u8], now: i64) -> Option<String>;
    confirm_local_account(email: &str) -> bool;
    set_local_password(email: &str, password_hash: &str) -> bool;
    rehash_local_password(email: &str, old_hash: &str, new_hash: &str) -> bool;
    find_user(user_id: &str) -> Option<User>;
    find_local_account(email: &str) -> Option<LocalAccount>;
    record_login(user_id: &str, at: i64) -> ();
    create_session(session: &NewSession) -> ();
    start_session(start: &SessionStart) -> Vec<String>;
    rotate_refresh_token(session_id: &str, old_hash: &[u8], new_hash: &[u8], at_ms: i64) -> bool;
    find_rotated_refresh_token(hash: &[u8]) -> Option<RotatedToken>;
    find_session_by_refresh_hash(hash: &[u8]) -> Option<Session>;
    find_session(session_id: &str) -> Option<Session>;
    touch_session(session_id: &str, at: i64) -> ();
    revoke_session(session_id: &str, at: i64) -> bool;
    revoke_user_sessions(user_id: &str, keep: Option<&str>, at: i64) -> Vec<String>;
    list_sessions(user_id: &str) -> Vec<Session>;
    touch_sessions(touches: &[(String, i64)]) -> ();
    list_users(query: &UserQuery) -> Vec<User>;
    set_user_disabled(user_id: &str, disabled: bool, at: i64) -> Option<Vec<String>>;
    delete_user(user_id: &str, at: i64) -> Option<Vec<String>>;
    create_grant(hash: &[u8], user_id: &str, created_at: i64, expires_at: i64) -> ();
    consume_grant(hash: &[u8], now: i64) -> Option<String>;
    purge_anonymous_users(created_before: i64, at: i64, limit: i64) -> (usize, Vec<String>);
    purge_expired(before: i64, now: i64) -> u64;
    revocations_since(after: i64, limit: i64) -> Vec<Revocation>;
    last_revocation_seq() -> i64;
    get_setting(key: &str) -> Option<String>;
    put_setting(key: &str, value: &str) -> ();
    setting_or_insert(key: &str, value: &str) -> String;
    signing_keys() -> Vec<SigningKeyRecord>;
    insert_signing_key(key: &SigningKeyRecord) -> ();
    delete_signing_key(kid: &str) -> bool;
    throttle_states(keys: &[String]) -> Vec<ThrottleState>;
    throttle_failures(hits: &[ThrottleHit], rules: &ThrottleRules, now: i64) -> Vec<ThrottleState>;
    throttle_known(key: &str, rules: &ThrottleRules, now: i64) -> ();
    purge_throttle(idle_before: i64, now: i64, known_before: i64) -> u64;
    enqueue_event(event: &OutboxEvent) -> ();
    claim_events(owner: &str, now: i64, lease_until: i64, limit: i64) -> Vec<ClaimedEvent>;
    finish_event(seq: i64, at: i64, dropped: bool) -> ();
    retry_event(seq: i64, owner: &str, next_attempt_at: i64, error: &str) -> bool;
    release_events(owner: &str) -> u64;
    pending_events() -> i64;
    purge_events(done_before: i64, limit: i64) -> u64;
}
