//! `sessiongate sessions list --user=ID` and `sessions revoke --user=ID --session=SID`.

use std::collections::BTreeMap;

use clap::Subcommand;
use http::Method;
use serde_json::Value;

use super::admin_client::AdminClient;
use super::output::{self, Table};
use super::{AdminArgs, CliError};
use crate::ids;

/// Longest user agent shown in the table (`--json` has it whole).
const USER_AGENT_WIDTH: usize = 40;

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List every session of a user, newest first, revoked and expired ones included.
    List {
        #[arg(long = "user", value_name = "ID")]
        user: String,
    },
    /// Revoke one session of a user.
    Revoke {
        #[arg(long = "user", value_name = "ID")]
        user: String,
        #[arg(long = "session", value_name = "SID")]
        session: String,
    },
}

pub async fn run(
    args: &AdminArgs,
    env: &BTreeMap<String, String>,
    command: Command,
) -> Result<(), CliError> {
    let client = AdminClient::new(args, env)?;
    match command {
        Command::List { user } => {
            let sessions = client
                .call(Method::GET, &["users", &user, "sessions"], None)
                .await?;
            if args.json {
                return output::json(&sessions);
            }
            output::print(&sessions_table(output::array(&sessions)?, ids::now()))
        }
        Command::Revoke { user, session } => {
            client
                .call(
                    Method::DELETE,
                    &["users", &user, "sessions", &session],
                    None,
                )
                .await?;
            if args.json {
                return output::json(&serde_json::json!({ "session_id": session, "ok": true }));
            }
            output::line(&format!("revoked session {session} of user {user}"))
        }
    }
}

fn sessions_table(sessions: &[Value], now: i64) -> String {
    let mut table = Table::new(&[
        "ID",
        "STATE",
        "PROVIDER",
        "CLIENT IP",
        "USER AGENT",
        "CREATED",
        "LAST USED",
        "EXPIRES",
    ]);
    for session in sessions {
        let time = |key: &str| session.get(key).and_then(Value::as_i64);
        let state = match (time("revoked_at"), time("expires_at")) {
            (Some(_), _) => "revoked",
            (None, Some(expires)) if expires <= now => "expired",
            _ => "active",
        };
        table.row(vec![
            output::text_field(session, "id"),
            state.to_owned(),
            output::text_field(session, "provider_type"),
            output::text_field(session, "client_ip"),
            output::truncate(
                &output::text_field(session, "user_agent_raw"),
                USER_AGENT_WIDTH,
            ),
            output::time_field(session, "created_at"),
            output::time_field(session, "last_used_at"),
            output::time(time("expires_at")),
        ]);
    }
    table.render()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn state_is_revoked_expired_or_active() {
        let sessions = [
            json!({"id": "s1", "revoked_at": 5, "expires_at": 100}),
            json!({"id": "s2", "revoked_at": null, "expires_at": 10}),
            json!({"id": "s3", "revoked_at": null, "expires_at": null}),
        ];
        let text = sessions_table(&sessions, 50);
        let states: Vec<&str> = text
            .lines()
            .skip(1)
            .map(|line| line.split_whitespace().nth(1).unwrap())
            .collect();
        assert_eq!(states, ["revoked", "expired", "active"]);
    }
}
