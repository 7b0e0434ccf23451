//! Strict HTTP/1 framing on top of hyper: request heads with bare-LF line endings and
//! ambiguous body framing (`Transfer-Encoding` twice, with other codings, or beside
//! `Content-Length`; `Content-Length` twice) are refused with 400 and the connection closed.
//!
//! # Security
//! hyper (httparse) reads a bare LF as a line end and accepts `Transfer-Encoding: chunked,
//! chunked`. A proxy in front that reads the same bytes differently would see another
//! request boundary than we do — request smuggling. hyper has no strict switch, so
//! `HeadScan` watches the bytes hyper reads: from the start of the connection until the end of
//! the first head, and again after every bodiless HTTP/1 request has been answered (the next
//! bytes are then the next head). Not covered: the head of a request that follows one with a
//! body, and heads pipelined before the previous answer (hyper has read them already). Those
//! heads are still re-serialized by the gateway with CRLF before they reach the upstream.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use http::header::{CONTENT_LENGTH, TRANSFER_ENCODING};
use http::{HeaderMap, Version};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// What the scanner found, shared by the connection's reader and its request handler.
#[derive(Debug, Default)]
pub struct HeadScan {
    bare_lf: AtomicBool,
    /// A head carried both `Content-Length` and `Transfer-Encoding` (hyper drops the former
    /// before the handler could see it).
    length_and_chunked: AtomicBool,
    /// A head carried `Content-Length` twice (hyper folds equal copies into one).
    length_twice: AtomicBool,
    rearm: AtomicBool,
}

impl HeadScan {
    /// Whether a head scanned so far on this connection used a bare LF.
    pub fn saw_bare_lf(&self) -> bool {
        self.bare_lf.load(Ordering::Acquire)
    }

    /// Whether a head scanned so far sent both `Content-Length` and `Transfer-Encoding`.
    pub fn saw_length_and_chunked(&self) -> bool {
        self.length_and_chunked.load(Ordering::Acquire)
    }

    /// Whether a head scanned so far sent `Content-Length` more than once.
    pub fn saw_length_twice(&self) -> bool {
        self.length_twice.load(Ordering::Acquire)
    }

    /// The next bytes read start a new head: scan them.
    pub fn rearm(&self) {
        self.rearm.store(true, Ordering::Release);
    }
}

/// An IO that scans request heads for bare-LF line endings as hyper reads them.
pub struct ScannedIo<T> {
    inner: T,
    scan: Arc<HeadScan>,
    in_head: bool,
    /// Bytes of the current line, CR excluded.
    line_len: usize,
    /// A non-empty line was seen in this head (leading empty lines are allowed).
    seen_line: bool,
    prev_cr: bool,
    /// The start of the current line, lower-cased: enough to name the framing headers.
    line_start: [u8; LINE_START],
    /// `Content-Length` and `Transfer-Encoding` lines seen in this head.
    framing_seen: [u8; 2],
}

const LINE_START: usize = 18;
const FRAMING_HEADERS: [&[u8]; 2] = [b"content-length:", b"transfer-encoding:"];

impl<T> ScannedIo<T> {
    pub fn new(inner: T, scan: Arc<HeadScan>) -> Self {
        Self {
            inner,
            scan,
            in_head: true,
            line_len: 0,
            seen_line: false,
            prev_cr: false,
            line_start: [0; LINE_START],
            framing_seen: [0; 2],
        }
    }

    fn observe(&mut self, bytes: &[u8]) {
        if !self.in_head {
            if !self.scan.rearm.swap(false, Ordering::AcqRel) {
                return;
            }
            self.in_head = true;
            self.line_len = 0;
            self.seen_line = false;
            self.prev_cr = false;
            self.framing_seen = [0; 2];
        }
        let mut rest = bytes;
        while let Some(&byte) = rest.first() {
            match byte {
                b'\n' => {
                    rest = &rest[1..];
                    if !self.prev_cr {
                        self.scan.bare_lf.store(true, Ordering::Release);
                    }
                    self.prev_cr = false;
                    if self.line_len == 0 && self.seen_line {
                        self.in_head = false;
                        return;
                    }
                    self.seen_line |= self.line_len > 0;
                    self.end_line();
                }
                b'\r' => {
                    rest = &rest[1..];
                    self.prev_cr = true;
                }
                _ => {
                    // The run of other bytes up to the next CR or LF in one step (memchr):
                    // header values (a 400-byte token) are most of a head.
                    let run = memchr::memchr2(b'\r', b'\n', rest).unwrap_or(rest.len());
                    let (text, after) = rest.split_at(run);
                    let start = self.line_len.min(LINE_START);
                    for (slot, byte) in self.line_start[start..].iter_mut().zip(text) {
                        *slot = byte.to_ascii_lowercase();
                    }
                    self.line_len = self.line_len.saturating_add(run);
                    self.prev_cr = false;
                    rest = after;
                }
            }
        }
    }
}

impl<T> ScannedIo<T> {
    fn end_line(&mut self) {
        let start = &self.line_start[..self.line_len.min(LINE_START)];
        for (seen, name) in self.framing_seen.iter_mut().zip(FRAMING_HEADERS) {
            if start.starts_with(name) {
                *seen = seen.saturating_add(1);
            }
        }
        let [lengths, encodings] = self.framing_seen;
        if lengths > 0 && encodings > 0 {
            self.scan.length_and_chunked.store(true, Ordering::Release);
        }
        if lengths > 1 {
            self.scan.length_twice.store(true, Ordering::Release);
        }
        self.line_len = 0;
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for ScannedIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            let this = &mut *self;
            this.observe(&buf.filled()[before..]);
        }
        polled
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for ScannedIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Why a request's framing is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FramingError {
    #[error("request head uses bare LF line endings; HTTP requires CRLF")]
    BareLf,
    #[error("Transfer-Encoding must be sent once, as exactly \"chunked\"")]
    TransferEncoding,
    #[error("Content-Length and Transfer-Encoding must not both be sent")]
    LengthAndChunked,
    #[error("Content-Length must be sent once")]
    ContentLengthTwice,
}

/// Checks an HTTP/1 request's framing (HTTP/2 frames its own messages).
pub fn check(version: Version, headers: &HeaderMap, scan: &HeadScan) -> Result<(), FramingError> {
    if version >= Version::HTTP_2 {
        return Ok(());
    }
    if scan.saw_bare_lf() {
        return Err(FramingError::BareLf);
    }
    if scan.saw_length_and_chunked() {
        return Err(FramingError::LengthAndChunked);
    }
    if scan.saw_length_twice() {
        return Err(FramingError::ContentLengthTwice);
    }
    let mut encodings = headers.get_all(TRANSFER_ENCODING).iter();
    if let Some(first) = encodings.next() {
        let chunked_once = first
            .to_str()
            .is_ok_and(|value| value.trim().eq_ignore_ascii_case("chunked"));
        if !chunked_once || encodings.next().is_some() {
            return Err(FramingError::TransferEncoding);
        }
        if headers.contains_key(CONTENT_LENGTH) {
            return Err(FramingError::LengthAndChunked);
        }
    }
    if headers.get_all(CONTENT_LENGTH).iter().nth(1).is_some() {
        return Err(FramingError::ContentLengthTwice);
    }
    Ok(())
}

#[cfg(test)]
mod tests;
