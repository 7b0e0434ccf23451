//! `[admin]`: the admin API keys and the import body limit; and their validation.

use std::path::Path;

use serde::Serialize;

use super::{ConfigError, Secret, raw};

/// `admin.import_max_bytes`: 64 MiB by default (about 100,000 exported users); 1 KiB ..= 1 GiB.
const IMPORT_MAX_BYTES_DEFAULT: usize = 64 * 1024 * 1024;
const IMPORT_MAX_BYTES_MIN: usize = 1024;
const IMPORT_MAX_BYTES_MAX: usize = 1024 * 1024 * 1024;

#[derive(Debug, Clone, Serialize)]
pub struct AdminConfig {
    /// The key named `default` (`api_key_file` / `SESSIONGATE_ADMIN__API_KEY`). With no key at
    /// all the admin API refuses every call (health and metrics stay open).
    pub api_key: Option<Secret>,
    /// `[[admin.keys]]`: more keys, each with its name (rotation without downtime).
    pub keys: Vec<NamedAdminKey>,
    /// Body limit of `POST users/import` (an App Services export), larger than the own
    /// endpoints' `server.max_body_bytes`.
    pub import_max_bytes: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct NamedAdminKey {
    pub name: String,
    pub key: Secret,
}

/// The name of the admin key given by `admin.api_key_file` / `SESSIONGATE_ADMIN__API_KEY`.
pub const DEFAULT_ADMIN_KEY_NAME: &str = "default";

/// `[[admin.keys]]`: names unique, not `default`, of letters, digits, `-`, `_`; each key file readable and at
/// least 16 bytes.
fn admin_keys(raw: Vec<raw::RawNamedAdminKey>) -> Result<Vec<NamedAdminKey>, ConfigError> {
    let mut keys: Vec<NamedAdminKey> = Vec::with_capacity(raw.len());
    for (index, entry) in raw.into_iter().enumerate() {
        let at = |field: &str| format!("admin.keys[{index}].{field}");
        let name = entry.name.trim().to_owned();
        let valid = !name.is_empty()
            && name.len() <= 64
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'));
        if !valid {
            return Err(ConfigError::new(
                at("name"),
                "must be 1 to 64 letters, digits, '-' or '_'",
            ));
        }
        if name == DEFAULT_ADMIN_KEY_NAME || keys.iter().any(|k| k.name == name) {
            return Err(ConfigError::new(
                at("name"),
                format!("{name:?} is used twice (\"default\" is admin.api_key_file's)"),
            ));
        }
        let key = Secret::from_file(Path::new(&entry.key_file))
            .map_err(|reason| ConfigError::new(at("key_file"), reason))?;
        if key.expose().len() < 16 {
            return Err(ConfigError::new(at("key_file"), "is shorter than 16 bytes"));
        }
        keys.push(NamedAdminKey { name, key });
    }
    Ok(keys)
}

pub(super) fn validate(raw: raw::RawAdmin) -> Result<AdminConfig, ConfigError> {
    let admin = AdminConfig {
        api_key: match (raw.api_key, raw.api_key_file) {
            (Some(key), _) if !key.trim().is_empty() => Some(Secret::new(key.trim())),
            (_, Some(file)) => Some(
                Secret::from_file(Path::new(&file))
                    .map_err(|reason| ConfigError::new("admin.api_key_file", reason))?,
            ),
            _ => None,
        },
        keys: admin_keys(raw.keys)?,
        import_max_bytes: raw.import_max_bytes.unwrap_or(IMPORT_MAX_BYTES_DEFAULT),
    };
    if !(IMPORT_MAX_BYTES_MIN..=IMPORT_MAX_BYTES_MAX).contains(&admin.import_max_bytes) {
        return Err(ConfigError::new(
            "admin.import_max_bytes",
            format!("must be between {IMPORT_MAX_BYTES_MIN} and {IMPORT_MAX_BYTES_MAX}"),
        ));
    }
    if let Some(key) = &admin.api_key {
        if key.expose().len() < 16 {
            return Err(ConfigError::new(
                "admin.api_key",
                "is shorter than 16 bytes",
            ));
        }
    }
    Ok(admin)
}
