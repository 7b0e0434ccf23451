//! The command line: clap types and dispatch to one file per subcommand.
//!
//! `serve`, `config check`, `migrate` and `backup` work on a config file (the last two on its
//! store, with the gateway running or not). Every other command is an admin command:
//! it talks to a running gateway's admin API over HTTP (`cli/admin_client.rs`), so it works
//! the same for one instance or many replicas on one store. Each admin command group owns its
//! arguments and output in its own file (`cli/users.rs`, `sessions.rs`, `grants.rs`,
//! `token.rs`, `keys.rs`, `security.rs`); the options they share are [`AdminArgs`].
//!
//! # Exit codes
//!
//! [`CliError::exit_code`] is the one place an outcome becomes an exit code:
//!
//! | code | meaning |
//! | --- | --- |
//! | 0 | success |
//! | 1 | the gateway answered an error (4xx/5xx; its `error` and `error_code` go to stderr), or one of several users failed |
//! | 2 | usage error (clap's own, or a missing password) |
//! | 3 | `token verify`: the token has expired |
//! | 4 | `token verify`: the token is invalid (bad signature, malformed, foreign) |
//! | 69 | EX_UNAVAILABLE: the gateway cannot be reached (connect failed or no answer in time); `serve`, `migrate`, `backup`: the store cannot be opened |
//! | 73 | EX_CANTCREAT: `backup`: the target exists or cannot be written |
//! | 77 | EX_NOPERM: no admin key, or the gateway refused it (401) |
//! | 78 | EX_CONFIG: invalid configuration; `serve`, `migrate`: the store was migrated by a newer release (restarting cannot help) |
//! | 130, 143 | `serve`: a second SIGINT (130) or SIGTERM (143) during the graceful shutdown: exited at once |

mod admin_client;
mod backup;
mod config_check;
mod grants;
mod keys;
mod migrate;
mod output;
mod security;
mod serve;
mod sessions;
mod token;
mod users;

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use url::Url;

use crate::config::{ConfigError, DEFAULT_PATH};
use crate::store::{BackupError, StoreError};

/// The exit code table, shown after `sessiongate --help`.
const EXIT_CODES: &str = "\
Exit codes:
  0   success
  1   the gateway answered an error (its error and error_code are printed on stderr),
      or one of several users (--user=A,B) failed
  2   usage error (also: backup of a PostgreSQL store, which is pg_dump's job)
  3   token verify: the token has expired
  4   token verify: the token is invalid
  69  the gateway or the store cannot be reached (EX_UNAVAILABLE)
  73  backup: the target exists or cannot be written (EX_CANTCREAT)
  77  admin key missing or refused (EX_NOPERM)
  78  invalid configuration, or a store migrated by a newer release (EX_CONFIG)";

#[derive(Debug, Parser)]
#[command(
    name = "sessiongate",
    version,
    about = "Authentication gateway for App Services clients",
    after_help = EXIT_CODES
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
    /// Apply the store's pending schema migrations (`serve` applies them too).
    Migrate {
        /// List the pending migrations; change nothing.
        #[arg(long)]
        dry_run: bool,
        #[arg(long, default_value = DEFAULT_PATH)]
        config: PathBuf,
    },
    /// Copy the SQLite store while the gateway runs: consistent, verified, created 0600.
    Backup {
        /// Where to write the copy (must not exist).
        #[arg(long, value_name = "PATH")]
        to: PathBuf,
        #[arg(long, default_value = DEFAULT_PATH)]
        config: PathBuf,
    },
    /// Manage users: list, create, revoke sessions, delete, enable, disable, import.
    Users {
        #[command(flatten)]
        admin: AdminArgs,
        #[command(subcommand)]
        command: users::Command,
    },
    /// List or revoke a user's sessions.
    Sessions {
        #[command(flatten)]
        admin: AdminArgs,
        #[command(subcommand)]
        command: sessions::Command,
    },
    /// Mint one-time login grants.
    Grants {
        #[command(flatten)]
        admin: AdminArgs,
        #[command(subcommand)]
        command: grants::Command,
    },
    /// Check access tokens.
    Token {
        #[command(flatten)]
        admin: AdminArgs,
        #[command(subcommand)]
        command: token::Command,
    },
    /// List or rotate the token signing keys.
    Keys {
        #[command(flatten)]
        admin: AdminArgs,
        #[command(subcommand)]
        command: keys::Command,
    },
    /// Security settings shared by every replica.
    Security {
        #[command(flatten)]
        admin: AdminArgs,
        #[command(subcommand)]
        command: security::Command,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate the config (and the files it names) and print the effective values, secrets
    /// masked.
    Check {
        #[arg(long, default_value = DEFAULT_PATH)]
        config: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        format: config_check::Format,
    },
}

/// Options shared by every admin command. What is not given comes from the config file.
#[derive(Debug, Clone, Args)]
pub struct AdminArgs {
    /// Base URL of the admin listener [default: http:// + server.admin_listen of the config
    /// file, else http://127.0.0.1:8081].
    #[arg(long, global = true, value_name = "URL", value_parser = parse_base_url)]
    pub url: Option<Url>,
    /// Admin API key [default: env SESSIONGATE_ADMIN__API_KEY, else admin.api_key_file of the
    /// config file]. Prefer the environment: arguments are visible in the process list.
    #[arg(long, global = true, value_name = "KEY")]
    pub admin_key: Option<String>,
    /// Config file, read only for the defaults of --url, --admin-key and --app.
    #[arg(long, global = true, value_name = "PATH", default_value = DEFAULT_PATH)]
    pub config: PathBuf,
    /// App id [default: app.id of the config file].
    #[arg(long, global = true, value_name = "ID")]
    pub app: Option<String>,
    /// Group id of the admin API path (accepted as given by the gateway).
    #[arg(long, global = true, value_name = "ID", default_value = "default")]
    pub group: String,
    /// Print the gateway's raw JSON answer instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
}

fn parse_base_url(text: &str) -> Result<Url, String> {
    let url = Url::parse(text).map_err(|err| format!("{text:?} is not a URL: {err}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(format!("{text:?}: expected an http:// or https:// URL"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!("{text:?}: a base URL takes no query or fragment"));
    }
    Ok(url)
}

/// A command's failure, with the exit code scripts can rely on (see the module doc).
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// A usage error clap cannot see (a missing password): exit 2.
    #[error("{0}")]
    Usage(String),
    /// Invalid configuration: exit 78 (EX_CONFIG).
    #[error("{0}")]
    Config(#[from] ConfigError),
    /// The gateway could not be reached or did not answer: exit 69 (EX_UNAVAILABLE).
    #[error("{0:#}")]
    Unavailable(anyhow::Error),
    /// No admin key, or the gateway refused it: exit 77 (EX_NOPERM).
    #[error("{0}")]
    NoPermission(String),
    /// The gateway answered an error: exit 1.
    #[error("{}", api_message(*.status, .error, .error_code.as_deref()))]
    Api {
        status: u16,
        error: String,
        error_code: Option<String>,
    },
    /// Some of several per-user calls failed (each was reported): exit 1.
    #[error("{failed} of {total} users failed")]
    Partial { failed: usize, total: usize },
    /// `token verify`: the token has expired: exit 3.
    #[error("token expired")]
    TokenExpired,
    /// `token verify`: the token is invalid: exit 4.
    #[error("token invalid: {0}")]
    TokenInvalid(String),
    /// `serve` could not start: exit 78 for a bad TLS or signing key file, 69 when the store
    /// cannot be opened, 71 (EX_OSERR) when a listener cannot bind.
    #[error("cannot start: {0}")]
    Start(#[from] crate::app::StartError),
    /// `migrate`: 69 when the store cannot be opened, 78 when it is newer than this binary.
    #[error("store.url: {0}")]
    Store(#[from] crate::store::StoreError),
    /// `backup`: 2 for a store it cannot copy (PostgreSQL, in memory), 73 when the target
    /// exists or cannot be written, 69 when the store cannot be opened, 1 when the copy
    /// failed verification.
    #[error("backup failed: {0}")]
    Backup(#[from] crate::store::BackupError),
    /// Anything else: exit 1.
    #[error("{0:#}")]
    Other(#[from] anyhow::Error),
}

fn api_message(status: u16, error: &str, error_code: Option<&str>) -> String {
    match error_code {
        Some(code) => format!("gateway answered {status}: {error} ({code})"),
        None => format!("gateway answered {status}: {error}"),
    }
}

impl CliError {
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Api { .. } | CliError::Partial { .. } | CliError::Other(_) => 1,
            CliError::Usage(_) => 2,
            CliError::TokenExpired => 3,
            CliError::TokenInvalid(_) => 4,
            CliError::Unavailable(_) => 69,
            CliError::NoPermission(_) => 77,
            CliError::Config(_) => 78,
            CliError::Start(err) => match err {
                crate::app::StartError::Tls(_)
                | crate::app::StartError::Keys(crate::tokens::KeyError::BadKey(_)) => 78,
                crate::app::StartError::Store(err) => store_exit_code(err),
                crate::app::StartError::Keys(_) => 69,
                crate::app::StartError::Bind { .. } => 71,
            },
            CliError::Store(err) => store_exit_code(err),
            CliError::Backup(err) => match err {
                BackupError::Postgres | BackupError::InMemory => 2,
                BackupError::Exists(_) | BackupError::Write { .. } => 73,
                BackupError::NoStore(_) => 69,
                BackupError::Store(err) => store_exit_code(err),
                BackupError::Verify(_) => 1,
            },
        }
    }
}

/// A store that cannot be opened is unavailable (69: a retry may succeed); one migrated by a
/// newer release is a permanent mismatch (78: only the operator can fix it, so supervisors
/// should not restart in a loop).
fn store_exit_code(err: &StoreError) -> u8 {
    match err {
        StoreError::SchemaTooNew { .. } => 78,
        _ => 69,
    }
}

/// Environment variables the command line reads that are not config keys. They are taken out
/// of the map before anything reaches `config::load`, whose overlay would refuse them.
const USER_PASSWORD_ENV: &str = "SESSIONGATE_USER_PASSWORD";

/// Runs the parsed command.
pub async fn run(cli: Cli) -> Result<(), CliError> {
    let mut env = process_env();
    let user_password = env.remove(USER_PASSWORD_ENV);
    match cli.command {
        Command::Serve { config } => serve::run(&config, &env).await,
        Command::Config {
            command: ConfigCommand::Check { config, format },
        } => config_check::run(&config, &env, format),
        Command::Migrate { dry_run, config } => migrate::run(&config, &env, dry_run).await,
        Command::Backup { to, config } => backup::run(&config, &env, &to).await,
        Command::Users { admin, command } => users::run(&admin, &env, command, user_password).await,
        Command::Sessions { admin, command } => sessions::run(&admin, &env, command).await,
        Command::Grants { admin, command } => grants::run(&admin, &env, command).await,
        Command::Token { admin, command } => token::run(&admin, &env, command).await,
        Command::Keys { admin, command } => keys::run(&admin, &env, command).await,
        Command::Security { admin, command } => security::run(&admin, &env, command).await,
    }
}

/// All of stdin (a password or token piped in), for `what` in the error message.
fn read_stdin(what: &str) -> Result<String, CliError> {
    let mut text = String::new();
    std::io::Read::read_to_string(&mut std::io::stdin().lock(), &mut text)
        .map_err(|err| CliError::Usage(format!("cannot read the {what} from stdin: {err}")))?;
    Ok(text)
}

/// The process environment as a map (non-UTF-8 variables are skipped). The only place the
/// environment is read; everything below takes the map.
fn process_env() -> BTreeMap<String, String> {
    std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect()
}

#[cfg(test)]
mod tests;
