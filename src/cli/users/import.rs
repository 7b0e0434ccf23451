//! `users import FILE`: sends an App Services export to the gateway as it is and reports what
//! was created, skipped and refused.

use http::Method;
use serde_json::Value;

use crate::cli::CliError;
use crate::cli::admin_client::AdminClient;
use crate::cli::output;

/// Time allowed for an import's answer: the gateway checks and writes the whole batch first.
const IMPORT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(600);

/// `users import FILE`: sends the file as it is; prints the report (one line per refused
/// entry, then the counts), or with --json the gateway's answer. Exit 1 if it was refused.
pub(super) async fn import(
    client: &AdminClient,
    json: bool,
    export: Vec<u8>,
) -> Result<(), CliError> {
    let answer = client
        .request_bytes(
            Method::POST,
            &["users", "import"],
            export.into(),
            IMPORT_TIMEOUT,
        )
        .await?;
    let has_report = answer.body.get("refused").is_some();
    if !answer.status.is_success() && !has_report {
        return answer.into_result().map(drop);
    }
    let count = |list: &str| {
        answer
            .body
            .get(list)
            .and_then(Value::as_array)
            .map_or(0, Vec::len)
    };
    if json {
        output::json(&answer.body)?;
    } else {
        for entry in answer
            .body
            .get("refused")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            output::line(&format!(
                "refused entry {} ({}): {}",
                entry
                    .get("index")
                    .and_then(Value::as_u64)
                    .unwrap_or_default(),
                output::text_field(entry, "_id"),
                output::text_field(entry, "reason"),
            ))?;
        }
        output::line(&format!(
            "created {}, skipped {} (exist identically), refused {}",
            count("created"),
            count("skipped"),
            count("refused")
        ))?;
    }
    if answer.status.is_success() {
        return Ok(());
    }
    let (error, error_code) = answer.error();
    Err(CliError::Api {
        status: answer.status.as_u16(),
        error,
        error_code,
    })
}
