//! The `SESSIONGATE_<SECTION>__<KEY>` environment overlay over the TOML table.
//!
//! The environment is passed in as a map so tests never mutate the process environment.
//! Values are inserted as strings; `raw` accepts strings for numbers and booleans.

use std::collections::BTreeMap;

/// Prefix of every environment override.
pub const PREFIX: &str = "SESSIONGATE_";

/// Environment variables that are not config keys (test settings, log filters).
const NOT_CONFIG: &[&str] = &[
    "SESSIONGATE_TEST_POSTGRES_URL",
    "SESSIONGATE_LOG",
    "SESSIONGATE_USER_PASSWORD",
];

/// Overlays every `SESSIONGATE_A__B__C=value` onto `table` as `a.b.c = "value"`.
///
/// Returns the dotted key of an override that cannot be placed (its parent is not a table).
pub fn overlay(table: &mut toml::Table, env: &BTreeMap<String, String>) -> Result<(), String> {
    for (name, value) in env {
        let Some(rest) = name.strip_prefix(PREFIX) else {
            continue;
        };
        if NOT_CONFIG.contains(&name.as_str()) || rest.is_empty() {
            continue;
        }
        let path: Vec<String> = rest.split("__").map(str::to_ascii_lowercase).collect();
        insert(table, &path, value)?;
    }
    Ok(())
}

fn insert(table: &mut toml::Table, path: &[String], value: &str) -> Result<(), String> {
    let (last, parents) = path.split_last().expect("split of a non-empty name");
    let mut current = table;
    for (depth, key) in parents.iter().enumerate() {
        let entry = current
            .entry(key.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        current = entry
            .as_table_mut()
            .ok_or_else(|| format!("{}: is not a section", path[..=depth].join(".")))?;
    }
    current.insert(last.clone(), toml::Value::String(value.to_owned()));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn nested_keys_are_lowercased_and_placed() {
        let mut table: toml::Table = toml::from_str("[upstream]\nurl = \"http://a\"").unwrap();
        overlay(
            &mut table,
            &env(&[
                ("SESSIONGATE_UPSTREAM__URL", "http://b"),
                ("SESSIONGATE_SERVER__TLS__CERT_FILE", "c.pem"),
                ("UNRELATED", "x"),
                ("SESSIONGATE_TEST_POSTGRES_URL", "postgres://x"),
            ]),
        )
        .unwrap();
        assert_eq!(table["upstream"]["url"].as_str(), Some("http://b"));
        assert_eq!(table["server"]["tls"]["cert_file"].as_str(), Some("c.pem"));
        assert!(!table.contains_key("test_postgres_url"));
    }

    #[test]
    fn override_below_a_value_is_refused_with_its_key() {
        let mut table: toml::Table = toml::from_str("[app]\nid = \"x\"").unwrap();
        let err = overlay(&mut table, &env(&[("SESSIONGATE_APP__ID__DEEP", "y")])).unwrap_err();
        assert_eq!(err, "app.id: is not a section");
    }
}
