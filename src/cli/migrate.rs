//! `sessiongate migrate`: apply the store's pending migrations (what `serve` does at start),
//! or with `--dry-run` list them and change nothing. A store migrated by a newer release is
//! refused either way (exit 78).

use std::collections::BTreeMap;
use std::path::Path;

use super::CliError;
use crate::{config, store, telemetry};

pub async fn run(
    config_path: &Path,
    env: &BTreeMap<String, String>,
    dry_run: bool,
) -> Result<(), CliError> {
    let config = config::load(config_path, env)?;
    telemetry::init(config.log.format, &config.log.level);
    let options = store::Options {
        timeout: config.store.timeout,
    };
    let status = store::migrate(&config.store.url, options, dry_run).await?;
    let store_url = config::mask_urls(&config.store.url);
    if status.pending.is_empty() {
        println!(
            "{store_url}: schema version {} is current; no pending migrations",
            status.version()
        );
        return Ok(());
    }
    let verb = if dry_run { "would apply" } else { "applied" };
    println!(
        "{store_url}: schema version {}; {verb} {} migration(s):",
        status.version(),
        status.pending.len()
    );
    for (version, description) in &status.pending {
        // As the file is named: `0002_key_activation`.
        println!("  {version} {version:04}_{}", description.replace(' ', "_"));
    }
    if !dry_run {
        println!("schema version {} is current", status.known);
    }
    Ok(())
}
