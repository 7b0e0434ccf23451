//! `TokenCache`: verified access tokens by digest, each entry expiring with its token.
//!
//! Does not check revocation: a cached entry says only "this signature was good".

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
                .build(),
        }
    }

    pub fn get(&self, digest: &Digest) -> Option<Arc<Verified>> {
        self.inner.get(digest).map(|entry| entry.verified)
    }

    /// Caches a verified token until its `exp` (nothing is cached for an expired one).
    pub fn insert(&self, digest: Digest, verified: Arc<Verified>, now: i64) {
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
                ttl: Duration::from_secs(secs),
            },
        );
    }

    pub fn invalidate_all(&self) {
        self.inner.invalidate_all();
    }

    pub fn entry_count(&self) -> u64 {
        self.inner.run_pending_tasks();
        self.inner.entry_count()
    }
}
