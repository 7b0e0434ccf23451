//! Proxied streams that a revocation (or the token's expiry) must end: the [`StreamTicket`]
//! an authenticated request carries to the forwarder, and [`LiveBody`], the response body that
//! is cut when its session is revoked.
//!
//! Does not close WebSockets (`proxy::tunnel` does, with a close frame) and does not decide who
//! is revoked (`tokens::revocation`).
//!
//! # Cost on the hot path
//! A response is registered only once it outlives its first poll, i.e. when the upstream has
//! not sent it all yet: a response read in one go (the common JSON answer) costs two `Arc`
//! clones and no registration, lock or timer.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};

use crate::metrics::streams::StreamKind;
use crate::streams::{CloseReason, StreamGuard};
use crate::tokens::{RevocationList, Verified};
use crate::web::BoxError;

/// What a stream of an authenticated request needs to register: the caller's session and
/// token expiry, the list that closes it, and the route's expiry rule.
pub struct StreamTicket {
    list: Arc<RevocationList>,
    caller: Arc<Verified>,
    /// `[[routes]] close_streams_at_expiry`.
    close_at_expiry: bool,
}

impl StreamTicket {
    /// What a stream of this request needs to be closed on revocation: only for a caller with
    /// a session (not the Data API's session-less credentials).
    pub fn for_request(
        tokens: &crate::tokens::Tokens,
        route: &super::Route,
        caller: Option<&Arc<Verified>>,
    ) -> Option<Self> {
        let caller = caller.filter(|caller| caller.session_id() != super::data_api::SESSION_ID)?;
        Some(Self::new(
            tokens.revocations().clone(),
            caller.clone(),
            route.close_streams_at_expiry,
        ))
    }

    pub fn new(list: Arc<RevocationList>, caller: Arc<Verified>, close_at_expiry: bool) -> Self {
        Self {
            list,
            caller,
            close_at_expiry,
        }
    }

    /// Registers the stream now.
    pub fn register(&self, kind: StreamKind) -> StreamGuard {
        let expires_at = self.close_at_expiry.then_some(self.caller.exp);
        self.list.watch(self.caller.session_id(), kind, expires_at)
    }
}

/// The body was cut by the gateway: the session was revoked or its token expired.
#[derive(Debug, thiserror::Error)]
#[error("stream closed by the gateway: session {}", .0.as_str())]
pub struct StreamClosed(CloseReason);

/// A proxied response body that registers itself once it outlives its first poll and ends
/// with an error (the client sees the response cut) when told to close.
pub struct LiveBody<B> {
    inner: Option<B>,
    ticket: Option<StreamTicket>,
    guard: Option<StreamGuard>,
}

impl<B> LiveBody<B> {
    pub fn new(inner: B, ticket: StreamTicket) -> Self {
        Self {
            inner: Some(inner),
            ticket: Some(ticket),
            guard: None,
        }
    }
}

impl<B> Body for LiveBody<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        if let Some(guard) = this.guard.as_mut() {
            if let Poll::Ready(reason) = guard.poll_closed(cx) {
                guard.record_closed(reason);
                tracing::debug!(reason = reason.as_str(), "streaming response cut");
                // Dropping the upstream body closes that connection; the guard deregisters.
                this.inner = None;
                this.guard = None;
                return Poll::Ready(Some(Err(Box::new(StreamClosed(reason)))));
            }
        }
        let Some(inner) = this.inner.as_mut() else {
            return Poll::Ready(None);
        };
        match Pin::new(inner).poll_frame(cx) {
            Poll::Ready(Some(frame)) => Poll::Ready(Some(frame.map_err(Into::into))),
            Poll::Ready(None) => {
                this.guard = None;
                this.ticket = None;
                Poll::Ready(None)
            }
            Poll::Pending => {
                if let Some(ticket) = this.ticket.take() {
                    // Outlived its first poll: from now on a revocation must reach it.
                    let mut guard = ticket.register(StreamKind::Response);
                    if let Poll::Ready(reason) = guard.poll_closed(cx) {
                        guard.record_closed(reason);
                        this.inner = None;
                        return Poll::Ready(Some(Err(Box::new(StreamClosed(reason)))));
                    }
                    this.guard = Some(guard);
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
