//! The plain text format (no ANSI colours): [`TextLines`] writes each event as
//! `tracing_subscriber`'s default (`Full`) format does, byte for byte, with two differences in
//! how, none in what:
//!
//! - **The request is not a span.** The line of an event logged while a request is answered
//!   starts with `request{id=…}:`, as it did when every request opened a `request` span; the id
//!   now comes from the `web::REQUEST_ID` task-local the request already runs in. A span per
//!   request (created, its fields formatted, entered and left on every poll, closed) cost about
//!   as much as the access line itself. The prefix is written whatever the level filter says
//!   of spans, so a `warn` line carries its request id at `SESSIONGATE_LOG=warn` too. Work that
//!   a request hands to another task or thread takes the id along ([`RequestContext`]).
//! - **The access line can skip the event machinery.** [`DirectLine`] writes a line that
//!   `TextLines` would write for an event with only string and integer fields, straight into
//!   the log, without building a `tracing` event, visiting its fields through `dyn Visit` and
//!   formatting them. The caller checks the filter first (`tracing::enabled!`); a direct line is
//!   offered only when `TextLines` is the subscriber in force and no span is entered, so
//!   nothing the tracing path would have written differs.
//!
//! The timestamp (UTC, microseconds) is formatted once per second per thread; the rest of it is
//! six digits.
//!
//! JSON lines and coloured text keep `tracing_subscriber`'s own formatters and a real span per
//! request.

use std::cell::Cell;
use std::fmt::{self, Write as _};
use std::future::Future;
use std::time::{SystemTime, UNIX_EPOCH};

use http::HeaderValue;
use tracing::{Event, Instrument, Level, Span, Subscriber};
use tracing_log::NormalizeEvent;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::FormatTime;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

use super::fields::debug_leaves_alone;
use super::lines;
use crate::web;

/// The plain text event format (see the module docs).
#[derive(Debug, Default, Clone, Copy)]
pub struct TextLines;

impl<S, N> FormatEvent<S, N> for TextLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        // Events from the `log` crate carry their own target and level.
        let normalized = event.normalized_metadata();
        let meta = normalized.as_ref().unwrap_or_else(|| event.metadata());
        let mut spans = write_head(&mut writer, meta.level())?;
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                writer.write_str(span.metadata().name())?;
                let extensions = span.extensions();
                if let Some(fields) = extensions.get::<FormattedFields<N>>()
                    && !fields.is_empty()
                {
                    writer.write_char('{')?;
                    writer.write_str(fields)?;
                    writer.write_char('}')?;
                }
                writer.write_char(':')?;
                spans = true;
            }
        }
        write_target(&mut writer, spans, meta.target())?;
        ctx.format_fields(writer.by_ref(), event)?;
        writer.write_char('\n')
    }
}

/// The timestamp, the level and the request: `2026-12-03T17:43:47.079272Z  WARN request{id=…}:`.
/// True when a span-like prefix was written.
fn write_head(writer: &mut impl fmt::Write, level: &Level) -> Result<bool, fmt::Error> {
    write_timestamp(writer, SystemTime::now())?;
    writer.write_char(' ')?;
    writer.write_str(level_text(level))?;
    writer.write_char(' ')?;
    match web::REQUEST_ID.try_with(|id| write_request(writer, id)) {
        Ok(written) => written.map(|()| true),
        Err(_) => Ok(false),
    }
}

fn write_request(writer: &mut impl fmt::Write, id: &HeaderValue) -> fmt::Result {
    writer.write_str("request{id=")?;
    writer.write_str(id.to_str().unwrap_or("-"))?;
    writer.write_str("}:")
}

/// `target: `, after the space that ends the span prefixes if there were any.
fn write_target(writer: &mut impl fmt::Write, spans: bool, target: &str) -> fmt::Result {
    if spans {
        writer.write_char(' ')?;
    }
    writer.write_str(target)?;
    writer.write_str(": ")
}

/// As the default format pads them: five characters.
fn level_text(level: &Level) -> &'static str {
    match *level {
        Level::TRACE => "TRACE",
        Level::DEBUG => "DEBUG",
        Level::INFO => " INFO",
        Level::WARN => " WARN",
        _ => "ERROR",
    }
}

/// The first second (year 10000) that `humantime` does not format.
const YEAR_10000: u64 = 253_402_300_800;

thread_local! {
    /// The second last formatted on this thread and its `YYYY-MM-DDTHH:MM:SS`.
    static SECOND: Cell<(u64, [u8; 19])> = const { Cell::new((u64::MAX, [0; 19])) };
}

/// `YYYY-MM-DDTHH:MM:SS.uuuuuuZ`.
type Timestamp = [u8; 27];

/// `time` as the default format writes it (RFC 3339 in UTC with microseconds), or `None`
/// outside the years `humantime` formats.
fn timestamp(time: SystemTime) -> Option<Timestamp> {
    let since_epoch = time
        .duration_since(UNIX_EPOCH)
        .ok()
        .filter(|since| since.as_secs() < YEAR_10000)?;
    let seconds = since_epoch.as_secs();
    let (cached, mut second) = SECOND.get();
    if cached != seconds {
        let formatted = humantime::format_rfc3339_seconds(time).to_string();
        second.copy_from_slice(formatted.as_bytes().get(..19)?);
        SECOND.set((seconds, second));
    }
    let mut text = [b'.'; 27];
    text[..19].copy_from_slice(&second);
    let mut rest = since_epoch.subsec_micros();
    for digit in text[20..26].iter_mut().rev() {
        *digit = b'0' + (rest % 10) as u8;
        rest /= 10;
    }
    text[26] = b'Z';
    Some(text)
}

fn write_timestamp(writer: &mut impl fmt::Write, time: SystemTime) -> fmt::Result {
    match timestamp(time) {
        Some(text) => writer.write_str(std::str::from_utf8(&text).map_err(|_| fmt::Error)?),
        // The default timer's own formatting (of the present).
        None => tracing_subscriber::fmt::time::SystemTime.format_time(&mut Writer::new(writer)),
    }
}

/// Whether the subscriber in force on this thread writes [`TextLines`] (then requests need no
/// span of their own) and whether a span is entered now.
fn text_lines_in_force() -> (bool, bool) {
    tracing::dispatcher::get_default(|dispatch| {
        (
            dispatch.is::<TextLines>(),
            dispatch.current_span().id().is_some(),
        )
    })
}

/// Whether a request should open a `request` span: not when [`TextLines`] writes the request's
/// id from the task-local instead.
pub fn request_spans() -> bool {
    !text_lines_in_force().0
}

thread_local! {
    /// The buffer [`DirectLine`]s are built in, kept between lines.
    static LINE: Cell<String> = const { Cell::new(String::new()) };
}

/// One log line written by hand as [`TextLines`] would write it for an event with the same
/// level, target, message and fields (see the module docs). Fields are written in the order
/// they are added, as an event's are. Each field is given by its key, ` name=` (with the space
/// before it): one copy instead of three on a path taken for every request.
pub struct DirectLine {
    text: String,
}

impl DirectLine {
    /// A line at `level`, or `None` when the line must go through `tracing` (another format or
    /// subscriber is in force, or a span is entered). The caller has checked that `target` is
    /// enabled at `level`.
    pub fn open(level: &Level, target: &str, message: &str) -> Option<Self> {
        let (text_lines, in_span) = text_lines_in_force();
        if !text_lines || in_span {
            return None;
        }
        let mut text = LINE.take();
        text.clear();
        // The same head as `TextLines` writes (writing to a `String` does not fail).
        let spans = write_head(&mut text, level).ok()?;
        write_target(&mut text, spans, target).ok()?;
        text.push_str(message);
        Some(Self { text })
    }

    /// `key` (` name=`) and the value quoted and escaped as `Debug` does (a `&str` field).
    pub fn str(&mut self, key: &str, value: &str) {
        self.key(key);
        if debug_leaves_alone(value) {
            self.text.push('"');
            self.text.push_str(value);
            self.text.push('"');
        } else {
            // Writing to a `String` does not fail.
            let _ = write!(self.text, "{value:?}");
        }
    }

    /// `key` (` name=`) and `value` as it is (a `%value` field, whose `Display` wrote `value`).
    pub fn display(&mut self, key: &str, value: &str) {
        self.key(key);
        self.text.push_str(value);
    }

    /// `key` (` name=`) and what `write` appends: what `Display` would write for the value.
    pub fn display_with(&mut self, key: &str, write: impl FnOnce(&mut String)) {
        self.key(key);
        write(&mut self.text);
    }

    /// `key` (` name=`) and the number.
    pub fn u64(&mut self, key: &str, value: u64) {
        self.key(key);
        self.text.push_str(itoa::Buffer::new().format(value));
    }

    fn key(&mut self, key: &str) {
        debug_assert!(key.starts_with(' ') && key.ends_with('='), "{key}");
        self.text.push_str(key);
    }

    /// Ends the line and hands it to the log.
    pub fn write(self) {
        self.write_to(lines::write);
    }

    /// Ends the line and hands it to `sink` (tests).
    pub(crate) fn write_to(mut self, sink: impl FnOnce(&[u8])) {
        self.text.push('\n');
        sink(self.text.as_bytes());
        LINE.set(self.text);
    }
}

/// What work that a request hands on (a spawned task, a hash thread) takes along to log as part
/// of it: the span in force and the request's id.
pub struct RequestContext {
    span: Span,
    id: Option<HeaderValue>,
}

impl RequestContext {
    pub fn current() -> Self {
        Self {
            span: Span::current(),
            id: web::request_id(),
        }
    }

    /// Runs `work` inside the context (on another thread).
    pub fn in_scope<R>(self, work: impl FnOnce() -> R) -> R {
        let span = self.span;
        match self.id {
            Some(id) => web::REQUEST_ID.sync_scope(id, || span.in_scope(work)),
            None => span.in_scope(work),
        }
    }

    /// `task`, polled inside the context (to be spawned).
    pub fn attach<F: Future>(self, task: F) -> impl Future<Output = F::Output> {
        let task = task.instrument(self.span);
        async move {
            match self.id {
                Some(id) => web::REQUEST_ID.scope(id, task).await,
                None => task.await,
            }
        }
    }
}

#[cfg(test)]
mod tests;
