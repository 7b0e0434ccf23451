//! [`TextFields`]: the text format's fields, written as `tracing_subscriber`'s default
//! formatter writes them (`name="text" count=3`, the message bare), without going through
//! `fmt::Debug` for every field.
//!
//! The access line has fifteen fields on every request; through the default visitor they cost
//! about as many instructions as proxying the request (each field a `write!` with two styled
//! pieces, even when styling is off). Strings that `Debug` would leave unchanged and integers
//! are written directly; anything else, and everything when ANSI colours are on, goes the
//! default way, so the output is the same byte for byte.

use std::fmt;

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
fn debug_leaves_alone(text: &str) -> bool {
    text.bytes()
        .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\')
}

impl Visit for TextVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        let message = field.name() == "message";
        if !self.name(field) {
            return;
        }
        self.result = if message {
            self.writer.write_str(value)
        } else if debug_leaves_alone(value) {
            self.writer
                .write_char('"')
                .and_then(|()| self.writer.write_str(value))
                .and_then(|()| self.writer.write_char('"'))
        } else {
            write!(self.writer, "{value:?}")
        };
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        if self.name(field) {
            let mut digits = [0u8; 20];
            let mut at = digits.len();
            let mut rest = value;
            loop {
                at -= 1;
                digits[at] = b'0' + (rest % 10) as u8;
                rest /= 10;
                if rest == 0 {
                    break;
                }
            }
            // ASCII digits only.
            let text = std::str::from_utf8(&digits[at..]).unwrap_or_default();
            self.result = self.writer.write_str(text);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if self.name(field) {
            self.result = write!(self.writer, "{value:?}");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::fmt::MakeWriter;
    use tracing_subscriber::fmt::format::DefaultFields;

    use super::*;

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("lock").extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Captured {
        type Writer = Captured;

        fn make_writer(&'a self) -> Captured {
            self.clone()
        }
    }

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
        let text = captured.0.lock().expect("lock").clone();
        String::from_utf8(text).expect("UTF-8")
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
        };
        let fast = lines(TextFields, emit);
        let default = lines(DefaultFields::new(), emit);
        assert_eq!(fast, default);
        assert_eq!(fast.lines().count(), 6, "{fast}");
    }
}
