//! Drives one accepted connection to its end: every phase has a deadline, and shutdown is
//! graceful.
//!
//! hyper bounds the HTTP/1 request head (`header_read_timeout`), but nothing bounds a
//! connection that sends nothing, a partial HTTP/2 preface (hyper-util's auto builder reads
//! it with no timer), or an HTTP/2 connection that stays open without requests. So each
//! connection counts its requests in flight; when none is, and nothing happened for the
//! deadline of its phase — `header_read_timeout` before the first request, `idle_timeout`
//! after — the connection is shut down gracefully (an HTTP/2 GOAWAY), and dropped if it has
//! not ended a second later.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use std::future::Future;

use hyper_util::server::graceful::GracefulConnection;
use tokio::sync::watch;
use tokio::time::Instant;

/// Deadlines of a connection's quiet phases.
#[derive(Debug, Clone, Copy)]
pub struct Deadlines {
    /// Until the first request arrives (TLS done, protocol preface, first head).
    pub first_request: Duration,
    /// Between requests (keep-alive), and on HTTP/2 with no stream open.
    pub idle: Duration,
}

/// How long a connection asked to close may take before it is dropped, when it has no
/// request in flight.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// Requests in flight on one connection and when the last one ended.
#[derive(Debug)]
pub struct Activity {
    origin: Instant,
    in_flight: AtomicUsize,
    /// Milliseconds since `origin` at the last request's end.
    last_ms: AtomicU64,
    served: AtomicBool,
}

/// Held while a request is being answered.
pub struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let activity = &self.0;
        activity
            .last_ms
            .store(activity.elapsed_ms(), Ordering::Release);
        activity.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Activity {
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            origin: Instant::now(),
            in_flight: AtomicUsize::new(0),
            last_ms: AtomicU64::new(0),
            served: AtomicBool::new(false),
        })
    }

    /// Marks a request as begun; it ends when the guard is dropped.
    pub fn begin(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.served.store(true, Ordering::Release);
        InFlight(self.clone())
    }

    fn elapsed_ms(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn busy(&self) -> bool {
        self.in_flight.load(Ordering::Acquire) > 0
    }

    /// When the connection's quiet phase ends, if nothing happens before.
    fn quiet_until(&self, deadlines: Deadlines) -> Instant {
        let quiet = if self.served.load(Ordering::Acquire) {
            deadlines.idle
        } else {
            deadlines.first_request
        };
        self.origin + Duration::from_millis(self.last_ms.load(Ordering::Acquire)) + quiet
    }
}

/// A served connection, type-erased (one allocation per connection) so the accept loop's
/// spawned task does not carry hyper's generic bounds.
pub trait Conn: Future<Output = ()> + Send {
    fn graceful_shutdown(self: Pin<&mut Self>);
}

/// Adapts a hyper connection future to `Conn` (its error is logged at debug).
pub struct Served<C>(Pin<Box<C>>);

impl<C: GracefulConnection + Send> Served<C>
where
    C::Error: std::fmt::Display,
{
    pub fn boxed(conn: C) -> Pin<Box<dyn Conn>>
    where
        C: 'static,
    {
        Box::pin(Self(Box::pin(conn)))
    }
}

impl<C: GracefulConnection + Send> Future for Served<C>
where
    C::Error: std::fmt::Display,
{
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        self.0.as_mut().poll(cx).map(|result| {
            if let Err(err) = result {
                tracing::debug!(error = %err, "connection ended with an error");
            }
        })
    }
}

impl<C: GracefulConnection + Send> Conn for Served<C>
where
    C::Error: std::fmt::Display,
{
    fn graceful_shutdown(mut self: Pin<&mut Self>) {
        self.0.as_mut().graceful_shutdown();
    }
}

/// Runs `conn` until it ends, its quiet deadline passes, or `shutdown` turns true.
pub async fn drive(
    mut conn: Pin<Box<dyn Conn>>,
    activity: Arc<Activity>,
    deadlines: Deadlines,
    mut shutdown: watch::Receiver<bool>,
) {
    // Set once the connection was asked to close: when to drop it if it is still quiet.
    let mut closing: Option<Instant> = None;
    if *shutdown.borrow() {
        close(conn.as_mut(), &mut closing);
    }
    loop {
        let wake = match closing {
            Some(drop_at) => drop_at,
            None if activity.busy() => Instant::now() + deadlines.idle,
            None => activity.quiet_until(deadlines),
        };
        tokio::select! {
            biased;
            _ = conn.as_mut() => return,
            _ = shutdown.changed(), if closing.is_none() => close(conn.as_mut(), &mut closing),
            () = tokio::time::sleep_until(wake) => match closing {
                Some(_) if activity.busy() => closing = Some(Instant::now() + CLOSE_GRACE),
                Some(_) => return,
                None if !activity.busy() && activity.quiet_until(deadlines) <= Instant::now() => {
                    crate::metrics::record_connection_timed_out();
                    close(conn.as_mut(), &mut closing);
                }
                None => {}
            },
        }
    }
}

fn close(conn: Pin<&mut dyn Conn>, closing: &mut Option<Instant>) {
    conn.graceful_shutdown();
    *closing = Some(Instant::now() + CLOSE_GRACE);
}
