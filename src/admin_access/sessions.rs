//! Console sessions: the signed-in browsers of this process, in memory, each behind an
//! HttpOnly cookie.
//!
//! Does not know HTTP or the admin key; `console.rs` signs in and `auth.rs` checks the cookie.
//!
//! # Security
//! A session id is 256 random bits, handed to the browser once (in `Set-Cookie`) and kept here
//! only as its SHA-256 digest, so a memory dump does not yield usable cookies. A session ends
//! after [`IDLE`] without use and at most [`MAX_AGE`] after sign-in, whatever its use. Sessions
//! live in this process only: a restart signs everyone out, and each replica has its own.

use std::collections::HashMap;
use std::sync::Mutex;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

/// A console session ends after this long without a request (seconds).
pub const IDLE: i64 = 15 * 60;
/// A console session ends this long after sign-in, however busy (seconds).
pub const MAX_AGE: i64 = 8 * 60 * 60;
/// At most this many sessions at once; signing in beyond it ends the oldest.
const MAX_SESSIONS: usize = 64;

#[derive(Debug, Clone, Copy)]
struct Entry {
    created: i64,
    expires: i64,
}

impl Entry {
    fn slide(&mut self, now: i64) {
        self.expires = (now + IDLE).min(self.created + MAX_AGE);
    }
}

/// The console sessions of this process.
#[derive(Debug, Default)]
pub struct Sessions {
    by_digest: Mutex<HashMap<[u8; 32], Entry>>,
}

/// A new session: the id for the cookie (shown once) and when it ends unless used.
pub struct Created {
    pub id: String,
    pub expires_at: i64,
}

impl Sessions {
    /// Starts a session at `now`.
    pub fn create(&self, now: i64) -> Created {
        let id = URL_SAFE_NO_PAD.encode(crate::ids::random_bytes::<32>());
        let mut entry = Entry {
            created: now,
            expires: now,
        };
        entry.slide(now);
        let mut map = self.lock();
        map.retain(|_, e| e.expires > now);
        if map.len() >= MAX_SESSIONS {
            let oldest = map.iter().min_by_key(|(_, e)| e.created).map(|(k, _)| *k);
            if let Some(oldest) = oldest {
                map.remove(&oldest);
            }
        }
        map.insert(digest(&id), entry);
        Created {
            id,
            expires_at: entry.expires,
        }
    }

    /// Whether `id` is a live session at `now`; if so its idle deadline moves on and the new
    /// deadline is returned. An expired session is forgotten.
    pub fn touch(&self, id: &str, now: i64) -> Option<i64> {
        let key = digest(id);
        let mut map = self.lock();
        let entry = map.get_mut(&key)?;
        if entry.expires <= now {
            map.remove(&key);
            return None;
        }
        entry.slide(now);
        Some(entry.expires)
    }

    /// Ends a session (sign-out); unknown ids are ignored.
    pub fn remove(&self, id: &str) {
        self.lock().remove(&digest(id));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Entry>> {
        // A panic while holding this lock cannot leave the map inconsistent (single inserts
        // and removes), so a poisoned lock is still usable.
        self.by_digest
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn digest(id: &str) -> [u8; 32] {
    Sha256::digest(id.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_slides_while_used_and_ends_when_idle() {
        let sessions = Sessions::default();
        let created = sessions.create(1000);
        assert_eq!(created.expires_at, 1000 + IDLE);
        assert_eq!(
            sessions.touch(&created.id, 1000 + IDLE - 1),
            Some(1000 + 2 * IDLE - 1)
        );
        assert_eq!(sessions.touch(&created.id, 1000 + 3 * IDLE), None);
        assert_eq!(
            sessions.touch(&created.id, 1000),
            None,
            "forgotten once expired"
        );
    }

    #[test]
    fn a_busy_session_still_ends_at_max_age() {
        let sessions = Sessions::default();
        let created = sessions.create(0);
        let mut now = 0;
        while now + IDLE / 2 < MAX_AGE {
            now += IDLE / 2;
            assert!(sessions.touch(&created.id, now).is_some());
        }
        assert_eq!(sessions.touch(&created.id, MAX_AGE), None);
    }

    #[test]
    fn sign_out_and_unknown_ids_are_refused() {
        let sessions = Sessions::default();
        let created = sessions.create(0);
        assert!(sessions.touch("not-a-session", 1).is_none());
        sessions.remove(&created.id);
        assert!(sessions.touch(&created.id, 1).is_none());
    }

    #[test]
    fn the_oldest_session_ends_beyond_the_cap() {
        let sessions = Sessions::default();
        let first = sessions.create(0);
        for i in 0..MAX_SESSIONS {
            sessions.create(1 + i as i64);
        }
        assert!(sessions.touch(&first.id, 100).is_none());
        assert_eq!(sessions.lock().len(), MAX_SESSIONS);
    }
}
