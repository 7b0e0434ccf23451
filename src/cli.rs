//! The command line: clap types and dispatch to one file per subcommand.

mod config_check;
mod serve;

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::config::{ConfigError, DEFAULT_PATH};

#[derive(Debug, Parser)]
#[command(
    name = "sessiongate",
    version,
    about = "Authentication gateway for App Services clients"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gateway.
    Serve {
        /// Config file.
        #[arg(long, default_value = DEFAULT_PATH)]
        config: PathBuf,
    },
    /// Inspect the configuration.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate the config and print the effective values, secrets masked.
    Check {
        #[arg(long, default_value = DEFAULT_PATH)]
        config: PathBuf,
    },
}

/// A command's failure, with the exit code scripts can rely on.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Invalid configuration: exit 78 (EX_CONFIG).
    #[error("{0}")]
    Config(#[from] ConfigError),
    /// Anything else: exit 1.
    #[error("{0:#}")]
    Other(#[from] anyhow::Error),
}

impl CliError {
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Config(_) => 78,
            CliError::Other(_) => 1,
        }
    }
}

/// Runs the parsed command.
pub async fn run(cli: Cli) -> Result<(), CliError> {
    let env = process_env();
    match cli.command {
        Command::Serve { config } => serve::run(&config, &env).await,
        Command::Config {
            command: ConfigCommand::Check { config },
        } => config_check::run(&config, &env),
    }
}

/// The process environment as a map (non-UTF-8 variables are skipped). The only place the
/// environment is read; everything below takes the map.
fn process_env() -> BTreeMap<String, String> {
    std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect()
}
