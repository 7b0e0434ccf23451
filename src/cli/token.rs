//! `sessiongate token verify TOKEN`: ask the gateway to check an access token.
//!
//! Valid: the claims, exit 0. Expired: exit 3. Invalid (bad signature, malformed, foreign):
//! exit 4. The gateway decides, with the keys it currently verifies with.

use std::collections::BTreeMap;

use clap::Subcommand;
use http::{Method, StatusCode};
use serde_json::{Value, json};

use super::admin_client::AdminClient;
use super::output;
use super::{AdminArgs, CliError, read_stdin};

/// The `error_code` of the gateway's "signature is invalid" answer (the admin key refusal
/// is `Unauthorized`).
const INVALID_TOKEN_CODE: &str = "InvalidSession";

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Verify an access token and print its claims.
    Verify {
        /// The access token; `-` reads it from stdin.
        #[arg(value_name = "TOKEN")]
        token: String,
    },
}

pub async fn run(
    args: &AdminArgs,
    env: &BTreeMap<String, String>,
    command: Command,
) -> Result<(), CliError> {
    let Command::Verify { token } = command;
    let token = if token == "-" {
        read_stdin("token")?.trim().to_owned()
    } else {
        token
    };
    let client = AdminClient::new(args, env)?;
    let answer = client
        .request(
            Method::POST,
            &["users", "verify_token"],
            &[],
            Some(&json!({ "token": token })),
        )
        .await?;
    let invalid = answer.status == StatusCode::UNAUTHORIZED
        && answer.body.get("error_code").and_then(Value::as_str) == Some(INVALID_TOKEN_CODE);
    if invalid {
        if args.json {
            output::json(&answer.body)?;
        }
        return Err(CliError::TokenInvalid(answer.error().0));
    }
    let claims = answer.into_result()?;
    if args.json {
        output::json(&claims)?;
    }
    match &claims {
        Value::Object(_) if !args.json => output::print(&claims_text(&claims)),
        Value::Object(_) => Ok(()),
        Value::String(text) if text == "token expired" => Err(CliError::TokenExpired),
        other => Err(CliError::Other(anyhow::anyhow!(
            "unexpected answer from the gateway: {other}"
        ))),
    }
}

fn claims_text(claims: &Value) -> String {
    output::fields(&[
        ("sub", output::text_field(claims, "sub")),
        ("session_id", output::text_field(claims, "session_id")),
        ("provider_type", output::text_field(claims, "provider_type")),
        ("device_id", output::text_field(claims, "device_id")),
        ("iss", output::text_field(claims, "iss")),
        ("domain_id", output::text_field(claims, "domain_id")),
        ("iat", output::time_field(claims, "iat")),
        ("exp", output::time_field(claims, "exp")),
    ])
}
