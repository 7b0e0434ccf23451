//! `TokenCache`: verified access tokens by digest, each entry expiring with its token and
//! remembering the key that verified it.
//!
//! Does not check revocation: a cached entry says only "this token passed every check when
//! its key was trusted".

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use moka::Expiry;
use moka::sync::Cache;

use super::Verified;

/// Key: SHA-256 of the whole token.
pub type Digest = [u8; 32];

pub struct TokenCache {
    inner: Cache<Digest, Entry>,
}

#[derive(Clone)]
struct Entry {
    verified: Arc<Verified>,
    /// The key id that verified the token, so removing the key evicts it.
    kid: Arc<str>,
    ttl: Duration,
}

struct UntilTokenExpires;

impl Expiry<Digest, Entry> for UntilTokenExpires {
    fn expire_after_create(&self, _key: &Digest, entry: &Entry, _now: Instant) -> Option<Duration> {
        Some(entry.ttl)
    }
}

impl TokenCache {
    pub fn new(capacity: u64) -> Self {
        Self {
            inner: Cache::builder()
                .max_capacity(capacity)
                .expire_after(UntilTokenExpires)
                .support_invalidation_closures()
                .build(),
        }
    }

    pub fn get(&self, digest: &Digest) -> Option<Arc<Verified>> {
        self.inner.get(digest).map(|entry| entry.verified)
    }

    /// Caches a token verified with key `kid` until its `exp` (nothing is cached for an
    /// expired one).
    pub fn insert(&self, digest: Digest, kid: &str, verified: Arc<Verified>, now: i64) {
        let Ok(secs) = u64::try_from(verified.exp.saturating_sub(now)) else {
            return;
        };
        if secs == 0 {
            return;
        }
        self.inner.insert(
            digest,
            Entry {
                verified,
                kid: Arc::from(kid),
                ttl: Duration::from_secs(secs),
            },
        );
    }

    pub fn invalidate(&self, digest: &Digest) {
        self.inner.invalidate(digest);
    }

    /// Evicts every token verified with one of `kids`. Takes effect at once: `get` never
    /// answers an entry inserted before this call whose kid is listed.
    pub fn invalidate_kids(&self, kids: Vec<String>) {
        let kids: HashSet<String> = kids.into_iter().collect();
        let predicate = move |_: &Digest, entry: &Entry| kids.contains(entry.kid.as_ref());
        if self.inner.invalidate_entries_if(predicate).is_err() {
            // Unreachable (closures are enabled in `new`); fail safe all the same.
            self.inner.invalidate_all();
        }
    }

    pub fn invalidate_all(&self) {
        self.inner.invalidate_all();
    }

    pub fn entry_count(&self) -> u64 {
        self.inner.run_pending_tasks();
        self.inner.entry_count()
    }
}
