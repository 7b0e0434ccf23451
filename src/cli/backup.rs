//! `sessiongate backup --to PATH`: a consistent, verified copy of the SQLite store, taken while
//! the gateway runs (see `store::backup`). PostgreSQL is refused with a pointer to `pg_dump`.

use std::collections::BTreeMap;
use std::path::Path;

use super::CliError;
use crate::{config, store, telemetry};

pub async fn run(
    config_path: &Path,
    env: &BTreeMap<String, String>,
    to: &Path,
) -> Result<(), CliError> {
    let config = config::load(config_path, env)?;
    telemetry::init(config.log.format, &config.log.level);
    let options = store::Options {
        timeout: config.store.timeout,
    };
    let backup = store::backup(&config.store.url, to, &options).await?;
    println!(
        "backup written to {} (schema version {}, {} users, {} sessions, {} bytes)",
        backup.path.display(),
        backup.schema_version,
        backup.users,
        backup.sessions,
        backup.bytes
    );
    Ok(())
}
