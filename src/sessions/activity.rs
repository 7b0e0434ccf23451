//! `Activity`: `last_used_at` of sessions, kept current without a store write per request.
//!
//! Authenticated requests note their session here (a map insert); a background task writes
//! the batch every `FLUSH_EVERY` and at shutdown. `last_used_at` is therefore at most that
//! stale in the store.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use crate::store::{Store, StoreError};

/// How often noted activity is written to the store.
pub const FLUSH_EVERY: Duration = Duration::from_secs(15);

#[derive(Default)]
pub struct Activity {
    pending: Mutex<HashMap<String, i64>>,
}

impl Activity {
    /// Notes that `session_id` was used at `now`.
    pub fn note(&self, session_id: &str, now: i64) {
        let mut pending = self
            .pending
            .lock()
            .expect("activity lock is never poisoned");
        match pending.get_mut(session_id) {
            Some(at) => *at = (*at).max(now),
            None => {
                pending.insert(session_id.to_owned(), now);
            }
        }
    }

    /// Writes everything noted so far; on failure the batch is kept for the next flush.
    pub async fn flush(&self, store: &dyn Store) -> Result<usize, StoreError> {
        let batch: Vec<(String, i64)> = {
            let mut pending = self
                .pending
                .lock()
                .expect("activity lock is never poisoned");
            pending.drain().collect()
        };
        if let Err(err) = store.touch_sessions(&batch).await {
            let mut pending = self
                .pending
                .lock()
                .expect("activity lock is never poisoned");
            for (id, at) in batch {
                let entry = pending.entry(id).or_insert(at);
                *entry = (*entry).max(at);
            }
            return Err(err);
        }
        Ok(batch.len())
    }
}
