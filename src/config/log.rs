//! `[log]`: the log format and filter; and their validation.

use serde::Serialize;

use super::{ConfigError, raw};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Serialize)]
pub struct LogConfig {
    pub format: LogFormat,
    pub level: String,
}

pub(super) fn validate(raw: raw::RawLog) -> Result<LogConfig, ConfigError> {
    Ok(LogConfig {
        format: match raw.format.as_deref() {
            None | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(other) => {
                return Err(ConfigError::new(
                    "log.format",
                    format!("{other:?}: expected \"text\" or \"json\""),
                ));
            }
        },
        level: log_level(raw.level)?,
    })
}

/// `log.level` is a tracing filter (`info`, `sessiongate=debug,info`); a typo is refused here
/// rather than silently replaced by `info` at start-up.
fn log_level(value: Option<String>) -> Result<String, ConfigError> {
    let level = value.unwrap_or_else(|| "info".to_owned());
    tracing_subscriber::EnvFilter::builder()
        .parse(&level)
        .map_err(|err| {
            ConfigError::new(
                "log.level",
                format!("{level:?} is not a log filter ({err}); expected e.g. info or sessiongate=debug,warn"),
            )
        })?;
    Ok(level)
}
