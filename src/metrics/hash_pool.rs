//! Series of the password hash pool (`auth.password_hash_concurrency`): hashes waiting for a
//! slot (a gauge held by [`HashPoolQueued`]) and how long each waited.

use std::time::Instant;

use ::metrics::{Unit, describe_gauge, describe_histogram, gauge, histogram};

pub(super) const HASH_POOL_QUEUE_DEPTH: &str = "sessiongate_hash_pool_queue_depth";
pub(super) const HASH_POOL_WAIT: &str = "sessiongate_hash_pool_wait_seconds";

pub(super) fn describe() {
    describe_gauge!(
        HASH_POOL_QUEUE_DEPTH,
        "Password hashes waiting for a slot of the hash pool (auth.password_hash_concurrency)"
    );
    describe_histogram!(
        HASH_POOL_WAIT,
        Unit::Seconds,
        "Time a password hash waited for a slot of the hash pool"
    );
}

/// A password hash waiting for its slot in the hash pool: counted in
/// `sessiongate_hash_pool_queue_depth` from [`hash_pool_queued`] until it is dropped.
#[derive(Debug)]
#[must_use = "the hash counts as queued until this is dropped"]
pub struct HashPoolQueued {
    since: Instant,
}

/// Counts one hash as waiting for the hash pool. Call [`HashPoolQueued::admitted`] when it got
/// its slot (records the wait); dropping it without (the caller gave up) only uncounts it.
pub fn hash_pool_queued() -> HashPoolQueued {
    gauge!(HASH_POOL_QUEUE_DEPTH).increment(1.0);
    HashPoolQueued {
        since: Instant::now(),
    }
}

/// A hash got its slot without waiting (a wait of zero, so the histogram counts every hash).
pub fn hash_pool_admitted_at_once() {
    histogram!(HASH_POOL_WAIT).record(0.0);
}

impl HashPoolQueued {
    /// The hash got its slot: records how long it waited.
    pub fn admitted(self) {
        histogram!(HASH_POOL_WAIT).record(self.since.elapsed().as_secs_f64());
    }
}

impl Drop for HashPoolQueued {
    fn drop(&mut self) {
        gauge!(HASH_POOL_QUEUE_DEPTH).decrement(1.0);
    }
}
