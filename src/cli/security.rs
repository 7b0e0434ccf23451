//! `sessiongate security refresh-ttl [--set 10d]`: the refresh-token lifetime of new sessions,
//! kept in the store and so shared by every replica.

use std::collections::BTreeMap;
use std::time::Duration;

use clap::Subcommand;
use http::Method;
use serde_json::{Value, json};

use super::admin_client::AdminClient;
use super::output;
use super::{AdminArgs, CliError};
use crate::config::parse_duration;

const PATH: [&str; 2] = ["security", "refresh_token_expiration"];

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show the refresh-token lifetime, or set it with --set (30m..=180d).
    RefreshTtl {
        /// New lifetime, e.g. 10d or 12h; applies to sessions created afterwards.
        #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
        set: Option<Duration>,
    },
}

pub async fn run(
    args: &AdminArgs,
    env: &BTreeMap<String, String>,
    command: Command,
) -> Result<(), CliError> {
    let Command::RefreshTtl { set } = command;
    let client = AdminClient::new(args, env)?;
    if let Some(ttl) = set {
        let body = json!({ "expiration_time_seconds": ttl.as_secs() });
        client.call(Method::PUT, &PATH, Some(&body)).await?;
    }
    // Read back what the gateway now holds, also after a change.
    let current = client.call(Method::GET, &PATH, None).await?;
    if args.json {
        return output::json(&current);
    }
    let seconds = current
        .get("expiration_time_seconds")
        .and_then(Value::as_u64)
        .ok_or_else(|| CliError::Other(anyhow::anyhow!("unexpected answer: {current}")))?;
    let verb = if set.is_some() { "set to" } else { "is" };
    output::line(&format!(
        "refresh token expiration {verb} {} ({seconds} seconds)",
        output::seconds(seconds)
    ))
}
