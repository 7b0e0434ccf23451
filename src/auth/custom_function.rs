//! `custom-function`: the login body is posted, as received, to a configured webhook that
//! decides who logs in — App Services' "custom function" authentication, run outside the
//! gateway.
//!
//! The webhook answers 2xx `{"id": "<external id>", "name"?, "email"?, "data"?: {…}}`: the
//! identity `("custom-function", id)` logs in, its user created on first login, and `name`,
//! `email` and the fields of `data` written into the user's data. Any other answer is a
//! refusal or a fault, and neither creates a user:
//!
//! | webhook | client sees |
//! | --- | --- |
//! | non-2xx with `{"error": "<message>"}` | 401 `AuthError`, `error` = the message (cleaned, ≤ 256 chars) |
//! | other 4xx | 401 `AuthError` "login refused" |
//! | other 5xx or 3xx (redirects are not followed) | 502 `UpstreamUnavailable` |
//! | 2xx that is not JSON, has no string `id`, or exceeds 64 KiB | 502 `UpstreamUnavailable` |
//! | unreachable (refused, reset, TLS) | 502 `UpstreamUnavailable` |
//! | no complete answer within `timeout` | 504 `UpstreamTimeout` |
//!
//! A broken webhook is the operator's fault, not the user's, so it is a 5xx like any other
//! upstream, and the SDK's user is not told their credentials are wrong.
//!
//! Does not verify the body itself, nor sign the request: the webhook URL should be private
//! to the gateway (a loopback or internal address).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use http::{Method, Request, header};
use http_body_util::Full;
use serde_json::{Map, Value};

use super::AuthError;
use super::external_user;
use super::provider::{LoginOutcome, ProvenIdentity, Provider};
use crate::config::CustomFunctionConfig;
use crate::outbound::{FetchError, Fetcher, StatusClass, WebhookError};
use crate::store::Store;

pub const NAME: &str = "custom-function";

/// Largest webhook answer read.
const MAX_ANSWER_BYTES: usize = 64 * 1024;
/// Longest webhook error message passed to the client, in characters.
const MAX_MESSAGE_CHARS: usize = 256;
/// Longest external id accepted, in bytes.
const MAX_ID_BYTES: usize = 512;

/// What the client reads when the webhook is too slow, or broken.
const TIMED_OUT: &str = "login webhook timed out";
const UNAVAILABLE: &str = "login webhook unavailable";

pub struct CustomFunctionProvider {
    store: Arc<dyn Store>,
    url: http::Uri,
    timeout: Duration,
    fetcher: Fetcher,
}

/// What a webhook's answer means.
#[derive(Debug, PartialEq)]
enum Verdict {
    /// Log in as this external id, with these fields for the user's data.
    Accept {
        id: String,
        data: Map<String, Value>,
    },
    /// The webhook refused the login; the message is for the client.
    Refuse(String),
    /// The webhook is broken; the reason is for the log.
    Fault(&'static str),
}

impl CustomFunctionProvider {
    pub fn new(config: &CustomFunctionConfig, store: Arc<dyn Store>, fetcher: Fetcher) -> Self {
        Self {
            store,
            url: config
                .url
                .as_str()
                .parse()
                .expect("config validated the webhook URL as an http(s) URL"),
            timeout: config.timeout,
            fetcher,
        }
    }

    async fn ask_webhook(&self, body: &Value) -> Result<Verdict, AuthError> {
        let payload = serde_json::to_vec(body).map_err(|err| AuthError::internal(&err))?;
        let request = Request::builder()
            .method(Method::POST)
            .uri(self.url.clone())
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::ACCEPT, "application/json")
            .body(Full::new(Bytes::from(payload)))
            .map_err(|err| AuthError::internal(&err))?;
        match self
            .fetcher
            .send(request, self.timeout, MAX_ANSWER_BYTES)
            .await
        {
            Ok(answer) => Ok(judge(answer.class(), &answer.body)),
            Err(FetchError::TooLarge(_)) => Ok(Verdict::Fault("answer larger than 64 KiB")),
            Err(err) => {
                tracing::warn!(provider = NAME, error = %err, "login webhook failed");
                Err(WebhookError::of(&err, TIMED_OUT, UNAVAILABLE).into())
            }
        }
    }
}

#[async_trait]
impl Provider for CustomFunctionProvider {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn login(&self, body: &Value) -> Result<LoginOutcome, AuthError> {
        let proven = self.identify(body).await?;
        external_user::resolve(self.store.as_ref(), NAME, &proven.external_id, proven.data).await
    }

    /// Asks the webhook like `login` and names the identity it vouches for, creating nothing
    /// (linking).
    async fn identify(&self, body: &Value) -> Result<ProvenIdentity, AuthError> {
        match self.ask_webhook(body).await? {
            Verdict::Accept { id, data } => Ok(ProvenIdentity {
                external_id: id,
                data,
                owner: None,
            }),
            Verdict::Refuse(message) => {
                tracing::info!(provider = NAME, "login refused by webhook");
                Err(AuthError::Refused(message))
            }
            Verdict::Fault(reason) => {
                tracing::warn!(provider = NAME, reason, "login webhook answered badly");
                Err(AuthError::Webhook(WebhookError::Unavailable(UNAVAILABLE)))
            }
        }
    }
}

/// Reads a complete webhook answer.
fn judge(status: StatusClass, body: &[u8]) -> Verdict {
    let parsed: Option<Map<String, Value>> = serde_json::from_slice(body).ok();
    if status == StatusClass::Success {
        return match parsed {
            Some(fields) => accept(fields),
            None => Verdict::Fault("2xx answer is not a JSON object"),
        };
    }
    let message = parsed
        .as_ref()
        .and_then(|fields| fields.get("error"))
        .and_then(Value::as_str)
        .map(clean_message)
        .filter(|m| !m.is_empty());
    match message {
        Some(message) => Verdict::Refuse(message),
        None if status == StatusClass::ClientError => Verdict::Refuse("login refused".to_owned()),
        None => Verdict::Fault("non-2xx answer without an error message"),
    }
}

/// A 2xx answer: a non-empty string `id` is required; `name`, `email` and `data` are optional.
fn accept(mut fields: Map<String, Value>) -> Verdict {
    let id = match fields.remove("id") {
        Some(Value::String(id))
            if !id.is_empty() && id.len() <= MAX_ID_BYTES && !id.chars().any(char::is_control) =>
        {
            id
        }
        _ => return Verdict::Fault("2xx answer without a valid string id"),
    };
    let mut data = match fields.remove("data") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(data)) => data,
        Some(_) => return Verdict::Fault("2xx answer whose data is not an object"),
    };
    // Top-level name and email win over the same fields inside data.
    for name in ["name", "email"] {
        match fields.remove(name) {
            None | Some(Value::Null) => {}
            Some(Value::String(value)) => {
                data.insert(name.to_owned(), Value::String(value));
            }
            Some(_) => return Verdict::Fault("2xx answer whose name or email is not a string"),
        }
    }
    Verdict::Accept { id, data }
}

/// The webhook's message as the client may see it: control characters removed, trimmed,
/// at most `MAX_MESSAGE_CHARS` characters.
fn clean_message(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_control())
        .collect::<String>()
        .trim()
        .chars()
        .take(MAX_MESSAGE_CHARS)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::StatusCode;
    use serde_json::json;

    fn judge_json(status: u16, body: Value) -> Verdict {
        judge(
            StatusClass::of(StatusCode::from_u16(status).unwrap()),
            body.to_string().as_bytes(),
        )
    }

    #[test]
    fn success_answer_maps_name_email_and_data() {
        let verdict = judge_json(
            200,
            json!({"id": "cust-1", "name": "Ada", "email": "ada@example.com",
                   "data": {"plan": "pro", "name": "ignored"}}),
        );
        let Verdict::Accept { id, data } = verdict else {
            panic!("accepted expected, got {verdict:?}");
        };
        assert_eq!(id, "cust-1");
        assert_eq!(
            Value::Object(data),
            json!({"plan": "pro", "name": "Ada", "email": "ada@example.com"})
        );
    }

    #[test]
    fn success_without_a_string_id_is_a_fault() {
        for body in [
            json!({}),
            json!({"id": ""}),
            json!({"id": 42}),
            json!({"id": "a\nb"}),
            json!({"id": "x".repeat(MAX_ID_BYTES + 1)}),
            json!({"id": "ok", "data": [1]}),
            json!({"id": "ok", "email": 5}),
        ] {
            assert!(
                matches!(judge_json(200, body.clone()), Verdict::Fault(_)),
                "{body}"
            );
        }
        assert!(matches!(
            judge(StatusClass::of(StatusCode::OK), b"not json"),
            Verdict::Fault(_)
        ));
        assert!(matches!(
            judge(StatusClass::of(StatusCode::OK), b"[1]"),
            Verdict::Fault(_)
        ));
    }

    #[test]
    fn error_message_reaches_the_client_cleaned_and_bounded() {
        assert_eq!(
            judge_json(403, json!({"error": "no such customer"})),
            Verdict::Refuse("no such customer".to_owned())
        );
        assert_eq!(
            judge_json(500, json!({"error": " bad\u{1b}[31m\r\nthing "})),
            Verdict::Refuse("bad[31mthing".to_owned())
        );
        let Verdict::Refuse(long) = judge_json(401, json!({"error": "é".repeat(1000)})) else {
            panic!("refusal expected");
        };
        assert_eq!(long.chars().count(), MAX_MESSAGE_CHARS);
    }

    #[test]
    fn non_2xx_without_message_is_refusal_for_4xx_fault_otherwise() {
        assert_eq!(
            judge(StatusClass::of(StatusCode::UNAUTHORIZED), b""),
            Verdict::Refuse("login refused".to_owned())
        );
        assert_eq!(
            judge_json(404, json!({"error": "   "})),
            Verdict::Refuse("login refused".to_owned())
        );
        assert!(matches!(
            judge(StatusClass::of(StatusCode::INTERNAL_SERVER_ERROR), b"oops"),
            Verdict::Fault(_)
        ));
        assert!(matches!(
            judge(StatusClass::of(StatusCode::FOUND), b""),
            Verdict::Fault(_)
        ));
    }

    #[test]
    fn every_validated_webhook_url_is_a_request_uri() {
        for text in [
            "http://127.0.0.1:9000/hooks/login",
            "https://user:pw@hooks.example/login?key=a%20b",
            "http://[::1]:8080/",
            "https://bücher.example/ä",
        ] {
            let url = url::Url::parse(text).unwrap();
            assert!(url.as_str().parse::<http::Uri>().is_ok(), "{text}");
        }
    }
}
