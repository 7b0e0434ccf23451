//! `sessiongate grants create --user=ID [--ttl 10m]`: mint a one-time login grant.
//!
//! The token goes alone to stdout (`TOKEN=$(sessiongate grants create --user=ID)`); the
//! gateway shows it only this once and keeps only its digest.

use std::collections::BTreeMap;
use std::time::Duration;

use clap::Subcommand;
use http::Method;
use serde_json::json;

use super::admin_client::AdminClient;
use super::output;
use super::{AdminArgs, CliError};
use crate::config::parse_duration;

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Mint a single-use grant a client exchanges for a session:
    /// POST /api/client/v2.0/app/<app>/auth/providers/grant/login {"token": "..."}
    Create {
        #[arg(long = "user", value_name = "ID")]
        user: String,
        /// Lifetime, e.g. 10m or 1h (at most 24h) [default: the gateway's, 10m].
        #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
        ttl: Option<Duration>,
    },
}

pub async fn run(
    args: &AdminArgs,
    env: &BTreeMap<String, String>,
    command: Command,
) -> Result<(), CliError> {
    let client = AdminClient::new(args, env)?;
    match command {
        Command::Create { user, ttl } => {
            let body = match ttl {
                Some(ttl) => json!({ "ttl_seconds": ttl.as_secs() }),
                None => json!({}),
            };
            let grant = client
                .call(Method::POST, &["users", &user, "grants"], Some(&body))
                .await?;
            if args.json {
                return output::json(&grant);
            }
            let token = grant
                .get("token")
                .and_then(serde_json::Value::as_str)
                .ok_or_else(|| CliError::Other(anyhow::anyhow!("the answer has no token")))?;
            output::line(token)?;
            eprintln!(
                "single-use grant for user {user}, expires {}",
                output::time_field(&grant, "expires_at")
            );
            Ok(())
        }
    }
}
