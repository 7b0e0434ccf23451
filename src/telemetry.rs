//! Log subscriber setup: text or JSON lines on stderr, filtered by `SESSIONGATE_LOG` or the
//! configured level — a level that a config reload can change while the process runs. Plain
//! text (not a terminal) is written by `text::TextLines`, which also lets the access line skip
//! the event machinery (`DirectLine`).
//!
//! What is logged is decided where it happens; nothing in this crate logs a token, password,
//! key or `Authorization` header (spans on store methods skip their arguments).

mod fields;
mod lines;
mod text;

use std::sync::OnceLock;

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Registry, fmt, reload};

use crate::config::LogFormat;

pub use lines::{batch_this_thread, flush_this_thread};
pub use text::{DirectLine, RequestContext, request_spans};

/// The environment variable that, when set, decides the filter instead of `log.level`.
pub const FILTER_ENV: &str = "SESSIONGATE_LOG";

/// The installed filter's reload handle; `None` inside when `SESSIONGATE_LOG` decides.
static FILTER: OnceLock<Option<reload::Handle<EnvFilter, Registry>>> = OnceLock::new();

/// Installs the global subscriber (a second call is a no-op, as in tests).
pub fn init(format: LogFormat, level: &str) {
    let from_env = EnvFilter::try_from_env(FILTER_ENV).ok();
    let env_decides = from_env.is_some();
    let filter = from_env
        .or_else(|| EnvFilter::try_new(level).ok())
        .unwrap_or_else(|| EnvFilter::new("info"));
    let (filter, handle) = reload::Layer::new(filter);
    // Colour codes only for a terminal, not for files and log collectors.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let lines = fmt::layer().with_writer(lines::Stderr).with_ansi(ansi);
    let registry = tracing_subscriber::registry().with(filter);
    let installed = match format {
        LogFormat::Json => registry
            .with(lines.json().flatten_event(true))
            .try_init()
            .is_ok(),
        LogFormat::Text if ansi => registry
            .with(lines.fmt_fields(fields::TextFields))
            .try_init()
            .is_ok(),
        LogFormat::Text => registry
            .with(
                lines
                    .event_format(text::TextLines)
                    .fmt_fields(fields::TextFields),
            )
            .try_init()
            .is_ok(),
    };
    if installed {
        let _ = FILTER.set((!env_decides).then_some(handle));
    }
}

/// What `set_level` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LevelChange {
    Applied,
    /// `SESSIONGATE_LOG` is set: it keeps deciding, `log.level` is not used.
    EnvDecides,
    /// No subscriber of ours is installed (a library user or a test installed another).
    NotInstalled,
}

/// Replaces the filter with `level` (an `EnvFilter` directive list, already validated by the
/// config). Log lines already being written are not affected.
pub fn set_level(level: &str) -> Result<LevelChange, String> {
    let filter = EnvFilter::try_new(level).map_err(|err| err.to_string())?;
    match FILTER.get() {
        None => Ok(LevelChange::NotInstalled),
        Some(None) => Ok(LevelChange::EnvDecides),
        Some(Some(handle)) => handle
            .reload(filter)
            .map(|()| LevelChange::Applied)
            .map_err(|err| err.to_string()),
    }
}

/// The message of an error and of every error it wraps, joined with `: ` (for logs).
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Capturing what the plain text format writes, for tests here and elsewhere in the crate.
#[cfg(test)]
pub mod testing {
    use std::sync::{Arc, Mutex};

    use tracing::Level;
    use tracing_subscriber::fmt::MakeWriter;

    use super::{fields, text};

    /// A writer that keeps what it is given.
    #[derive(Clone, Default)]
    pub struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Captured {
        pub fn text(&self) -> String {
            String::from_utf8(self.0.lock().expect("lock").clone()).expect("UTF-8")
        }
    }

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

    /// Runs `run` with the plain text format (all levels) as this thread's subscriber; its
    /// result and what was logged.
    pub fn in_text_lines<R>(run: impl FnOnce() -> R) -> (R, String) {
        let captured = Captured::default();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(captured.clone())
            .with_ansi(false)
            .with_max_level(Level::TRACE)
            .event_format(text::TextLines)
            .fmt_fields(fields::TextFields)
            .finish();
        let result = tracing::subscriber::with_default(subscriber, run);
        (result, captured.text())
    }

    /// Each line's timestamp checked for shape and replaced by `<time>`.
    pub fn without_time(text: &str) -> String {
        text.lines()
            .map(|line| {
                let (time, rest) = line.split_at(27);
                let bytes = time.as_bytes();
                assert!(
                    bytes[4] == b'-' && bytes[10] == b'T' && bytes[19] == b'.' && bytes[26] == b'Z',
                    "{line}"
                );
                format!("<time>{rest}\n")
            })
            .collect()
    }
}
