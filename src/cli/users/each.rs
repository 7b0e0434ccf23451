//! The per-user commands (`revoke`, `delete`, `enable`, `disable`): one admin call per user,
//! each reported, failing at the end if any failed.

use http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::cli::CliError;
use crate::cli::admin_client::AdminClient;
use crate::cli::output;

/// A per-user admin call.
#[derive(Debug, Clone, Copy)]
pub(super) enum Action {
    Revoke,
    Delete,
    Enable,
    Disable,
}

impl Action {
    fn method(self) -> Method {
        match self {
            Action::Revoke | Action::Enable | Action::Disable => Method::PUT,
            Action::Delete => Method::DELETE,
        }
    }

    /// The path under `users/{id}`.
    fn tail(self) -> Option<&'static str> {
        match self {
            Action::Revoke => Some("logout"),
            Action::Delete => None,
            Action::Enable => Some("enable"),
            Action::Disable => Some("disable"),
        }
    }

    fn done(self) -> &'static str {
        match self {
            Action::Revoke => "revoked every session of user",
            Action::Delete => "deleted user",
            Action::Enable => "enabled user",
            Action::Disable => "disabled user",
        }
    }
}

/// Runs `action` for each user, reporting each; fails if any failed.
pub(super) async fn for_each(
    client: &AdminClient,
    json: bool,
    ids: &[String],
    action: Action,
) -> Result<(), CliError> {
    let mut ids: Vec<&str> = ids
        .iter()
        .map(|id| id.trim())
        .filter(|id| !id.is_empty())
        .collect();
    let mut seen = std::collections::HashSet::new();
    ids.retain(|id| seen.insert(*id));
    if ids.is_empty() {
        return Err(CliError::Usage("--user: no user id given".to_owned()));
    }
    let mut results = Vec::with_capacity(ids.len());
    let mut failed = 0;
    for id in &ids {
        let mut segments = vec!["users", id];
        segments.extend(action.tail());
        let answer = client
            .request(action.method(), &segments, &[], None)
            .await?;
        if answer.status == StatusCode::UNAUTHORIZED {
            return answer.into_result().map(drop);
        }
        if answer.status.is_success() {
            results.push(json!({ "user_id": id, "ok": true }));
            if !json {
                output::line(&format!("{} {id}", action.done()))?;
            }
            continue;
        }
        failed += 1;
        let (error, error_code) = answer.error();
        results.push(json!({
            "user_id": id,
            "ok": false,
            "status": answer.status.as_u16(),
            "error": error,
            "error_code": error_code,
        }));
        let err = CliError::Api {
            status: answer.status.as_u16(),
            error,
            error_code,
        };
        eprintln!("sessiongate: user {id}: {err}");
    }
    if json {
        output::json(&Value::Array(results))?;
    }
    if failed > 0 {
        return Err(CliError::Partial {
            failed,
            total: ids.len(),
        });
    }
    Ok(())
}
