//! The effective config as `sessiongate config check` prints it (JSON or TOML, secrets masked),
//! and its fingerprint: the `config_hash` label of `sessiongate_build_info`.
//!
//! Does not validate anything; it renders a `Config` that `load` already accepted.

use sha2::{Digest, Sha256};

use super::{Config, mask_json};

/// Hex digits of the SHA-256 kept in a fingerprint: 48 bits, plenty to tell configs apart.
const FINGERPRINT_LEN: usize = 12;

/// The effective config could not be rendered (not expected for a loaded config).
#[derive(Debug, thiserror::Error)]
#[error("cannot print the config: {0}")]
pub struct RenderError(String);

impl Config {
    /// The effective config as JSON: every key, durations as written (`30m`), secrets `***`,
    /// passwords inside URLs masked.
    pub fn masked_json(&self) -> Result<serde_json::Value, RenderError> {
        let mut value = serde_json::to_value(self).map_err(|err| RenderError(err.to_string()))?;
        mask_json(&mut value);
        Ok(value)
    }

    /// The effective config as TOML, exactly what `config check --format toml` prints (ends
    /// with one newline): [`Config::masked_json`] without the unset keys (TOML has no null).
    pub fn effective_toml(&self) -> Result<String, RenderError> {
        let table = toml_value(self.masked_json()?)
            .ok_or_else(|| RenderError("the config is not a table".to_owned()))?;
        let text = toml::to_string_pretty(&table).map_err(|err| RenderError(err.to_string()))?;
        Ok(format!("{}\n", text.trim_end()))
    }

    /// A short fingerprint of the effective config: the first 12 hex digits of the SHA-256 of
    /// [`Config::effective_toml`], so `sessiongate config check --format toml | sha256sum`
    /// starts with it (given the same environment).
    ///
    /// # Security
    /// Secrets are masked before hashing: the fingerprint reveals nothing about them, and so
    /// does not change when only a secret (admin key, signing key) changes.
    pub fn fingerprint(&self) -> String {
        // A loaded config always renders; were it not to, the masked JSON still identifies it.
        let text = self
            .effective_toml()
            .or_else(|_| self.masked_json().map(|json| json.to_string()))
            .unwrap_or_default();
        let digest = hex::encode(Sha256::digest(text.as_bytes()));
        digest[..FINGERPRINT_LEN].to_owned()
    }
}

/// A JSON value as TOML: `null` (an unset option) is left out, since TOML has no null.
fn toml_value(value: serde_json::Value) -> Option<toml::Value> {
    use serde_json::Value as Json;
    Some(match value {
        Json::Null => return None,
        Json::Bool(flag) => toml::Value::Boolean(flag),
        Json::Number(number) => match number.as_i64() {
            Some(int) => toml::Value::Integer(int),
            None => toml::Value::Float(number.as_f64()?),
        },
        Json::String(text) => toml::Value::String(text),
        Json::Array(items) => {
            toml::Value::Array(items.into_iter().filter_map(toml_value).collect())
        }
        Json::Object(fields) => toml::Value::Table(
            fields
                .into_iter()
                .filter_map(|(key, value)| Some((key, toml_value(value)?)))
                .collect(),
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_becomes_toml_without_nulls() {
        let json = serde_json::json!({
            "a": {"b": null, "c": "30m", "d": [1, 2]},
            "routes": [{"prefix": "/x", "upstream": null}],
        });
        let Some(toml::Value::Table(table)) = toml_value(json) else {
            panic!("a table");
        };
        let text = toml::to_string_pretty(&table).unwrap();
        let back: toml::Table = toml::from_str(&text).unwrap();
        assert_eq!(back["a"]["c"].as_str(), Some("30m"));
        assert!(back["a"].get("b").is_none());
        assert_eq!(back["routes"][0]["prefix"].as_str(), Some("/x"));
    }

    fn config(text: &str, admin_key: &str) -> Config {
        let env = [(
            "SESSIONGATE_ADMIN__API_KEY".to_owned(),
            admin_key.to_owned(),
        )]
        .into_iter()
        .collect();
        super::super::from_toml_str(text, &env, std::path::Path::new(".")).unwrap()
    }

    #[test]
    fn fingerprint_follows_the_config_but_not_its_secrets() {
        let base = "[app]\nid = \"myapp-abcde\"\n";
        let with_route = format!("{base}[[routes]]\nprefix = \"/public\"\nauth = \"none\"\n");
        let key = "admin-key-0123456789-abcdefghij";
        let other_key = "another-admin-key-0123456789-xyz";

        let first = config(base, key).fingerprint();
        assert_eq!(first.len(), FINGERPRINT_LEN);
        assert!(first.bytes().all(|b| b.is_ascii_hexdigit()), "{first}");
        assert_eq!(config(base, key).fingerprint(), first, "stable");
        assert_ne!(
            config(&with_route, key).fingerprint(),
            first,
            "a route changes it"
        );
        assert_eq!(
            config(base, other_key).fingerprint(),
            first,
            "a secret is masked before hashing"
        );
        let printed = config(base, key).effective_toml().unwrap();
        assert!(!printed.contains(key), "{printed}");
        assert!(
            first.starts_with(&hex::encode(Sha256::digest(printed.as_bytes()))[..FINGERPRINT_LEN])
        );
    }
}
