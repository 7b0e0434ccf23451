//! What admin commands print: aligned tables and key/value blocks for people, the raw JSON
//! answer for scripts (`--json`), Unix times as RFC 3339.
//!
//! Does not choose columns; each command does. A closed pipe (`| head`) ends output quietly.

use std::io::Write;
use std::time::{Duration, UNIX_EPOCH};

use anyhow::Context;
use serde_json::Value;

use super::CliError;

/// Rows of cells under a header, printed with aligned columns.
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(header: &[&str]) -> Self {
        Self {
            header: header.iter().map(|h| (*h).to_owned()).collect(),
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// The table as text: columns padded to their widest cell, two spaces apart, no trailing
    /// blanks.
    pub fn render(&self) -> String {
        let mut widths: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate() {
                if let Some(width) = widths.get_mut(i) {
                    *width = (*width).max(cell.chars().count());
                }
            }
        }
        let mut text = String::new();
        for row in std::iter::once(&self.header).chain(&self.rows) {
            let mut line = String::new();
            for (i, cell) in row.iter().enumerate() {
                if i > 0 {
                    line.push_str("  ");
                }
                line.push_str(cell);
                let width = widths.get(i).copied().unwrap_or(0);
                line.extend(std::iter::repeat_n(
                    ' ',
                    width.saturating_sub(cell.chars().count()),
                ));
            }
            text.push_str(line.trim_end());
            text.push('\n');
        }
        text
    }
}

/// Writes `text` to stdout.
pub fn print(text: &str) -> Result<(), CliError> {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(err) if err.kind() != std::io::ErrorKind::BrokenPipe => Err(anyhow::Error::new(err)
            .context("cannot write to stdout")
            .into()),
        _ => Ok(()),
    }
}

/// Writes one line to stdout.
pub fn line(text: &str) -> Result<(), CliError> {
    print(&format!("{text}\n"))
}

/// Prints a JSON answer as the gateway sent it (pretty-printed).
pub fn json(value: &Value) -> Result<(), CliError> {
    let text = serde_json::to_string_pretty(value).context("cannot print the answer")?;
    line(&text)
}

/// `key  value` lines, keys aligned.
pub fn fields(pairs: &[(&str, String)]) -> String {
    let width = pairs.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    pairs
        .iter()
        .map(|(key, value)| format!("{key:width$}  {value}\n"))
        .collect()
}

/// A Unix time in seconds as RFC 3339 UTC (`2024-05-01T12:00:00Z`); `-` for none.
pub fn time(value: Option<i64>) -> String {
    match value.map(u64::try_from) {
        None => "-".to_owned(),
        Some(Ok(secs)) => {
            humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(secs)).to_string()
        }
        Some(Err(_)) => value.map(|v| v.to_string()).unwrap_or_default(),
    }
}

/// A whole number of seconds in the largest unit that divides it: `60d`, `12h`, `90m`, `45s`
/// (humantime would write 60 days as `1month 29days 13h 26m 24s`).
pub fn seconds(secs: u64) -> String {
    for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60)] {
        if secs >= size && secs % size == 0 {
            return format!("{}{unit}", secs / size);
        }
    }
    format!("{secs}s")
}

/// The time field `key` of a JSON object.
pub fn time_field(object: &Value, key: &str) -> String {
    time(object.get(key).and_then(Value::as_i64))
}

/// The string field `key` of a JSON object; `-` when missing or empty.
pub fn text_field(object: &Value, key: &str) -> String {
    match object.get(key) {
        Some(Value::String(text)) if !text.is_empty() => text.clone(),
        Some(Value::Bool(flag)) => flag.to_string(),
        Some(Value::Number(number)) => number.to_string(),
        _ => "-".to_owned(),
    }
}

/// At most `max` characters of `text`, an ellipsis marking a cut.
pub fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// The elements of a JSON array answer.
pub fn array(value: &Value) -> Result<&[Value], CliError> {
    value
        .as_array()
        .map(Vec::as_slice)
        .ok_or_else(|| CliError::Other(anyhow::anyhow!("expected a JSON array, got {value}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_aligned_without_trailing_blanks() {
        let mut table = Table::new(&["ID", "NAME", "X"]);
        table.row(vec!["1".into(), "long name".into(), String::new()]);
        table.row(vec!["22".into(), "a".into(), "b".into()]);
        assert_eq!(
            table.render(),
            "ID  NAME       X\n1   long name\n22  a          b\n"
        );
    }

    #[test]
    fn times_are_rfc3339_utc() {
        assert_eq!(time(Some(0)), "1970-01-01T00:00:00Z");
        assert_eq!(time(Some(1_700_000_000)), "2023-11-14T22:13:20Z");
        assert_eq!(time(None), "-");
        assert_eq!(time(Some(-5)), "-5");
    }

    #[test]
    fn seconds_use_the_largest_exact_unit() {
        assert_eq!(seconds(5_184_000), "60d");
        assert_eq!(seconds(43_200), "12h");
        assert_eq!(seconds(5_400), "90m");
        assert_eq!(seconds(1_801), "1801s");
        assert_eq!(seconds(0), "0s");
    }

    #[test]
    fn long_text_is_cut_with_an_ellipsis() {
        assert_eq!(truncate("abcdef", 4), "abc…");
        assert_eq!(truncate("abc", 4), "abc");
    }
}
