//! Where log lines go: stderr, written whole. On a serving core (`server::cores`) lines are
//! gathered in a per-thread batch and written together — when the batch would pass
//! [`BATCH_BYTES`], when the core runs out of work and parks, and when its thread ends — so a
//! busy core makes one `write` per few dozen requests instead of one per request, and takes the
//! process's stderr lock as rarely. Any other thread writes each line at once.
//!
//! A batch never splits a line and never exceeds `PIPE_BUF` (4096 bytes on Linux), so lines of
//! two cores written to the same pipe (journald, a container runtime) never interleave. A line
//! waits at most until its core next parks: under no load that is at once; under load, for a
//! few dozen more requests. What a process killed by a signal had batched (≤ 4 KiB per core)
//! is lost; an orderly shutdown, a panic's unwinding and a thread's end write it.

use std::cell::RefCell;
use std::io::{self, Write};

use tracing_subscriber::fmt::MakeWriter;

/// The largest batch: `PIPE_BUF`, the size up to which a pipe write is atomic.
pub const BATCH_BYTES: usize = 4096;

/// A thread's pending lines; written out when dropped (the thread ends).
struct Batch {
    on: bool,
    pending: Vec<u8>,
}

impl Batch {
    fn flush(&mut self) {
        self.flush_to(&mut write_stderr);
    }

    fn flush_to(&mut self, sink: &mut impl FnMut(&[u8])) {
        if !self.pending.is_empty() {
            sink(&self.pending);
            self.pending.clear();
        }
    }

    /// Takes `line` into the batch, writing the batch to `sink` first when the line would not
    /// fit. False when the line is not batched (batching is off, or the line alone is longer
    /// than a batch): the caller writes it, after what was pending.
    fn take(&mut self, line: &[u8], sink: &mut impl FnMut(&[u8])) -> bool {
        if !self.on || line.len() > BATCH_BYTES {
            self.flush_to(sink);
            return false;
        }
        if self.pending.len() + line.len() > BATCH_BYTES {
            self.flush_to(sink);
        }
        self.pending.extend_from_slice(line);
        true
    }
}

/// As the unbatched writer: a failed write of a log line is not reported anywhere.
fn write_stderr(bytes: &[u8]) {
    let _ = io::stderr().write_all(bytes);
}

impl Drop for Batch {
    fn drop(&mut self) {
        self.flush();
    }
}

thread_local! {
    static BATCH: RefCell<Batch> = const { RefCell::new(Batch { on: false, pending: Vec::new() }) };
}

/// Batches the log lines of the calling thread from now on.
pub fn batch_this_thread() {
    BATCH.with_borrow_mut(|batch| {
        batch.on = true;
        batch.pending.reserve(BATCH_BYTES);
    });
}

/// Writes the calling thread's batched lines now (a core about to park).
pub fn flush_this_thread() {
    // `try_with`: a runtime may park while the thread's locals are being torn down.
    let _ = BATCH.try_with(|batch| {
        if let Ok(mut batch) = batch.try_borrow_mut() {
            batch.flush();
        }
    });
}

/// Takes `line` (whole, with its newline) into this thread's batch; false when the caller must
/// write it.
fn batched(line: &[u8]) -> bool {
    BATCH
        .try_with(|batch| {
            batch
                .try_borrow_mut()
                .is_ok_and(|mut batch| batch.take(line, &mut write_stderr))
        })
        .unwrap_or(false)
}

/// Writes one whole line (with its newline) as the subscriber's writer would.
pub(super) fn write(line: &[u8]) {
    if !batched(line) {
        write_stderr(line);
    }
}

/// The subscriber's writer: [`Line`] for each event.
#[derive(Clone, Copy, Default)]
pub struct Stderr;

impl<'a> MakeWriter<'a> for Stderr {
    type Writer = Line;

    fn make_writer(&'a self) -> Line {
        Line
    }
}

/// Takes one formatted line (`tracing_subscriber::fmt` writes each event with one `write_all`).
pub struct Line;

impl Write for Line {
    fn write(&mut self, line: &[u8]) -> io::Result<usize> {
        if batched(line) {
            Ok(line.len())
        } else {
            io::stderr().write_all(line).map(|()| line.len())
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(on: bool) -> Batch {
        Batch {
            on,
            pending: Vec::new(),
        }
    }

    #[test]
    fn lines_are_written_whole_in_order_and_never_more_than_a_batch_at_once() {
        let mut writes: Vec<Vec<u8>> = Vec::new();
        let mut batch = batch(true);
        let lines: Vec<Vec<u8>> = (0..200)
            .map(|i| format!("line {i} {}\n", "x".repeat(i * 7 % 300)).into_bytes())
            .collect();
        for line in &lines {
            assert!(batch.take(line, &mut |bytes| writes.push(bytes.to_vec())));
        }
        assert!(writes.len() > 1, "nothing was written before the end");
        batch.flush_to(&mut |bytes| writes.push(bytes.to_vec()));
        assert!(writes.iter().all(|write| write.len() <= BATCH_BYTES));
        assert!(
            writes.iter().all(|write| write.ends_with(b"\n")),
            "a line was split"
        );
        assert_eq!(writes.concat(), lines.concat());
        // The batches are as full as the lines allow: fewer than one write per 10 lines.
        assert!(writes.len() < lines.len() / 10, "{} writes", writes.len());
    }

    #[test]
    fn unbatched_and_oversized_lines_go_out_at_once_after_what_was_pending() {
        let mut writes: Vec<Vec<u8>> = Vec::new();
        let mut off = batch(false);
        assert!(!off.take(b"a\n", &mut |bytes| writes.push(bytes.to_vec())));
        assert!(writes.is_empty(), "the caller writes an unbatched line");

        let mut on = batch(true);
        assert!(on.take(b"first\n", &mut |bytes| writes.push(bytes.to_vec())));
        let huge = vec![b'y'; BATCH_BYTES + 1];
        assert!(!on.take(&huge, &mut |bytes| writes.push(bytes.to_vec())));
        assert_eq!(writes, vec![b"first\n".to_vec()], "pending lines go first");
    }
}
