//! `Store`: every persistent operation the gateway needs, one method each, and `connect(url)`
//! (in `open`), which picks the backend by URL scheme and applies its migrations.
//!
//! Does not hash, sign or decide policy: callers pass hashes and timestamps in.
//!
//! One implementation serves SQLite and PostgreSQL alike: `SqlStore` (`store/sql.rs`, over
//! sqlx's `Any` driver), its SQL split by aggregate under `store/sql/`. Queries are portable
//! SQL with `$n` parameters; where the dialects differ, a `Dialect` branch says so in place,
//! all of them about locking and notification (SQLite has one writer anyway): the user-row
//! lock in `sql/users.rs`, the revocation lock and `NOTIFY` in `sql/revocations.rs`, the
//! import lock in `sql/import.rs`, `FOR UPDATE SKIP LOCKED` in `sql/outbox.rs`. The rest
//! differs per backend: opening (`sqlite`, `postgres` with its `LISTEN` task), the numbered
//! migrations (`migrations`, one list per backend) and the backup (`backup`, SQLite only).
//! Rows are mapped in `rows`, the types are in `model`, and every caller holds the store
//! behind `deadline::Deadline`, which bounds each operation by `store.timeout`.

mod backup;
mod deadline;
mod error;
mod migrations;
pub mod model;
mod open;
mod outbox;
mod postgres;
mod rows;
mod sql;
mod sqlite;

use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::Notify;

pub use backup::{Backup, BackupError, backup};
pub use deadline::{CLOSE_BOUND, Options};
pub use error::StoreError;
pub use migrations::MigrationStatus;
pub use model::{
    ApiKeyRecord, ImportOutcome, ImportUser, LocalAccount, NewIdentity, NewSession, NewUser,
    OnLimit, Revocation, RotatedToken, Session, SessionCap, SessionStart, SigningKeyRecord, User,
    UserIdentity, UserQuery, UserTokenKind, UserTokenRecord,
};
pub use open::{connect, connect_with, migrate};
pub use outbox::{ClaimedEvent, OutboxEvent};
pub use sql::throttle::{ThrottleHit, ThrottleRules, ThrottleState};
pub use sql::{Dialect, SqlStore};

/// The store behind the gateway, held as `Arc<dyn Store>`.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// `"sqlite"` or `"postgres"`.
    fn backend(&self) -> &'static str;

    /// Cheap round trip.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Cheap write (a heartbeat setting upserted) for `/readyz`: ready means writes work, not
    /// only reads (a locked, full or read-only SQLite file still answers reads).
    async fn probe_write(&self, at: i64) -> Result<(), StoreError>;

    /// Closes the pool; later calls fail with `Unavailable`. Bounded: connections hung on a
    /// stalled database are abandoned after `CLOSE_BOUND`.
    async fn close(&self);

    /// Notified when another process recorded revocations (PostgreSQL `LISTEN`); `None` when
    /// the backend has no push channel and the periodic poll is all there is.
    fn revocation_signal(&self) -> Option<Arc<Notify>>;

    /// Creates a user with its first identity. `Conflict("identity")` if the identity exists.
    async fn create_user(&self, user: &NewUser, identity: &NewIdentity) -> Result<(), StoreError>;

    /// Creates a local-userpass user: user, identity and account in one transaction.
    /// `Conflict("email")` if the email is registered.
    async fn create_local_user(
        &self,
        user: &NewUser,
        identity: &NewIdentity,
        account: &LocalAccount,
    ) -> Result<(), StoreError>;

    /// The user owning an identity of a provider, or `None`.
    async fn find_identity(
        &self,
        provider_type: &str,
        external_id: &str,
    ) -> Result<Option<String>, StoreError>;

    /// Links another identity to an existing user. `Conflict("identity")` if it is taken.
    async fn add_identity(&self, identity: &NewIdentity) -> Result<(), StoreError>;

    /// Moves every identity and local account of `pending_user_id` to `into_user_id` and
    /// deletes the pending user, in one transaction — only if the pending user never logged in
    /// (an account registered and never used, being linked by its owner). `false`, with nothing
    /// changed, otherwise.
    async fn adopt_pending_user(
        &self,
        pending_user_id: &str,
        into_user_id: &str,
    ) -> Result<bool, StoreError>;

    /// Replaces a user's data (e.g. metadata mapped from a custom token).
    async fn update_user_data(
        &self,
        user_id: &str,
        data: &serde_json::Value,
    ) -> Result<(), StoreError>;

    /// Stores an API key. `Conflict("api key")` if the user has one of that name.
    async fn create_api_key(&self, key: &ApiKeyRecord) -> Result<(), StoreError>;

    /// A user's API keys, oldest first.
    async fn list_api_keys(&self, user_id: &str) -> Result<Vec<ApiKeyRecord>, StoreError>;

    /// The API key with this digest, or `None`.
    async fn find_api_key_by_hash(&self, hash: &[u8]) -> Result<Option<ApiKeyRecord>, StoreError>;

    /// Enables or disables one of a user's keys; `false` if the user has no such key.
    async fn set_api_key_disabled(
        &self,
        user_id: &str,
        key_id: &str,
        disabled: bool,
    ) -> Result<bool, StoreError>;

    /// Deletes one of a user's keys; `false` if the user has no such key.
    async fn delete_api_key(&self, user_id: &str, key_id: &str) -> Result<bool, StoreError>;

    /// Stores a confirmation or reset token (its digest).
    async fn create_user_token(&self, token: &UserTokenRecord) -> Result<(), StoreError>;

    /// Uses up a token: the email it was issued for, if `id` and `hash` match, it is of `kind`
    /// and has not expired. A matching token is gone afterwards either way.
    async fn consume_user_token(
        &self,
        kind: UserTokenKind,
        id: &str,
        hash: &[u8],
        now: i64,
    ) -> Result<Option<String>, StoreError>;

    /// Marks a local account confirmed; `false` if there is no such account.
    async fn confirm_local_account(&self, email: &str) -> Result<bool, StoreError>;

    /// Sets a new password hash; `false` if there is no such account.
    async fn set_local_password(
        &self,
        email: &str,
        password_hash: &str,
    ) -> Result<bool, StoreError>;

    /// Replaces a password hash only while it is still `old_hash` (the rehash to argon2id at
    /// the first login with an imported hash); `false` if it changed meanwhile (a reset).
    async fn rehash_local_password(
        &self,
        email: &str,
        old_hash: &str,
        new_hash: &str,
    ) -> Result<bool, StoreError>;

    /// Imports users with their own ids, in one transaction: one outcome per entry, in order —
    /// `Created`, `Skipped` (the user exists exactly so: type, creation date, disabled, data,
    /// identities, email; the password is not compared) or `Refused` (an id, identity or email
    /// that the store holds differently). Writes the created ones only if none is refused;
    /// otherwise nothing. Imports run one at a time. Bounded by a longer deadline than
    /// `store.timeout` (see `deadline::import_bound`).
    async fn import_users(&self, users: &[ImportUser]) -> Result<Vec<ImportOutcome>, StoreError>;

    /// A user with its identities, or `None`.
    async fn find_user(&self, user_id: &str) -> Result<Option<User>, StoreError>;

    /// The local-userpass account of a (normalized) email, or `None`.
    async fn find_local_account(&self, email: &str) -> Result<Option<LocalAccount>, StoreError>;

    /// Stamps a successful login.
    async fn record_login(&self, user_id: &str, at: i64) -> Result<(), StoreError>;

    async fn create_session(&self, session: &NewSession) -> Result<(), StoreError>;

    /// Everything a login writes — the new user and identity, a linked identity, new user
    /// data, the session and the login stamp — in one transaction. `Conflict("identity")` if
    /// the new user's or linked identity exists (nothing is written then).
    ///
    /// With `start.cap`, the user's live sessions are counted under the user's row lock, so
    /// concurrent logins (on any replica) never exceed it: `EvictOldest` revokes the least
    /// recently used ones (recorded, so every replica refuses their tokens) and returns their
    /// ids; `Reject` fails with `SessionCapReached`, writing nothing.
    async fn start_session(&self, start: &SessionStart) -> Result<Vec<String>, StoreError>;

    /// The session holding this refresh-token hash, revoked or not.
    async fn find_session_by_refresh_hash(
        &self,
        hash: &[u8],
    ) -> Result<Option<Session>, StoreError>;

    async fn find_session(&self, session_id: &str) -> Result<Option<Session>, StoreError>;

    /// Refresh-token rotation: replaces the session's refresh-token digest `old_hash` by
    /// `new_hash` only while it is still `old_hash` (compare-and-swap) and the session is not
    /// revoked, recording `old_hash` as rotated out at `at_ms` (Unix milliseconds) and
    /// touching the session, in one transaction. `false`: another refresh rotated it first,
    /// or the session was revoked; nothing changed.
    async fn rotate_refresh_token(
        &self,
        session_id: &str,
        old_hash: &[u8],
        new_hash: &[u8],
        at_ms: i64,
    ) -> Result<bool, StoreError>;

    /// A refresh-token digest that a rotation replaced, or `None`.
    async fn find_rotated_refresh_token(
        &self,
        hash: &[u8],
    ) -> Result<Option<RotatedToken>, StoreError>;

    /// Updates `last_used_at`.
    async fn touch_session(&self, session_id: &str, at: i64) -> Result<(), StoreError>;

    /// Revokes one session and records the revocation. `false` if it was already revoked or
    /// does not exist.
    async fn revoke_session(&self, session_id: &str, at: i64) -> Result<bool, StoreError>;

    /// Revokes every live session of a user except `keep` (if given); returns the revoked ids.
    async fn revoke_user_sessions(
        &self,
        user_id: &str,
        keep: Option<&str>,
        at: i64,
    ) -> Result<Vec<String>, StoreError>;

    /// Every session of a user, revoked or not, newest first.
    async fn list_sessions(&self, user_id: &str) -> Result<Vec<Session>, StoreError>;

    /// Writes batched `last_used_at` updates (each only moves forward).
    async fn touch_sessions(&self, touches: &[(String, i64)]) -> Result<(), StoreError>;

    /// Users matching `query`, ordered by id, at most `query.limit`.
    async fn list_users(&self, query: &UserQuery) -> Result<Vec<User>, StoreError>;

    /// Enables or disables a user; disabling revokes every live session. `None`: no such user;
    /// otherwise the revoked session ids.
    async fn set_user_disabled(
        &self,
        user_id: &str,
        disabled: bool,
        at: i64,
    ) -> Result<Option<Vec<String>>, StoreError>;

    /// Revokes every live session of a user (recorded, so replicas refuse their tokens), then
    /// deletes the user with identities, accounts and sessions. `None`: no such user.
    async fn delete_user(&self, user_id: &str, at: i64) -> Result<Option<Vec<String>>, StoreError>;

    /// Stores a one-time grant (its digest) for a user.
    async fn create_grant(
        &self,
        hash: &[u8],
        user_id: &str,
        created_at: i64,
        expires_at: i64,
    ) -> Result<(), StoreError>;

    /// Uses up a grant: returns its user if it exists and has not expired; it is gone either way.
    async fn consume_grant(&self, hash: &[u8], now: i64) -> Result<Option<String>, StoreError>;

    /// Deletes at most `limit` anonymous users created before `created_before` (their live
    /// sessions revoked first). Returns (users deleted, revoked session ids); fewer than
    /// `limit` users deleted means none are left. Callers loop, yielding between batches.
    async fn purge_anonymous_users(
        &self,
        created_before: i64,
        at: i64,
        limit: i64,
    ) -> Result<(usize, Vec<String>), StoreError>;

    /// Deletes sessions whose refresh token expired, or that were revoked, before `before`,
    /// expired grants, and revocation records older than `before`. Returns sessions deleted.
    async fn purge_expired(&self, before: i64, now: i64) -> Result<u64, StoreError>;

    /// Revocations with a sequence number above `after`, oldest first, at most `limit`.
    async fn revocations_since(
        &self,
        after: i64,
        limit: i64,
    ) -> Result<Vec<Revocation>, StoreError>;

    /// Highest revocation sequence number so far (0 when none).
    async fn last_revocation_seq(&self) -> Result<i64, StoreError>;

    async fn get_setting(&self, key: &str) -> Result<Option<String>, StoreError>;

    async fn put_setting(&self, key: &str, value: &str) -> Result<(), StoreError>;

    /// The setting's value; if there is none yet, `value` is stored and returned. Of several
    /// processes racing to create it, all get the one value that was stored first.
    async fn setting_or_insert(&self, key: &str, value: &str) -> Result<String, StoreError>;

    /// All signing keys, in order of `active_from`.
    async fn signing_keys(&self) -> Result<Vec<SigningKeyRecord>, StoreError>;

    /// Adds a signing key; an existing `kid` is left as it is.
    async fn insert_signing_key(&self, key: &SigningKeyRecord) -> Result<(), StoreError>;

    /// Removes a signing key (retired: compromised) and wakes other processes as a revocation
    /// does (PostgreSQL `NOTIFY`), so they reload their keys at once. `false`: no such key.
    async fn delete_signing_key(&self, kid: &str) -> Result<bool, StoreError>;

    /// The login-throttle counters of `keys` that exist (see `crate::throttle`).
    async fn throttle_states(&self, keys: &[String]) -> Result<Vec<ThrottleState>, StoreError>;

    /// Counts one failure against each of `hits`, in one atomic statement: a window that is
    /// over starts again, a key reaching its limit is blocked (`rules`, escalating per trip).
    /// Returns the keys counted; a key blocked at `now` is not counted and not returned.
    async fn throttle_failures(
        &self,
        hits: &[ThrottleHit],
        rules: &ThrottleRules,
        now: i64,
    ) -> Result<Vec<ThrottleState>, StoreError>;

    /// A successful login through the (account, client) `key`: its failures and escalation
    /// are cleared and the client is known to the account from `now`.
    async fn throttle_known(
        &self,
        key: &str,
        rules: &ThrottleRules,
        now: i64,
    ) -> Result<(), StoreError>;

    /// Deletes counters untouched since `idle_before`, not blocked at `now`, and not a client
    /// known since `known_before`. Returns how many.
    async fn purge_throttle(
        &self,
        idle_before: i64,
        now: i64,
        known_before: i64,
    ) -> Result<u64, StoreError>;
    /// Records an event for delivery (the outbox; see `crate::events`).
    async fn enqueue_event(&self, event: &OutboxEvent) -> Result<(), StoreError>;

    /// Leases up to `limit` due events to `owner` until `lease_until` (ms), at most one per
    /// order key — the oldest pending one, and only when no other process holds its lease.
    /// Oldest first; each claim counts as an attempt.
    async fn claim_events(
        &self,
        owner: &str,
        now: i64,
        lease_until: i64,
        limit: i64,
    ) -> Result<Vec<ClaimedEvent>, StoreError>;

    /// Marks an event done at `at` (ms): delivered, or given up (`dropped`).
    async fn finish_event(&self, seq: i64, at: i64, dropped: bool) -> Result<(), StoreError>;

    /// Releases `owner`'s lease on an event and makes it due again at `next_attempt_at` (ms).
    /// `false`: the lease was no longer `owner`'s (it expired and another process took it).
    async fn retry_event(
        &self,
        seq: i64,
        owner: &str,
        next_attempt_at: i64,
        error: &str,
    ) -> Result<bool, StoreError>;

    /// Releases every lease `owner` holds (its process is stopping); returns how many.
    async fn release_events(&self, owner: &str) -> Result<u64, StoreError>;

    /// Events not done yet, across all processes.
    async fn pending_events(&self) -> Result<i64, StoreError>;

    /// Deletes at most `limit` events done before `done_before` (ms); returns how many.
    async fn purge_events(&self, done_before: i64, limit: i64) -> Result<u64, StoreError>;
}
