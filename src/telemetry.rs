//! Log subscriber setup: text or JSON lines on stderr, filtered by `SESSIONGATE_LOG` or the
//! configured level.
//!
//! What is logged is decided where it happens; nothing in this crate logs a token, password,
//! key or `Authorization` header (spans on store methods skip their arguments).

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Installs the global subscriber (a second call is a no-op, as in tests).
pub fn init(format: LogFormat, level: &str) {
    let filter = EnvFilter::try_from_env("SESSIONGATE_LOG")
        .or_else(|_| EnvFilter::try_new(level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour codes only for a terminal, not for files and log collectors.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
}
