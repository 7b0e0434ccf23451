//! `RevocationList`: revoked session ids kept in memory, checked on every request.
//!
//! An entry is kept for as long as a token of that session can still be accepted, then
//! forgotten. Filled by the writer on this replica at once and by `apply` from the store's
//! numbered revocations (other replicas, restarts).
//!
//! # Security
//! Retention is `access_ttl + 2 × CLOCK_LEEWAY` after the revocation, which covers every token
//! `Tokens::authenticate` can accept: a token of the session was minted no later than the
//! revocation (the store refuses to refresh a revoked session) on a clock at most one leeway
//! apart from ours, and `access::verify` refuses any token with `exp - iat > access_ttl +
//! CLOCK_LEEWAY`. The bound uses the *current* `access_ttl` safely: a token minted under an
//! earlier, longer TTL exceeds the cap and is refused outright, so forgetting its session
//! sooner cannot let it back in.
//!
//! Every session that enters the list, by `revoke` or by `apply`, also has its open streams
//! (WebSocket tunnels, streaming responses) told to close through the `Streams` registry the
//! list owns, so a stream ends on every replica within the same bound as its tokens. A stream
//! registers through [`RevocationList::watch`], which checks the list after registering, so a
//! revocation that races the registration is not missed.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use crate::metrics::streams::StreamKind;
use crate::store::Revocation;
use crate::streams::{CloseReason, StreamGuard, Streams};

pub struct RevocationList {
    /// session id -> Unix time after which the entry may be forgotten.
    sessions: RwLock<HashMap<String, i64>>,
    /// Bumped after every change that adds sessions to `sessions` (never before the change is
    /// visible): a session found absent at one version is absent until the next.
    version: AtomicU64,
    last_seq: AtomicI64,
    /// Unix time of the last successful read from the store.
    synced_at: AtomicI64,
    retention: i64,
    /// Open streams by session id, closed when their session enters the list.
    streams: Arc<Streams>,
}

impl RevocationList {
    pub fn new(access_ttl: Duration) -> Self {
        let leeway = i64::try_from(super::CLOCK_LEEWAY.as_secs()).unwrap_or(0);
        let retention = i64::try_from(access_ttl.as_secs())
            .unwrap_or(i64::MAX / 4)
            .saturating_add(leeway.saturating_mul(2));
        Self {
            sessions: RwLock::new(HashMap::new()),
            version: AtomicU64::new(0),
            last_seq: AtomicI64::new(0),
            synced_at: AtomicI64::new(0),
            retention,
            streams: Arc::default(),
        }
    }

    /// The open streams this list closes.
    pub fn streams(&self) -> &Arc<Streams> {
        &self.streams
    }

    /// Registers an open stream of `session_id` (see `Streams::register`); told to close at
    /// once if the session is already revoked.
    pub fn watch(
        &self,
        session_id: &str,
        kind: StreamKind,
        expires_at: Option<i64>,
    ) -> StreamGuard {
        let guard = self.streams.register(session_id, kind, expires_at);
        // After registering: a revocation entering the list from now on finds the stream, and
        // one that entered before is seen here.
        if self.is_revoked(session_id) {
            guard.close(CloseReason::Revoked);
        }
        guard
    }

    /// Changes whenever sessions are added (read it before [`Self::is_revoked`]).
    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }

    pub fn is_revoked(&self, session_id: &str) -> bool {
        self.sessions
            .read()
            .expect("revocation lock is never poisoned")
            .contains_key(session_id)
    }

    /// Marks sessions revoked at `at`.
    /// Marks sessions revoked at `at` and closes their open streams.
    pub fn revoke<'a>(&self, session_ids: impl IntoIterator<Item = &'a str>, at: i64) {
        let forget_at = at.saturating_add(self.retention);
        let ids: Vec<&str> = session_ids.into_iter().collect();
        {
            let mut sessions = self
                .sessions
                .write()
                .expect("revocation lock is never poisoned");
            for id in &ids {
                sessions.insert((*id).to_owned(), forget_at);
            }
        }
        self.version.fetch_add(1, Ordering::AcqRel);
        self.streams.close_sessions(ids, CloseReason::Revoked);
    }

    /// Applies revocations read from the store, in order, and closes the open streams of the
    /// sessions new to the list; returns how many were new. Once the list has been synced
    /// (not during the catch-up at start), each new revocation's propagation delay is recorded.
    pub fn apply(&self, revocations: &[Revocation], now: i64) -> usize {
        let live = self.synced_at.load(Ordering::Acquire) > 0;
        let mut added: Vec<&Revocation> = Vec::new();
        {
            let mut sessions = self
                .sessions
                .write()
                .expect("revocation lock is never poisoned");
            for revocation in revocations {
                let forget_at = revocation.revoked_at.saturating_add(self.retention);
                if forget_at > now
                    && sessions
                        .insert(revocation.session_id.clone(), forget_at)
                        .is_none()
                {
                    added.push(revocation);
                }
                self.last_seq.fetch_max(revocation.seq, Ordering::AcqRel);
            }
        }
        if added.is_empty() {
            return 0;
        }
        self.version.fetch_add(1, Ordering::AcqRel);
        self.streams.close_sessions(
            added.iter().map(|r| r.session_id.as_str()),
            CloseReason::Revoked,
        );
        if live {
            let now_ms = crate::ids::now_ms();
            for committed in added.iter().filter_map(|r| r.committed_at_ms) {
                let delay = u64::try_from(now_ms.saturating_sub(committed)).unwrap_or(0);
                crate::metrics::streams::record_propagation(Duration::from_millis(delay));
            }
        }
        added.len()
    }

    /// Records that the list is current with the store as of `now`.
    pub fn mark_synced(&self, now: i64) {
        self.synced_at.fetch_max(now, Ordering::AcqRel);
    }

    /// Seconds since the list was last known current with the store.
    pub fn staleness(&self, now: i64) -> i64 {
        now.saturating_sub(self.synced_at.load(Ordering::Acquire))
    }

    /// Highest store sequence number applied so far.
    pub fn last_seq(&self) -> i64 {
        self.last_seq.load(Ordering::Acquire)
    }

    /// Forgets entries whose tokens have all expired.
    pub fn purge(&self, now: i64) {
        self.sessions
            .write()
            .expect("revocation lock is never poisoned")
            .retain(|_, forget_at| *forget_at > now);
    }

    pub fn len(&self) -> usize {
        self.sessions
            .read()
            .expect("revocation lock is never poisoned")
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn revocation(seq: i64, session: &str, at: i64) -> Revocation {
        Revocation {
            seq,
            session_id: session.to_owned(),
            user_id: "u".to_owned(),
            revoked_at: at,
            committed_at_ms: None,
        }
    }

    #[test]
    fn revoked_sessions_are_refused_until_their_tokens_are_gone() {
        let list = RevocationList::new(Duration::from_secs(1800));
        list.revoke(["s1"], 1000);
        assert!(list.is_revoked("s1"));
        assert!(!list.is_revoked("s2"));
        list.purge(1000 + 1800);
        assert!(
            list.is_revoked("s1"),
            "kept while a token could still be alive"
        );
        list.purge(1000 + 1800 + 119);
        assert!(list.is_revoked("s1"), "a token may live a leeway longer");
        list.purge(1000 + 1800 + 120);
        assert!(!list.is_revoked("s1"));
    }

    #[test]
    fn apply_tracks_the_sequence_and_skips_stale_entries() {
        let list = RevocationList::new(Duration::from_secs(60));
        let added = list.apply(
            &[revocation(1, "old", 0), revocation(2, "new", 10_000)],
            10_000,
        );
        assert_eq!(added, 1);
        assert_eq!(list.last_seq(), 2);
        assert!(list.is_revoked("new"));
        assert!(!list.is_revoked("old"));
    }

    fn poll(guard: &mut StreamGuard) -> std::task::Poll<CloseReason> {
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        guard.poll_closed(&mut cx)
    }

    #[tokio::test]
    async fn revoking_or_applying_closes_the_sessions_streams() {
        let list = RevocationList::new(Duration::from_secs(60));
        let mut local = list.watch("local", StreamKind::WebSocket, None);
        let mut remote = list.watch("remote", StreamKind::Response, None);
        let mut other = list.watch("other", StreamKind::WebSocket, None);
        list.revoke(["local"], 10_000);
        assert_eq!(
            poll(&mut local),
            std::task::Poll::Ready(CloseReason::Revoked)
        );
        assert!(poll(&mut remote).is_pending());
        list.apply(&[revocation(1, "remote", 10_000)], 10_000);
        assert_eq!(
            poll(&mut remote),
            std::task::Poll::Ready(CloseReason::Revoked)
        );
        assert!(poll(&mut other).is_pending());
    }

    #[tokio::test]
    async fn a_stream_of_an_already_revoked_session_is_closed_at_registration() {
        let list = RevocationList::new(Duration::from_secs(60));
        list.revoke(["s1"], crate::ids::now());
        let mut late = list.watch("s1", StreamKind::WebSocket, None);
        assert_eq!(
            poll(&mut late),
            std::task::Poll::Ready(CloseReason::Revoked)
        );
    }
}
