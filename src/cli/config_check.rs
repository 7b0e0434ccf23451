//! `sessiongate config check`: validate and print the effective config, secrets masked.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;

use super::CliError;
use crate::config;

pub fn run(path: &Path, env: &BTreeMap<String, String>) -> Result<(), CliError> {
    let config = config::load(path, env)?;
    let text = serde_json::to_string_pretty(&config).context("cannot print the config")?;
    println!("{text}");
    Ok(())
}
