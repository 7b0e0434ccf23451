//! Human durations in config values (`30m`, `60d`, `500ms`), parsed with `humantime`.
//!
//! Does not decide which durations are allowed for a key; the section modules of `config` do.

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

/// Formats a duration the way config files write it: one number in the largest unit that
/// divides it exactly (`60d`, `30m`, `90m`, `500ms`), so `parse` reads back the same value.
/// (humantime's own format would write 60 days as `1month 29days 13h 26m 24s`.)
pub fn format(duration: Duration) -> String {
    let nanos = duration.as_nanos();
    if nanos == 0 {
        return "0s".to_owned();
    }
    let units: [(&str, u128); 6] = [
        ("d", 86_400_000_000_000),
        ("h", 3_600_000_000_000),
        ("m", 60_000_000_000),
        ("s", 1_000_000_000),
        ("ms", 1_000_000),
        ("us", 1_000),
    ];
    for (unit, size) in units {
        if nanos % size == 0 {
            return format!("{}{unit}", nanos / size);
        }
    }
    format!("{nanos}ns")
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
        for d in [
            Duration::from_secs(90 * 86_400),
            Duration::from_secs(5_400),
            Duration::from_millis(1_500),
            Duration::from_nanos(1_000_001),
            Duration::ZERO,
        ] {
            assert_eq!(parse(&format(d)), Ok(d), "{}", format(d));
        }
    }

    #[test]
    fn format_writes_what_people_write() {
        assert_eq!(format(Duration::from_secs(60 * 86_400)), "60d");
        assert_eq!(format(Duration::from_secs(1_800)), "30m");
        assert_eq!(format(Duration::from_secs(5_400)), "90m");
        assert_eq!(format(Duration::from_millis(500)), "500ms");
        assert_eq!(format(Duration::ZERO), "0s");
    }
}
