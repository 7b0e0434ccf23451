//! The config text before it is typed: TOML syntax errors with their position, and secrets
//! written into the file itself refused.

use super::ConfigError;

/// A TOML syntax error with where it is: `invalid TOML at line 3, column 7: …`.
pub(super) fn toml_error(text: &str, err: &toml::de::Error) -> ConfigError {
    let message = err
        .message()
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join(": ");
    let message = if message.is_empty() {
        "invalid TOML".to_owned()
    } else {
        message
    };
    let Some(span) = err.span() else {
        return ConfigError::new("config", format!("invalid TOML: {message}"));
    };
    let before = text.get(..span.start).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    ConfigError::new(
        "config",
        format!("invalid TOML at line {line}, column {column}: {message}"),
    )
}

pub(super) fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or_default().to_owned()
}

/// Secrets may come from a file or the environment, never from the TOML file itself.
pub(super) fn refuse_inline_secrets(table: &toml::Table) -> Result<(), ConfigError> {
    for (section, key, alternative) in [
        (
            "admin",
            "api_key",
            "admin.api_key_file or SESSIONGATE_ADMIN__API_KEY",
        ),
        (
            "tokens",
            "signing_key",
            "tokens.signing_key_file or SESSIONGATE_TOKENS__SIGNING_KEY",
        ),
        (
            "events",
            "secret",
            "events.secret_file or SESSIONGATE_EVENTS__SECRET",
        ),
    ] {
        let present = table
            .get(section)
            .and_then(toml::Value::as_table)
            .is_some_and(|t| t.contains_key(key));
        if present {
            return Err(ConfigError::new(
                format!("{section}.{key}"),
                format!("secrets are not read from the config file; use {alternative}"),
            ));
        }
    }
    let providers = table.get("providers").and_then(toml::Value::as_table);
    for (section, env) in [
        ("oauth2_google", "OAUTH2_GOOGLE"),
        ("oauth2_apple", "OAUTH2_APPLE"),
    ] {
        let present = providers
            .and_then(|p| p.get(section))
            .and_then(toml::Value::as_table)
            .is_some_and(|t| t.contains_key("client_secret"));
        if present {
            return Err(ConfigError::new(
                format!("providers.{section}.client_secret"),
                format!(
                    "secrets are not read from the config file; use \
                     providers.{section}.client_secret_file or \
                     SESSIONGATE_PROVIDERS__{env}__CLIENT_SECRET"
                ),
            ));
        }
    }
    let generic = providers
        .and_then(|p| p.get("oidc"))
        .and_then(toml::Value::as_array);
    for (index, entry) in generic.into_iter().flatten().enumerate() {
        if entry
            .as_table()
            .is_some_and(|t| t.contains_key("client_secret"))
        {
            return Err(ConfigError::new(
                format!("providers.oidc[{index}].client_secret"),
                "secrets are not read from the config file; use client_secret_file",
            ));
        }
    }
    Ok(())
}
