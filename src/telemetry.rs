//! Log subscriber setup: text or JSON lines on stderr, filtered by `SESSIONGATE_LOG` or the
//! configured level — a level that a config reload can change while the process runs.
//!
//! What is logged is decided where it happens; nothing in this crate logs a token, password,
//! key or `Authorization` header (spans on store methods skip their arguments).

mod fields;
mod lines;

use std::sync::OnceLock;

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Registry, fmt, reload};

use crate::config::LogFormat;

pub use lines::{batch_this_thread, flush_this_thread};

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
    let lines = fmt::layer()
        .with_writer(lines::Stderr)
        // Colour codes only for a terminal, not for files and log collectors.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let registry = tracing_subscriber::registry().with(filter);
    let installed = match format {
        LogFormat::Json => registry
            .with(lines.json().flatten_event(true))
            .try_init()
            .is_ok(),
        LogFormat::Text => registry
            .with(lines.fmt_fields(fields::TextFields))
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
