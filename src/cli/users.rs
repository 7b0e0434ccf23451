//! `sessiongate users list|create|revoke|delete|enable|disable`, like the App Services CLI,
//! and `users import FILE` (an App Services `GET users` export, ids kept).
//!
//! Commands taking `--user=ID1,ID2` call the gateway once per user, report each, and fail
//! (exit 1) if any failed; a refused key or an unreachable gateway stops them at once, as it
//! would fail every call alike.

mod each;
mod import;

use std::collections::BTreeMap;

use clap::{Args, Subcommand};
use http::Method;
use serde_json::{Value, json};

use self::each::{Action, for_each};
use self::import::import;
use super::admin_client::AdminClient;
use super::output::{self, Table};
use super::{AdminArgs, CliError, USER_PASSWORD_ENV, read_stdin};

/// The page size the gateway uses when `--limit` is not given.
const DEFAULT_PAGE: usize = 100;

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List users, ordered by id; pass the last id as --after for the next page.
    List {
        /// Only users with an identity of this provider (e.g. local-userpass, anon-user).
        #[arg(long, value_name = "PROVIDER")]
        provider: Option<String>,
        /// Only the user with this email.
        #[arg(long, value_name = "EMAIL")]
        email: Option<String>,
        /// Start after this user id.
        #[arg(long, value_name = "ID")]
        after: Option<String>,
        /// Page size, 1..=1000 [default: 100].
        #[arg(long, value_name = "N")]
        limit: Option<u32>,
    },
    /// Create a confirmed email/password user.
    ///
    /// The password comes from --password, --password-stdin, or the environment variable
    /// SESSIONGATE_USER_PASSWORD; the last two keep it out of the process list.
    Create {
        /// The user's email, their login name.
        #[arg(long, value_name = "EMAIL")]
        email: String,
        /// The password (visible in the process list; prefer --password-stdin).
        #[arg(long, value_name = "PASSWORD", conflicts_with = "password_stdin")]
        password: Option<String>,
        /// Read the password from stdin (one trailing newline is dropped).
        #[arg(long)]
        password_stdin: bool,
    },
    /// Revoke every session of each user.
    Revoke(Users),
    /// Delete each user (their sessions are revoked first).
    Delete(Users),
    /// Enable each user.
    Enable(Users),
    /// Disable each user (their sessions are revoked).
    Disable(Users),
    /// Import users with their ids from an App Services export: the JSON array its Admin
    /// API's `GET users` answers (optionally with `password_hash` per user). Safe to re-run:
    /// users that exist identically are skipped. Either every entry is imported or none.
    Import {
        /// The export file (JSON array of users).
        #[arg(value_name = "FILE")]
        file: std::path::PathBuf,
    },
}

#[derive(Debug, Args)]
pub struct Users {
    /// User ids, comma-separated (--user=ID1,ID2) or repeated.
    #[arg(
        long = "user",
        value_name = "ID",
        required = true,
        value_delimiter = ','
    )]
    ids: Vec<String>,
}

impl Command {
    /// The users a multi-user command acts on.
    pub fn user_ids(&self) -> Option<&[String]> {
        match self {
            Command::Revoke(users)
            | Command::Delete(users)
            | Command::Enable(users)
            | Command::Disable(users) => Some(&users.ids),
            Command::List { .. } | Command::Create { .. } | Command::Import { .. } => None,
        }
    }
}

pub async fn run(
    args: &AdminArgs,
    env: &BTreeMap<String, String>,
    command: Command,
    env_password: Option<String>,
) -> Result<(), CliError> {
    // Local input (the password, the export file) is read before the gateway is asked anything.
    let ready = Ready::read(command, env_password)?;
    let client = AdminClient::new(args, env)?;
    match ready {
        Ready::List { query, limit } => {
            let users = client
                .request(Method::GET, &["users"], &query, None)
                .await?
                .into_result()?;
            if args.json {
                return output::json(&users);
            }
            let users = output::array(&users)?;
            output::print(&users_table(users))?;
            let page = limit.map_or(DEFAULT_PAGE, |n| n as usize);
            if let Some(last) = users.last().filter(|_| users.len() >= page) {
                eprintln!(
                    "more users may follow: --after {}",
                    output::text_field(last, "_id")
                );
            }
            Ok(())
        }
        Ready::Create { email, password } => {
            let body = json!({ "email": email, "password": password });
            let user = client.call(Method::POST, &["users"], Some(&body)).await?;
            if args.json {
                return output::json(&user);
            }
            output::line(&format!(
                "created user {} ({})",
                output::text_field(&user, "_id"),
                email_of(&user)
            ))
        }
        Ready::Import(export) => import(&client, args.json, export).await,
        Ready::Each(ids, action) => for_each(&client, args.json, &ids, action).await,
    }
}

/// A command with its local input read: what is left is to ask the gateway.
enum Ready {
    List {
        query: Vec<(&'static str, String)>,
        limit: Option<u32>,
    },
    Create {
        email: String,
        password: String,
    },
    Import(Vec<u8>),
    Each(Vec<String>, Action),
}

impl Ready {
    fn read(command: Command, env_password: Option<String>) -> Result<Self, CliError> {
        Ok(match command {
            Command::List {
                provider,
                email,
                after,
                limit,
            } => Ready::List {
                query: [
                    ("provider", provider),
                    ("email", email),
                    ("after", after),
                    ("limit", limit.map(|n| n.to_string())),
                ]
                .into_iter()
                .filter_map(|(key, value)| Some((key, value?)))
                .collect(),
                limit,
            },
            Command::Create {
                email,
                password,
                password_stdin,
            } => Ready::Create {
                password: password_from(password, password_stdin, env_password)?,
                email,
            },
            Command::Import { file } => Ready::Import(std::fs::read(&file).map_err(|err| {
                CliError::Usage(format!("cannot read {}: {err}", file.display()))
            })?),
            Command::Revoke(users) => Ready::Each(users.ids, Action::Revoke),
            Command::Delete(users) => Ready::Each(users.ids, Action::Delete),
            Command::Enable(users) => Ready::Each(users.ids, Action::Enable),
            Command::Disable(users) => Ready::Each(users.ids, Action::Disable),
        })
    }
}

/// The password of `users create`: the argument, stdin, or the environment, in that order.
fn password_from(
    argument: Option<String>,
    stdin: bool,
    env: Option<String>,
) -> Result<String, CliError> {
    let password = if let Some(password) = argument {
        password
    } else if stdin {
        let text = read_stdin("password")?;
        let trimmed = text
            .strip_suffix('\n')
            .map(|t| t.strip_suffix('\r').unwrap_or(t))
            .unwrap_or(&text);
        trimmed.to_owned()
    } else {
        env.ok_or_else(|| {
            CliError::Usage(format!(
                "a password is required: --password-stdin, {USER_PASSWORD_ENV} or --password"
            ))
        })?
    };
    if password.is_empty() {
        return Err(CliError::Usage("the password is empty".to_owned()));
    }
    Ok(password)
}

fn users_table(users: &[Value]) -> String {
    let mut table = Table::new(&["ID", "TYPE", "PROVIDERS", "EMAIL", "DISABLED", "CREATED"]);
    for user in users {
        let providers: Vec<&str> = user
            .get("identities")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|identity| identity.get("provider_type").and_then(Value::as_str))
            .collect();
        let disabled = user.get("disabled").and_then(Value::as_bool) == Some(true);
        table.row(vec![
            output::text_field(user, "_id"),
            output::text_field(user, "type"),
            if providers.is_empty() {
                "-".to_owned()
            } else {
                providers.join(",")
            },
            email_of(user),
            if disabled { "yes" } else { "no" }.to_owned(),
            output::time_field(user, "creation_date"),
        ]);
    }
    table.render()
}

fn email_of(user: &Value) -> String {
    user.get("data")
        .map_or_else(|| "-".to_owned(), |data| output::text_field(data, "email"))
}

#[cfg(test)]
mod tests;
