//! [`TextFields`]: the text format's fields, written as `tracing_subscriber`'s default
//! formatter writes them (`name="text" count=3`, the message bare), without going through
//! `fmt::Debug` for every field.
//!
//! The access line has fifteen fields on every request; through the default visitor they cost
//! about as many instructions as proxying the request (each field a `write!` with two styled
//! pieces, even when styling is off). Strings that `Debug` would leave unchanged and integers
//! are written directly; anything else, and everything when ANSI colours are on, goes the
//! default way, so the output is the same byte for byte.

use std::fmt::{self, Write as _};

use tracing::field::{Field, Visit};
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::FormatFields;
use tracing_subscriber::fmt::format::{DefaultFields, Writer};

/// The text format's field formatter (see the module docs).
#[derive(Debug, Default)]
pub struct TextFields;

impl<'writer> FormatFields<'writer> for TextFields {
    fn format_fields<R: RecordFields>(&self, writer: Writer<'writer>, fields: R) -> fmt::Result {
        if writer.has_ansi_escapes() {
            return DefaultFields::new().format_fields(writer, fields);
        }
        let mut visitor = TextVisitor {
            writer,
            first: true,
            result: Ok(()),
        };
        fields.record(&mut visitor);
        visitor.result
    }
}

struct TextVisitor<'writer> {
    writer: Writer<'writer>,
    first: bool,
    result: fmt::Result,
}

impl TextVisitor<'_> {
    /// Writes the separator and `name=`; false for a field that is not written.
    fn name(&mut self, field: &Field) -> bool {
        let name = field.name();
        if self.result.is_err() || name.starts_with("log.") {
            return false;
        }
        if !std::mem::take(&mut self.first) {
            self.result = self.writer.write_char(' ');
        }
        if name != "message" {
            let name = name.strip_prefix("r#").unwrap_or(name);
            self.result = self
                .result
                .and_then(|()| self.writer.write_str(name))
                .and_then(|()| self.writer.write_char('='));
        }
        self.result.is_ok()
    }
}

/// Whether `Debug` writes `text` as it is, between quotes.
/// (Every byte is looked at, without stopping at the first bad one, so that the loop vectorizes:
/// the strings are short and almost always fine.)
pub(super) fn debug_leaves_alone(text: &str) -> bool {
    text.bytes().fold(true, |fine, b| {
        fine & (0x20..0x7f).contains(&b) & (b != b'"') & (b != b'\\')
    })
}

/// A string field's value as the default formatter writes it: `Debug`, i.e. quoted and escaped.
fn write_str_value(writer: &mut impl fmt::Write, value: &str) -> fmt::Result {
    if debug_leaves_alone(value) {
        writer.write_char('"')?;
        writer.write_str(value)?;
        writer.write_char('"')
    } else {
        write!(writer, "{value:?}")
    }
}

/// A message as the default formatter writes it: as it is, but with the characters that could
/// drive a terminal (ESC, BEL, BS, FF, DEL, C1 controls) escaped (`ansi_sanitization`, on by
/// default), so a message that quotes a client's input cannot inject terminal sequences.
pub(super) fn write_message(writer: &mut impl fmt::Write, message: &str) -> fmt::Result {
    if message.chars().any(drives_a_terminal) {
        Escaping(writer).write_str(message)
    } else {
        writer.write_str(message)
    }
}

fn drives_a_terminal(c: char) -> bool {
    matches!(
        c,
        '\x1b' | '\x07' | '\x08' | '\x0c' | '\x7f' | '\u{80}'..='\u{9f}'
    )
}

/// Writes through to `W`, escaping what [`drives_a_terminal`] as `tracing_subscriber` does.
struct Escaping<'a, W: fmt::Write>(&'a mut W);

impl<W: fmt::Write> fmt::Write for Escaping<'_, W> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        let mut rest = text;
        while let Some(at) = rest.find(drives_a_terminal) {
            self.0.write_str(&rest[..at])?;
            let Some(c) = rest[at..].chars().next() else {
                break;
            };
            match c {
                '\x1b' => self.0.write_str("\\x1b")?,
                '\x07' => self.0.write_str("\\x07")?,
                '\x08' => self.0.write_str("\\x08")?,
                '\x0c' => self.0.write_str("\\x0c")?,
                '\x7f' => self.0.write_str("\\x7f")?,
                c => write!(self.0, "\\u{{{:x}}}", u32::from(c))?,
            }
            rest = &rest[at + c.len_utf8()..];
        }
        self.0.write_str(rest)
    }
}

/// An integer field's value, in decimal.
fn write_u64(writer: &mut impl fmt::Write, value: u64) -> fmt::Result {
    writer.write_str(itoa::Buffer::new().format(value))
}

impl Visit for TextVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        let message = field.name() == "message";
        if !self.name(field) {
            return;
        }
        self.result = if message {
            write_message(&mut self.writer, value)
        } else {
            write_str_value(&mut self.writer, value)
        };
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        if self.name(field) {
            self.result = write_u64(&mut self.writer, value);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let message = field.name() == "message";
        if self.name(field) {
            self.result = if message {
                write!(Escaping(&mut self.writer), "{value:?}")
            } else {
                write!(self.writer, "{value:?}")
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use tracing_subscriber::fmt::format::DefaultFields;

    use super::*;
    use crate::telemetry::testing::Captured;

    /// The lines that `emit` logs through a text formatter with `fields`, timestamps off.
    fn lines<F>(fields: F, emit: impl Fn()) -> String
    where
        F: for<'w> FormatFields<'w> + Send + Sync + 'static,
    {
        let captured = Captured::default();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(captured.clone())
            .with_ansi(false)
            .without_time()
            .fmt_fields(fields)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("request", id = "00ab", r#type = "x");
            let _entered = span.enter();
            emit();
        });
        captured.text()
    }

    #[test]
    fn the_fast_fields_write_what_the_default_fields_write() {
        let emit = || {
            for ua in [
                "curl/8.5.0",
                "tab\there",
                "quote\"and\\slash",
                "ünïcode",
                "",
            ] {
                tracing::info!(
                    target: "sessiongate::access",
                    class = "proxy",
                    status = 200u16,
                    latency_us = 1234u64,
                    big = u64::MAX,
                    zero = 0u64,
                    negative = -5i64,
                    flag = true,
                    upstream_status = Option::<u16>::None,
                    upstream_ms = Some(3u64),
                    client = %std::net::Ipv4Addr::LOCALHOST,
                    ua = ua,
                    r#type = "raw",
                    "request"
                );
            }
            tracing::warn!(error = "it failed", "a message with \"quotes\"");
            // Terminal sequences in a message are escaped, whether it is recorded as
            // `fmt::Arguments` or as a `&str`; in a string field `Debug` escapes them.
            tracing::warn!(
                "injected \x1b[31m red\x07\x08\x0c\x7f \u{9b}2J end: {}",
                "\x1b]0;"
            );
            tracing::info!(message = "a str message \x1b[2J\u{85}", ua = "\x1b[31m");
        };
        let fast = lines(TextFields, emit);
        let default = lines(DefaultFields::new(), emit);
        assert_eq!(fast, default);
        assert_eq!(fast.lines().count(), 8, "{fast}");
        assert!(!fast.contains('\x1b'), "{fast}");
    }
}
