//! Human durations in config values (`30m`, `60d`, `500ms`), parsed with `humantime`.
//!
//! Does not decide which durations are allowed for a key; `config::validate` does.

use std::time::Duration;

/// Parses a config duration such as `30m`, `60d` or `1h 30m`.
pub fn parse(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("is empty; expected a duration such as 30m".to_owned());
    }
    humantime::parse_duration(text)
        .map_err(|err| format!("{text:?} is not a duration ({err}); expected e.g. 30s, 30m, 60d"))
}

/// Formats a duration the way config files write it (`1h 30m`).
pub fn format(duration: Duration) -> String {
    humantime::format_duration(duration).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_services_defaults_parse() {
        assert_eq!(parse("30m"), Ok(Duration::from_secs(1800)));
        assert_eq!(parse("60d"), Ok(Duration::from_secs(60 * 86_400)));
        assert_eq!(parse("500ms"), Ok(Duration::from_millis(500)));
    }

    #[test]
    fn garbage_is_refused_with_an_example() {
        let err = parse("thirty minutes").unwrap_err();
        assert!(err.contains("expected e.g."), "{err}");
        assert!(parse("").is_err());
        assert!(parse("-5m").is_err());
    }

    #[test]
    fn format_round_trips() {
        let d = Duration::from_secs(90 * 86_400);
        assert_eq!(parse(&format(d)), Ok(d));
    }
}
