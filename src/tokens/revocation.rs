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

use std::collections::HashMap;
use std::sync::RwLock;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use crate::store::Revocation;

pub struct RevocationList {
    /// session id -> Unix time after which the entry may be forgotten.
    sessions: RwLock<HashMap<String, i64>>,
    last_seq: AtomicI64,
    /// Unix time of the last successful read from the store.
    synced_at: AtomicI64,
    retention: i64,
}

impl RevocationList {
    pub fn new(access_ttl: Duration) -> Self {
        let leeway = i64::try_from(super::CLOCK_LEEWAY.as_secs()).unwrap_or(0);
        let retention = i64::try_from(access_ttl.as_secs())
            .unwrap_or(i64::MAX / 4)
            .saturating_add(leeway.saturating_mul(2));
        Self {
            sessions: RwLock::new(HashMap::new()),
            last_seq: AtomicI64::new(0),
            synced_at: AtomicI64::new(0),
            retention,
        }
    }

    pub fn is_revoked(&self, session_id: &str) -> bool {
        self.sessions
            .read()
            .expect("revocation lock is never poisoned")
            .contains_key(session_id)
    }

    /// Marks sessions revoked at `at`.
    pub fn revoke<'a>(&self, session_ids: impl IntoIterator<Item = &'a str>, at: i64) {
        let forget_at = at.saturating_add(self.retention);
        let mut sessions = self
            .sessions
            .write()
            .expect("revocation lock is never poisoned");
        for id in session_ids {
            sessions.insert(id.to_owned(), forget_at);
        }
    }

    /// Applies revocations read from the store, in order; returns how many were new.
    pub fn apply(&self, revocations: &[Revocation], now: i64) -> usize {
        let mut added = 0;
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
                added += 1;
            }
            self.last_seq.fetch_max(revocation.seq, Ordering::AcqRel);
        }
        added
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
}
