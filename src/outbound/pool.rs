//! `UpstreamPool`: keep-alive HTTP/1.1 connections to one upstream origin, with a list of idle
//! connections per serving core (`server::cores`), on hyper's `client::conn`.
//!
//! Why not hyper-util's legacy client: it keys its pool by origin under one mutex, races a new
//! connect against every checkout, and spawns a task per request to put the connection back
//! once it is ready again. Here a request takes the most recently used idle connection of its
//! own core (no other core ever touches that list), and the connection goes back when the
//! response body has been read to its end (see [`PooledBody`]); a body dropped before its end
//! closes the connection instead, as HTTP/1.1 requires.
//!
//! - A connection idle longer than `idle_timeout` is never used: it is dropped when found, and
//!   a sweep per core (started with the core's first idle connection) closes the ones nobody
//!   comes for.
//! - A request that a pooled connection did not take (it closed as the request came) is sent
//!   on the next idle connection or a new one; the caller never sees that. A request that went
//!   out and got no answer is the caller's to retry (`proxy::forward`).
//! - Connecting (DNS, TCP with `connect_timeout`, no Nagle, TLS with the client certificate)
//!   is `outbound`'s connector, the same as every other outbound client's.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, Uri};
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use hyper::client::conn::http1;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use tokio::time::Instant;
use tower::ServiceExt as _;

use super::core_index;
use crate::web::BoxError;

/// Why an exchange with the upstream failed.
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    /// No connection could be opened (DNS, TCP, TLS, or the HTTP/1 handshake).
    #[error("cannot connect")]
    Connect(#[source] BoxError),
    /// The connection failed during the exchange.
    #[error(transparent)]
    Exchange(hyper::Error),
}

impl PoolError {
    /// Whether the request went out on an established connection that then died before any
    /// answer (the upstream closed it as the request arrived): only then may a retry help.
    pub fn died_unanswered(&self) -> bool {
        let Self::Exchange(err) = self else {
            return false;
        };
        if err.is_incomplete_message() || err.is_canceled() {
            return true;
        }
        let mut source = std::error::Error::source(err);
        while let Some(cause) = source {
            if let Some(io) = cause.downcast_ref::<std::io::Error>() {
                use std::io::ErrorKind::{
                    BrokenPipe, ConnectionAborted, ConnectionReset, UnexpectedEof,
                };
                if matches!(
                    io.kind(),
                    BrokenPipe | ConnectionAborted | ConnectionReset | UnexpectedEof
                ) {
                    return true;
                }
            }
            source = cause.source();
        }
        false
    }
}

/// Connections to one origin (`scheme://authority`).
pub struct UpstreamPool<B> {
    connector: HttpsConnector<HttpConnector>,
    /// `None`: the configured URL names no origin a request can be sent to.
    origin: Option<Uri>,
    /// One list per serving core, then one for every other thread.
    cores: Box<[Arc<IdleList<B>>]>,
}

/// One core's idle connections, the most recently used last.
struct IdleList<B> {
    idle: Mutex<VecDeque<Idle<B>>>,
    timeout: Duration,
    sweeping: AtomicBool,
}

struct Idle<B> {
    sender: http1::SendRequest<B>,
    since: Instant,
}

impl<B> UpstreamPool<B>
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    /// `origin` is `scheme://authority`; `lists` is the number of idle lists (serving cores
    /// plus one).
    pub(super) fn new(
        connector: HttpsConnector<HttpConnector>,
        origin: Option<Uri>,
        idle_timeout: Duration,
        lists: usize,
    ) -> Self {
        let cores = (0..lists)
            .map(|_| {
                Arc::new(IdleList {
                    idle: Mutex::new(VecDeque::new()),
                    timeout: idle_timeout,
                    sweeping: AtomicBool::new(false),
                })
            })
            .collect();
        Self {
            connector,
            origin,
            cores,
        }
    }

    /// Sends `request` (origin-form target, `Host` set) on an idle connection of this core, or
    /// on a new one.
    pub async fn send(
        &self,
        mut request: Request<B>,
    ) -> Result<Response<PooledBody<B>>, PoolError> {
        let list = &self.cores[core_index(self.cores.len() - 1)];
        loop {
            let (mut sender, fresh) = match list.checkout().await {
                Some(sender) => (sender, false),
                None => (self.connect().await?, true),
            };
            match sender.try_send_request(request).await {
                Ok(response) => {
                    let (parts, body) = response.into_parts();
                    let body = PooledBody {
                        inner: body,
                        ended: false,
                        home: Some((sender, list.clone())),
                    };
                    return Ok(Response::from_parts(parts, body));
                }
                Err(mut err) => match err.take_message() {
                    // Not sent: the connection closed as it was taken. A fresh one that
                    // cannot take a request is a failure, not a reason to try forever.
                    Some(unsent) if !fresh => request = unsent,
                    _ => return Err(PoolError::Exchange(err.into_error())),
                },
            }
        }
    }

    async fn connect(&self) -> Result<http1::SendRequest<B>, PoolError> {
        let Some(origin) = &self.origin else {
            return Err(PoolError::Connect(
                "the upstream URL names no origin".into(),
            ));
        };
        let io = self
            .connector
            .clone()
            .oneshot(origin.clone())
            .await
            .map_err(PoolError::Connect)?;
        let (sender, connection) = http1::handshake(io)
            .await
            .map_err(|err| PoolError::Connect(err.into()))?;
        // Not in the request's span: the connection outlives the request that opened it.
        tokio::spawn(async move {
            if let Err(err) = connection.with_upgrades().await {
                tracing::debug!(error = %err, "upstream connection ended");
            }
        });
        Ok(sender)
    }
}

impl<B: Send + 'static> IdleList<B> {
    fn lock(&self) -> MutexGuard<'_, VecDeque<Idle<B>>> {
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The most recently used live connection, waiting for it to be ready for its next request
    /// (it came back the moment its last response ended; its task may not have run since).
    async fn checkout(&self) -> Option<http1::SendRequest<B>> {
        loop {
            let found = {
                let mut idle = self.lock();
                let now = Instant::now();
                loop {
                    match idle.pop_back() {
                        None => break None,
                        Some(entry) if expired(&entry, now, self.timeout) => {}
                        Some(entry) => break Some(entry.sender),
                    }
                }
            };
            let mut sender = found?;
            if sender.is_ready() || sender.ready().await.is_ok() {
                return Some(sender);
            }
        }
    }

    fn checkin(self: &Arc<Self>, sender: http1::SendRequest<B>) {
        let now = Instant::now();
        {
            let mut idle = self.lock();
            while idle
                .front()
                .is_some_and(|oldest| expired(oldest, now, self.timeout))
            {
                idle.pop_front();
            }
            idle.push_back(Idle { sender, since: now });
        }
        if !self.sweeping.swap(true, Ordering::AcqRel) {
            self.start_sweep();
        }
    }

    /// Closes this list's connections idle longer than the timeout, every timeout, on the
    /// calling core, for as long as the pool lives.
    fn start_sweep(self: &Arc<Self>) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            self.sweeping.store(false, Ordering::Release);
            return;
        };
        let list: Weak<Self> = Arc::downgrade(self);
        let period = self.timeout.max(Duration::from_millis(100));
        runtime.spawn(async move {
            let mut ticks = tokio::time::interval(period);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                let Some(list) = list.upgrade() else { return };
                let now = Instant::now();
                list.lock()
                    .retain(|entry| !expired(entry, now, list.timeout));
            }
        });
    }
}

fn expired<B>(entry: &Idle<B>, now: Instant, timeout: Duration) -> bool {
    entry.sender.is_closed() || now.saturating_duration_since(entry.since) >= timeout
}

/// An upstream response body; when it has been read to its end, its connection goes back to
/// its core's idle list. Dropped before its end, it takes the connection with it: hyper closes
/// a connection whose response was not read.
pub struct PooledBody<B: Send + 'static> {
    inner: Incoming,
    /// Read to its end (a chunked body does not say so through `is_end_stream`).
    ended: bool,
    home: Option<(http1::SendRequest<B>, Arc<IdleList<B>>)>,
}

impl<B: Send + 'static> PooledBody<B> {
    /// Keeps the connection out of the pool (it was upgraded to another protocol).
    pub fn detach(&mut self) {
        self.home = None;
    }
}

impl<B: Send + 'static> Drop for PooledBody<B> {
    fn drop(&mut self) {
        if let Some((sender, list)) = self.home.take() {
            if self.ended || self.inner.is_end_stream() {
                list.checkin(sender);
            }
        }
    }
}

impl<B: Send + 'static> Body for PooledBody<B> {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let frame = std::task::ready!(Pin::new(&mut self.inner).poll_frame(cx));
        if frame.is_none() {
            self.ended = true;
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
