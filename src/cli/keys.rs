//! `sessiongate keys list|rotate|retire`: the access-token signing keys;
//! `sessiongate keys list-assertion|rotate-assertion`: the identity assertion keys.
//!
//! Rotation adds a generated key that starts signing once every replica has loaded it; older
//! keys keep verifying until their last token expires. Retirement removes a (compromised) key
//! at once: its tokens are refused on every replica; the key that signs now can be retired
//! only once a newer one exists (`rotate` first). A key from the configuration is rotated in
//! the configuration instead (the gateway answers 409).

use std::collections::BTreeMap;

use clap::Subcommand;
use http::Method;
use serde_json::Value;

use super::admin_client::AdminClient;
use super::output::{self, Table};
use super::{AdminArgs, CliError};

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List the key ids the gateway verifies with, and which one signs.
    List,
    /// Add a new generated signing key.
    Rotate,
    /// Remove a signing key at once (compromised): every token it signed is refused.
    Retire {
        /// The key id (`sessiongate keys list`).
        kid: String,
    },
    /// List the identity assertion key ids the gateway publishes, and which one signs.
    ListAssertion,
    /// Add an identity assertion key: published at once, signing 120 s later.
    RotateAssertion,
}

pub async fn run(
    args: &AdminArgs,
    env: &BTreeMap<String, String>,
    command: Command,
) -> Result<(), CliError> {
    let client = AdminClient::new(args, env)?;
    match command {
        Command::List => {
            let keys = client
                .call(Method::GET, &["security", "signing_keys"], None)
                .await?;
            if args.json {
                return output::json(&keys);
            }
            let mut table = Table::new(&["KID", "SIGNING"]);
            for key in output::array(&keys)? {
                let signing = key.get("signing").and_then(Value::as_bool) == Some(true);
                table.row(vec![
                    output::text_field(key, "kid"),
                    if signing { "yes" } else { "no" }.to_owned(),
                ]);
            }
            output::print(&table.render())
        }
        Command::Rotate => {
            let rotated = client
                .call(Method::POST, &["security", "signing_keys"], None)
                .await?;
            if args.json {
                return output::json(&rotated);
            }
            output::line(&format!(
                "new signing key {}, signs from {}",
                output::text_field(&rotated, "kid"),
                output::time_field(&rotated, "active_from")
            ))
        }
        Command::ListAssertion => {
            let keys = client
                .call(Method::GET, &["security", "assertion_keys"], None)
                .await?;
            if args.json {
                return output::json(&keys);
            }
            let mut table = Table::new(&["KID", "SIGNS FROM", "SIGNING"]);
            for key in output::array(&keys)? {
                let signing = key.get("signing").and_then(Value::as_bool) == Some(true);
                table.row(vec![
                    output::text_field(key, "kid"),
                    output::time_field(key, "active_from"),
                    if signing { "yes" } else { "no" }.to_owned(),
                ]);
            }
            output::print(&table.render())
        }
        Command::RotateAssertion => {
            let rotated = client
                .call(Method::POST, &["security", "assertion_keys"], None)
                .await?;
            if args.json {
                return output::json(&rotated);
            }
            output::line(&format!(
                "new assertion key {}, published now, signs from {}",
                output::text_field(&rotated, "kid"),
                output::time_field(&rotated, "active_from")
            ))
        }
        Command::Retire { kid } => {
            let retired = client
                .call(Method::DELETE, &["security", "signing_keys", &kid], None)
                .await?;
            if args.json {
                return output::json(&retired);
            }
            output::line(&format!(
                "retired signing key {}; signing with {}",
                output::text_field(&retired, "kid"),
                output::text_field(&retired, "signing")
            ))
        }
    }
}
