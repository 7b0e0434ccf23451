//! The WebSocket tunnel: the client's and the upstream's upgraded connections joined byte for
//! byte, closed with a proper close frame (1008 policy violation) when the session is revoked
//! or its token expires.
//!
//! The bytes are not decoded, only counted: [`FrameTracker`] follows the frame headers (RFC 6455
//! §5.2) in each direction so that the gateway knows where a frame ends. When told to close,
//! each direction is forwarded up to the end of the frame in flight (for at most
//! [`CLOSE_GRACE`]), then the gateway's close frame is written — unmasked to the client, masked
//! to the upstream, as the roles require — and both connections are shut down. A frame that
//! does not end within the grace is cut without a close frame.
//!
//! Does not check who may open a tunnel (`proxy::upgrade` and the route's auth rule do).

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadHalf, WriteHalf};

use crate::streams::{CloseReason, StreamGuard};

/// Longest wait for the frame in flight to end before the close frame goes out, and for the
/// client to answer it.
pub const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// WebSocket close code 1008: policy violation (RFC 6455 §7.4.1).
pub const POLICY_VIOLATION: u16 = 1008;

const BUFFER: usize = 16 * 1024;

/// Where a byte stream of WebSocket frames stands: in a header, or inside a payload.
#[derive(Debug, Clone, Default)]
pub struct FrameTracker {
    header: [u8; 14],
    /// Header bytes seen of the current frame (0 at a frame boundary).
    have: usize,
    /// Payload bytes still to come of the current frame.
    remaining: u64,
}

impl FrameTracker {
    /// Whether the bytes seen so far end exactly at a frame boundary.
    pub fn at_boundary(&self) -> bool {
        self.have == 0 && self.remaining == 0
    }

    /// How many more bytes may pass without crossing the end of the current frame (at a
    /// boundary: 0). Never more than the frame's header and payload still to come.
    pub fn to_boundary(&self) -> u64 {
        if self.remaining > 0 {
            return self.remaining;
        }
        match self.header_len() {
            Some(len) => (len - self.have) as u64,
            None if self.have == 0 => 0,
            None => (2 - self.have) as u64,
        }
    }

    /// The full header length, once its first two bytes are known.
    fn header_len(&self) -> Option<usize> {
        if self.have < 2 {
            return None;
        }
        let mask = if self.header[1] & 0x80 != 0 { 4 } else { 0 };
        let ext = match self.header[1] & 0x7F {
            126 => 2,
            127 => 8,
            _ => 0,
        };
        Some(2 + ext + mask)
    }

    /// Follows `bytes`, the next bytes of the stream.
    pub fn advance(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            if self.remaining > 0 {
                let skip = usize::try_from(self.remaining)
                    .unwrap_or(usize::MAX)
                    .min(bytes.len());
                self.remaining -= skip as u64;
                bytes = &bytes[skip..];
                continue;
            }
            self.header[self.have] = bytes[0];
            self.have += 1;
            bytes = &bytes[1..];
            if let Some(len) = self.header_len() {
                if self.have == len {
                    self.remaining = self.payload_len();
                    self.have = 0;
                }
            }
        }
    }

    fn payload_len(&self) -> u64 {
        match self.header[1] & 0x7F {
            126 => u64::from(u16::from_be_bytes([self.header[2], self.header[3]])),
            127 => {
                let mut ext = [0u8; 8];
                ext.copy_from_slice(&self.header[2..10]);
                u64::from_be_bytes(ext)
            }
            n => u64::from(n),
        }
    }
}

/// A close frame with `code` and a short `reason`; `mask` for a frame sent as a client (to the
/// upstream), as RFC 6455 §5.3 requires.
pub fn close_frame(code: u16, reason: &str, mask: Option<[u8; 4]>) -> Vec<u8> {
    let mut payload = code.to_be_bytes().to_vec();
    // A control frame's payload is at most 125 bytes.
    payload.extend_from_slice(&reason.as_bytes()[..reason.len().min(123)]);
    let len = u8::try_from(payload.len()).expect("at most 125 bytes");
    let mut frame = vec![0x88];
    match mask {
        None => {
            frame.push(len);
            frame.extend_from_slice(&payload);
        }
        Some(mask) => {
            frame.push(0x80 | len);
            frame.extend_from_slice(&mask);
            frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        }
    }
    frame
}

/// One direction of the tunnel: bytes read from `from` and written to `to`, with the frame
/// boundary of what `to` has received. Every step is safe to abandon at an `.await`: a read
/// loses nothing, and only bytes a write took are counted as sent.
struct Pump<R, W> {
    from: ReadHalf<R>,
    to: WriteHalf<W>,
    buf: Box<[u8]>,
    start: usize,
    end: usize,
    frames: FrameTracker,
    /// `from` reached its end.
    eof: bool,
}

impl<R: AsyncRead + Send, W: AsyncWrite + Send> Pump<R, W> {
    fn new(from: ReadHalf<R>, to: WriteHalf<W>) -> Self {
        Self {
            from,
            to,
            buf: vec![0; BUFFER].into_boxed_slice(),
            start: 0,
            end: 0,
            frames: FrameTracker::default(),
            eof: false,
        }
    }

    /// One step: writes what is buffered (at most up to `limit` bytes), or reads more.
    /// `Ok(false)` once `from` ended and everything was written.
    async fn step(&mut self, limit: Option<u64>) -> std::io::Result<bool> {
        if self.start < self.end {
            let mut stop = self.end;
            if let Some(limit) = limit {
                stop = stop.min(
                    self.start
                        .saturating_add(usize::try_from(limit).unwrap_or(usize::MAX)),
                );
            }
            let written = self.to.write(&self.buf[self.start..stop]).await?;
            if written == 0 {
                return Err(std::io::ErrorKind::WriteZero.into());
            }
            self.frames
                .advance(&self.buf[self.start..self.start + written]);
            self.start += written;
            return Ok(true);
        }
        if self.eof {
            return Ok(false);
        }
        let read = self.from.read(&mut self.buf).await?;
        self.start = 0;
        self.end = read;
        if read == 0 {
            self.eof = true;
            self.to.shutdown().await?;
            return Ok(false);
        }
        Ok(true)
    }

    /// Copies until `from` ends.
    async fn run(&mut self) -> std::io::Result<()> {
        while self.step(None).await? {}
        Ok(())
    }

    /// Forwards up to the end of the frame in flight, then writes `close` and shuts `to` down.
    /// Gives up (no close frame) if the frame does not end within the grace.
    async fn close(&mut self, close: &[u8]) -> bool {
        let finish = async {
            while !self.frames.at_boundary() {
                let limit = self.frames.to_boundary();
                if !self.step(Some(limit)).await? {
                    return Ok(false);
                }
            }
            self.to.write_all(close).await?;
            self.to.flush().await?;
            self.to.shutdown().await?;
            Ok::<_, std::io::Error>(true)
        };
        matches!(
            tokio::time::timeout(CLOSE_GRACE, finish).await,
            Ok(Ok(true))
        )
    }
}

/// Joins `client` and `upstream` until either side ends or `guard` says the stream must close.
pub async fn run<C, U>(client: C, upstream: U, mut guard: StreamGuard)
where
    C: AsyncRead + AsyncWrite + Send,
    U: AsyncRead + AsyncWrite + Send,
{
    let (client_read, client_write) = tokio::io::split(client);
    let (upstream_read, upstream_write) = tokio::io::split(upstream);
    let mut down = Pump::new(upstream_read, client_write);
    let mut up = Pump::new(client_read, upstream_write);
    let reason = tokio::select! {
        reason = guard.closed() => reason,
        result = async { tokio::try_join!(down.run(), up.run()) } => {
            if let Err(err) = result {
                tracing::debug!(error = %err, "upgraded connection ended");
            }
            return;
        }
    };
    guard.record_closed(reason);
    let text = match reason {
        CloseReason::Revoked => "session revoked",
        CloseReason::Expired => "token expired",
    };
    let to_client = close_frame(POLICY_VIOLATION, text, None);
    let to_upstream = close_frame(
        POLICY_VIOLATION,
        text,
        Some(crate::ids::random_bytes::<4>()),
    );
    let (client_closed, _) = tokio::join!(down.close(&to_client), up.close(&to_upstream));
    tracing::debug!(
        reason = reason.as_str(),
        close_frame_sent = client_closed,
        "websocket closed by the gateway"
    );
    drop(guard);
    // Read what the client still sends (its answering close) so our close frame is not lost to
    // a reset; the connection is dropped at its end or after the grace.
    let mut sink = [0u8; 1024];
    let _ = tokio::time::timeout(CLOSE_GRACE, async {
        while matches!(up.from.read(&mut sink).await, Ok(n) if n > 0) {}
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(opcode: u8, payload_len: usize, masked: bool) -> Vec<u8> {
        let mut bytes = vec![0x80 | opcode];
        let bit = if masked { 0x80 } else { 0 };
        match payload_len {
            n if n < 126 => bytes.push(bit | n as u8),
            n if n <= 0xFFFF => {
                bytes.push(bit | 126);
                bytes.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                bytes.push(bit | 127);
                bytes.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        if masked {
            bytes.extend_from_slice(&[1, 2, 3, 4]);
        }
        bytes.extend(std::iter::repeat_n(0x61, payload_len));
        bytes
    }

    #[test]
    fn boundaries_are_found_for_every_length_form_fed_byte_by_byte() {
        for (len, masked) in [
            (0, false),
            (5, false),
            (125, true),
            (126, false),
            (70_000, true),
        ] {
            let bytes = frame(0x2, len, masked);
            let mut tracker = FrameTracker::default();
            assert!(tracker.at_boundary());
            for (i, byte) in bytes.iter().enumerate() {
                let left = tracker.to_boundary();
                assert!(
                    i == 0 || left >= 1,
                    "len {len}: inside a frame something is left"
                );
                tracker.advance(std::slice::from_ref(byte));
                assert_eq!(
                    tracker.at_boundary(),
                    i + 1 == bytes.len(),
                    "len {len} masked {masked} at byte {i}"
                );
            }
        }
    }

    #[test]
    fn to_boundary_never_overshoots_the_frame_in_flight() {
        let mut stream = frame(0x1, 300, false);
        stream.extend(frame(0x1, 3, false));
        let mut tracker = FrameTracker::default();
        tracker.advance(&stream[..1]);
        let mut at = 1;
        while !tracker.at_boundary() {
            let step = usize::try_from(tracker.to_boundary()).unwrap();
            tracker.advance(&stream[at..at + step]);
            at += step;
        }
        assert_eq!(at, 4 + 300, "stops at the end of the first frame");
    }

    #[test]
    fn chunks_across_frames_land_on_the_right_boundary() {
        let mut stream = Vec::new();
        for len in [3, 200, 0, 65_536] {
            stream.extend(frame(0x2, len, false));
        }
        let mut tracker = FrameTracker::default();
        for chunk in stream.chunks(7) {
            tracker.advance(chunk);
        }
        assert!(tracker.at_boundary());
        tracker.advance(&stream[..3]);
        assert!(!tracker.at_boundary());
    }

    #[test]
    fn close_frames_carry_1008_and_are_masked_only_towards_the_upstream() {
        let plain = close_frame(POLICY_VIOLATION, "session revoked", None);
        assert_eq!(plain[0], 0x88);
        assert_eq!(usize::from(plain[1]), 2 + "session revoked".len());
        assert_eq!(&plain[2..4], &1008u16.to_be_bytes());
        assert_eq!(&plain[4..], b"session revoked");
        let masked = close_frame(POLICY_VIOLATION, "x", Some([9, 8, 7, 6]));
        assert_eq!(masked[1], 0x80 | 3);
        let unmasked: Vec<u8> = masked[6..]
            .iter()
            .enumerate()
            .map(|(i, b)| b ^ [9, 8, 7, 6][i % 4])
            .collect();
        assert_eq!(unmasked, [0x03, 0xF0, b'x']);
        let long = close_frame(POLICY_VIOLATION, &"r".repeat(300), None);
        assert_eq!(long.len(), 2 + 125);
    }
}
