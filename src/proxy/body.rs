//! `ClientBody`: the client's request body on its way upstream, watched so that a failure of
//! the client's own making — malformed chunked framing, a body that stops arriving — is told
//! apart from an upstream fault (400 / 408 instead of 502 / 504).
//!
//! Does not buffer: frames pass through as they arrive.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use tokio::time::{Instant, Sleep};

use crate::web::BoxError;

/// How the client's body ended, as far as the forwarder has read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyEnd {
    /// Still streaming (or not read yet).
    Open,
    /// Fully read.
    Complete,
    /// The client's framing was broken (bad chunk size, bare LF, overflow) or it hung up.
    Malformed,
    /// No byte of the body arrived within the idle limit.
    Stalled,
}

/// Shared between the body (which writes it) and the forwarder (which reads it on failure).
#[derive(Debug, Default)]
pub struct BodyWatch(AtomicU8);

impl BodyWatch {
    pub fn end(&self) -> BodyEnd {
        match self.0.load(Ordering::Acquire) {
            1 => BodyEnd::Complete,
            2 => BodyEnd::Malformed,
            3 => BodyEnd::Stalled,
            _ => BodyEnd::Open,
        }
    }

    fn set(&self, end: BodyEnd) {
        let value = match end {
            BodyEnd::Open => 0,
            BodyEnd::Complete => 1,
            BodyEnd::Malformed => 2,
            BodyEnd::Stalled => 3,
        };
        self.0.store(value, Ordering::Release);
    }
}

/// The body of a proxied request: the client's, or none (a retried bodiless request).
pub struct ClientBody {
    inner: Option<Incoming>,
    watch: Arc<BodyWatch>,
    idle: Duration,
    /// Armed the first time the client makes us wait; reset by every frame.
    timer: Option<Pin<Box<Sleep>>>,
}

/// The client stopped sending its body.
#[derive(Debug, thiserror::Error)]
#[error("client sent no body bytes for {0:?}")]
pub struct BodyStalled(Duration);

impl ClientBody {
    /// Wraps the client's body; `idle` bounds the wait for each next frame.
    pub fn new(inner: Incoming, idle: Duration) -> (Self, Arc<BodyWatch>) {
        let watch = Arc::new(BodyWatch::default());
        let body = Self {
            inner: Some(inner),
            watch: watch.clone(),
            idle,
            timer: None,
        };
        (body, watch)
    }

    /// No body at all.
    pub fn empty() -> Self {
        Self {
            inner: None,
            watch: Arc::new(BodyWatch::default()),
            idle: Duration::ZERO,
            timer: None,
        }
    }
}

impl Body for ClientBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        let Some(inner) = this.inner.as_mut() else {
            return Poll::Ready(None);
        };
        match Pin::new(inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(timer) = this.timer.as_mut() {
                    timer.as_mut().reset(Instant::now() + this.idle);
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(err))) => {
                this.watch.set(BodyEnd::Malformed);
                Poll::Ready(Some(Err(err.into())))
            }
            Poll::Ready(None) => {
                this.watch.set(BodyEnd::Complete);
                Poll::Ready(None)
            }
            Poll::Pending => {
                let idle = this.idle;
                let timer = this
                    .timer
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(idle)));
                if timer.as_mut().poll(cx).is_ready() {
                    this.watch.set(BodyEnd::Stalled);
                    return Poll::Ready(Some(Err(Box::new(BodyStalled(idle)))));
                }
                Poll::Pending
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.as_ref().is_none_or(Body::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.inner
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), Body::size_hint)
    }
}
