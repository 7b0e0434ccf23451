//! `Streams`: the proxied streams still open — WebSocket tunnels and streaming responses — by
//! session id, so that revoking a session can close them, and the `StreamGuard` each stream
//! holds while it is open.
//!
//! Does not close a connection itself and does not know about revocations: `RevocationList`
//! calls [`Streams::close_sessions`] for every session it learns is revoked, and the owner of
//! a stream (`proxy::tunnel`, `proxy::live`) watches its guard and ends the stream when told.
//!
//! The map is split in shards, each behind its own short-held mutex (an insert, a removal),
//! so streams opening and closing on many cores do not queue on one lock; no lock is held
//! across an `.await` or while a stream is woken.

use std::collections::HashMap;
use std::future::Future;
use std::hash::{BuildHasher, RandomState};
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::task::AtomicWaker;
use tokio::time::Sleep;

use crate::metrics::streams::{self as metrics, StreamKind};

/// Why a stream is being closed by the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// Its session was revoked (here or on another replica).
    Revoked,
    /// The access token that opened it expired (routes with `close_streams_at_expiry`).
    Expired,
}

impl CloseReason {
    /// The metrics label and the WebSocket close reason: `revoked`, `expired`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Revoked => "revoked",
            Self::Expired => "expired",
        }
    }

    fn code(self) -> u8 {
        match self {
            Self::Revoked => 1,
            Self::Expired => 2,
        }
    }

    fn from_code(code: u8) -> Option<Self> {
        match code {
            1 => Some(Self::Revoked),
            2 => Some(Self::Expired),
            _ => None,
        }
    }
}

/// Shards of the registry: enough that two cores rarely meet on one lock.
const SHARDS: usize = 16;

/// One open stream's "close now" flag and the waker of the task that owns the stream.
#[derive(Default)]
struct Signal {
    reason: AtomicU8,
    waker: AtomicWaker,
}

impl Signal {
    /// Sets the reason (the first one wins) and wakes the owner.
    fn close(&self, reason: CloseReason) -> bool {
        let set = self
            .reason
            .compare_exchange(0, reason.code(), Ordering::AcqRel, Ordering::Acquire)
            .is_ok();
        if set {
            self.waker.wake();
        }
        set
    }

    fn reason(&self) -> Option<CloseReason> {
        CloseReason::from_code(self.reason.load(Ordering::Acquire))
    }
}

type Shard = HashMap<Box<str>, Vec<Arc<Signal>>>;

/// The open streams of this process, by session id.
pub struct Streams {
    shards: Box<[Mutex<Shard>]>,
    hasher: RandomState,
}

impl Default for Streams {
    fn default() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            hasher: RandomState::new(),
        }
    }
}

impl Streams {
    fn shard(&self, session_id: &str) -> MutexGuard<'_, Shard> {
        let index = usize::try_from(self.hasher.hash_one(session_id) % SHARDS as u64)
            .expect("a shard index fits in usize");
        self.shards[index]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers a stream of `session_id`; it stays registered until the guard is dropped.
    /// With `expires_at` (Unix seconds), the guard also reports [`CloseReason::Expired`] then.
    pub fn register(
        self: &Arc<Self>,
        session_id: &str,
        kind: StreamKind,
        expires_at: Option<i64>,
    ) -> StreamGuard {
        let signal = Arc::new(Signal::default());
        self.shard(session_id)
            .entry(session_id.into())
            .or_default()
            .push(signal.clone());
        metrics::opened(kind);
        let left = expires_at.map(until);
        if left == Some(Duration::ZERO) {
            signal.close(CloseReason::Expired);
        }
        StreamGuard {
            streams: self.clone(),
            session_id: session_id.into(),
            signal,
            kind,
            expiry: left.map(|left| Box::pin(tokio::time::sleep(left))),
        }
    }

    /// Tells every open stream of these sessions to close; returns how many were told.
    pub fn close_sessions<'a>(
        &self,
        session_ids: impl IntoIterator<Item = &'a str>,
        reason: CloseReason,
    ) -> usize {
        let mut told = 0;
        for session_id in session_ids {
            // Taken out under the lock, woken after it is released.
            let signals = self.shard(session_id).remove(session_id);
            for signal in signals.into_iter().flatten() {
                if signal.close(reason) {
                    told += 1;
                }
            }
        }
        told
    }

    /// How many streams are registered.
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|shard| {
                shard
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .values()
                    .map(Vec::len)
                    .sum::<usize>()
            })
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn deregister(&self, session_id: &str, signal: &Arc<Signal>) {
        let mut shard = self.shard(session_id);
        if let Some(signals) = shard.get_mut(session_id) {
            signals.retain(|other| !Arc::ptr_eq(other, signal));
            if signals.is_empty() {
                shard.remove(session_id);
            }
        }
    }
}

/// Time from now until Unix second `exp` (zero when it is past).
fn until(exp: i64) -> Duration {
    let exp = UNIX_EPOCH + Duration::from_secs(u64::try_from(exp).unwrap_or(0));
    exp.duration_since(SystemTime::now())
        .unwrap_or(Duration::ZERO)
}

/// A registered stream. Its owner polls [`StreamGuard::poll_closed`] next to the stream's own
/// I/O; dropping the guard deregisters the stream.
pub struct StreamGuard {
    streams: Arc<Streams>,
    session_id: Box<str>,
    signal: Arc<Signal>,
    kind: StreamKind,
    expiry: Option<Pin<Box<Sleep>>>,
}

impl StreamGuard {
    /// Ready with the reason once the stream must close: its session was revoked, or its token
    /// expired. Registers the task's waker for both.
    pub fn poll_closed(&mut self, cx: &mut Context<'_>) -> Poll<CloseReason> {
        self.signal.waker.register(cx.waker());
        if let Some(reason) = self.signal.reason() {
            return Poll::Ready(reason);
        }
        if let Some(expiry) = self.expiry.as_mut() {
            if expiry.as_mut().poll(cx).is_ready() {
                self.signal.close(CloseReason::Expired);
                return Poll::Ready(self.signal.reason().unwrap_or(CloseReason::Expired));
            }
        }
        Poll::Pending
    }

    /// Resolves when the stream must close (see [`Self::poll_closed`]).
    pub async fn closed(&mut self) -> CloseReason {
        std::future::poll_fn(|cx| self.poll_closed(cx)).await
    }

    /// Closes the stream's own signal (a revocation that raced the registration).
    pub fn close(&self, reason: CloseReason) {
        self.signal.close(reason);
    }

    /// Counts the stream as closed by the gateway for `reason` (once its owner acted on it).
    pub fn record_closed(&self, reason: CloseReason) {
        metrics::closed(self.kind, reason.as_str());
    }
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        self.streams.deregister(&self.session_id, &self.signal);
        metrics::dropped(self.kind);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn poll(guard: &mut StreamGuard) -> Poll<CloseReason> {
        guard.poll_closed(&mut Context::from_waker(std::task::Waker::noop()))
    }

    #[tokio::test]
    async fn closing_a_session_tells_each_of_its_streams_once() {
        let streams = Arc::new(Streams::default());
        let mut a = streams.register("s1", StreamKind::WebSocket, None);
        let mut b = streams.register("s1", StreamKind::Response, None);
        let mut other = streams.register("s2", StreamKind::WebSocket, None);
        assert_eq!(streams.len(), 3);
        assert!(poll(&mut a).is_pending());
        assert_eq!(streams.close_sessions(["s1"], CloseReason::Revoked), 2);
        assert_eq!(poll(&mut a), Poll::Ready(CloseReason::Revoked));
        assert_eq!(poll(&mut b), Poll::Ready(CloseReason::Revoked));
        assert!(poll(&mut other).is_pending());
        assert_eq!(streams.close_sessions(["s1"], CloseReason::Revoked), 0);
        drop((a, b));
        assert_eq!(streams.len(), 1);
        drop(other);
        assert!(streams.is_empty());
    }

    #[tokio::test]
    async fn a_dropped_guard_leaves_the_registry() {
        let streams = Arc::new(Streams::default());
        let first = streams.register("s1", StreamKind::Response, None);
        let second = streams.register("s1", StreamKind::Response, None);
        drop(first);
        assert_eq!(streams.len(), 1);
        drop(second);
        assert!(streams.is_empty());
    }

    #[tokio::test]
    async fn a_past_expiry_closes_at_once_and_a_future_one_waits() {
        let streams = Arc::new(Streams::default());
        let mut past = streams.register("s1", StreamKind::WebSocket, Some(1));
        assert_eq!(poll(&mut past), Poll::Ready(CloseReason::Expired));
        let later = i64::try_from(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .expect("after 1970")
                .as_secs(),
        )
        .expect("fits")
            + 3600;
        let mut future = streams.register("s2", StreamKind::WebSocket, Some(later));
        assert!(poll(&mut future).is_pending());
        assert_eq!(
            tokio::time::timeout(Duration::from_secs(5), async {
                streams.close_sessions(["s2"], CloseReason::Revoked);
                future.closed().await
            })
            .await
            .expect("woken"),
            CloseReason::Revoked
        );
    }
}
