//! `sessiongate config check`: validate and print the effective config, secrets masked (key
//! material as `***`, and the password inside any URL: `postgres://user:***@host/db`).

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;

use super::CliError;
use crate::config;

pub fn run(path: &Path, env: &BTreeMap<String, String>) -> Result<(), CliError> {
    let config = config::load(path, env)?;
    let mut value = serde_json::to_value(&config).context("cannot print the config")?;
    config::mask_json(&mut value);
    let text = serde_json::to_string_pretty(&value).context("cannot print the config")?;
    println!("{text}");
    Ok(())
}
