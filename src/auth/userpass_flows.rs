//! local-userpass confirmation and password reset, App Services' routes under
//! `…/auth/providers/local-userpass/`, with webhooks in place of its emails and functions:
//!
//! | route | body | what happens |
//! | --- | --- | --- |
//! | `register` | `{email, password}` | without auto-confirm, a confirmation token goes to `confirmation_url` |
//! | `confirm` | `{token, tokenId}` | the account is confirmed |
//! | `confirm/send`, `confirm/call` | `{email}` | a new confirmation token goes to `confirmation_url` |
//! | `reset/send` | `{email}` | a reset token goes to `reset_url` |
//! | `reset` | `{token, tokenId, password}` | the password is set, every session of the user revoked |
//! | `reset/call` | `{email, password, arguments}` | `reset_url` gets `{email, token, tokenId, arguments}` and answers `{"status"}`: `success` sets the password at once, `pending` leaves the token for a later `reset`, `fail` is 400 |
//!
//! Webhooks receive `{email, token, tokenId}` as JSON; a webhook that cannot be reached or
//! answers non-2xx is 502, one that is too slow (`webhook_timeout`) 504.
//!
//! # Security
//! Tokens are 256 random bits, single use, expire after `token_ttl` and are stored only as a
//! SHA-256 digest. No answer tells whether an email is registered: `confirm/send`,
//! `confirm/call` and `reset/send` validate the body, answer 204 and do their work (look-up,
//! token, webhook) in the background, so known and unknown emails get the same answer in the
//! same time; `reset/call` hashes the password and calls the webhook for an unknown email too,
//! with a token that was never stored, and answers what the webhook decides.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use http::{Method, Request, StatusCode, header};
use http_body_util::Full;
use serde::Deserialize;
use serde_json::{Value, json};
use tracing::Instrument;
use url::Url;

use super::password::{Passwords, check_length};
use super::userpass::{RegisterBody, normalize_email};
use super::{Auth, userpass};
use crate::config::UserpassConfig;
use crate::error::{ApiError, ErrorCode};
use crate::events::RevokeReason;
use crate::ids;
use crate::outbound::{FetchError, Fetcher};
use crate::store::{Store, UserTokenKind, UserTokenRecord};

/// Largest webhook answer read.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// One of the confirmation and reset routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Confirm,
    ConfirmSend,
    ConfirmCall,
    Reset,
    ResetSend,
    ResetCall,
}

impl Flow {
    /// The flow of the path segments after `local-userpass/`.
    pub fn from_segments(segments: &[&str]) -> Option<Self> {
        Some(match segments {
            ["confirm"] => Self::Confirm,
            ["confirm", "send"] => Self::ConfirmSend,
            ["confirm", "call"] => Self::ConfirmCall,
            ["reset"] => Self::Reset,
            ["reset", "send"] => Self::ResetSend,
            ["reset", "call"] => Self::ResetCall,
            _ => return None,
        })
    }
}

/// The body of every flow (each reads the fields it needs).
#[derive(Debug, Default, Deserialize)]
pub struct FlowBody {
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub token: Option<String>,
    #[serde(default, rename = "tokenId")]
    pub token_id: Option<String>,
    #[serde(default)]
    pub arguments: Option<Value>,
}

pub struct UserpassFlows {
    store: Arc<dyn Store>,
    passwords: Arc<Passwords>,
    config: UserpassConfig,
    auto_confirm: bool,
    fetcher: Fetcher,
}

/// A token as handed to a webhook (the store keeps only its digest).
struct Issued {
    token: String,
    token_id: String,
}

/// What the `reset/call` webhook decided.
#[derive(Debug, PartialEq, Eq)]
enum Decision {
    Success,
    Pending,
    Fail,
}

fn token_invalid() -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        ErrorCode::UserpassTokenInvalid,
        "invalid token data",
    )
}

fn webhook_error(which: &str, err: &FetchError) -> ApiError {
    tracing::warn!(webhook = which, error = %err, "local-userpass webhook failed");
    match err {
        FetchError::Timeout(_) => ApiError::new(
            StatusCode::GATEWAY_TIMEOUT,
            ErrorCode::UpstreamTimeout,
            format!("{which} webhook timed out"),
        ),
        FetchError::Unavailable(_) | FetchError::TooLarge(_) => bad_webhook(which),
    }
}

fn bad_webhook(which: &str) -> ApiError {
    ApiError::new(
        StatusCode::BAD_GATEWAY,
        ErrorCode::UpstreamUnavailable,
        format!("{which} webhook failed"),
    )
}

fn required<'a>(value: Option<&'a str>, what: &str) -> Result<&'a str, ApiError> {
    value
        .filter(|v| !v.is_empty())
        .ok_or_else(|| ApiError::missing_field(what))
}

fn password_rule(password: &str) -> Result<(), ApiError> {
    check_length(password).map_err(|err| ApiError::bad_request(err.to_string()))
}

impl UserpassFlows {
    pub fn new(
        store: Arc<dyn Store>,
        passwords: Arc<Passwords>,
        config: UserpassConfig,
        auto_confirm: bool,
        fetcher: Fetcher,
    ) -> Self {
        Self {
            store,
            passwords,
            config,
            auto_confirm,
            fetcher,
        }
    }

    fn url(&self, kind: UserTokenKind) -> Result<&Url, ApiError> {
        let (url, key) = match kind {
            UserTokenKind::Confirm => (&self.config.confirmation_url, "confirmation_url"),
            UserTokenKind::Reset => (&self.config.reset_url, "reset_url"),
        };
        url.as_ref().ok_or_else(|| {
            ApiError::invalid_parameter(format!("providers.local_userpass.{key} is not configured"))
        })
    }

    /// A new token of `kind` for `email`; its digest is stored unless `store` is false (the
    /// decoy of an unknown email).
    async fn issue(
        &self,
        kind: UserTokenKind,
        email: &str,
        store: bool,
    ) -> Result<Issued, ApiError> {
        let token = URL_SAFE_NO_PAD.encode(ids::random_bytes::<32>());
        let token_id = ids::object_id();
        if store {
            let now = ids::now();
            let ttl = i64::try_from(self.config.token_ttl.as_secs()).unwrap_or(i64::MAX / 2);
            self.store
                .create_user_token(&UserTokenRecord {
                    id: token_id.clone(),
                    kind,
                    email: email.to_owned(),
                    token_hash: crate::tokens::digest(&token).to_vec(),
                    created_at: now,
                    expires_at: now.saturating_add(ttl),
                })
                .await?;
        }
        Ok(Issued { token, token_id })
    }

    /// Posts `payload` to the webhook of `kind`; returns a 2xx answer's body.
    async fn post(&self, kind: UserTokenKind, payload: &Value) -> Result<Bytes, ApiError> {
        let which = kind.as_str();
        let url = self.url(kind)?;
        let request = Request::builder()
            .method(Method::POST)
            .uri(url.as_str())
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::ACCEPT, "application/json")
            .body(Full::new(Bytes::from(payload.to_string())))
            .map_err(|_| bad_webhook(which))?;
        let answer = self
            .fetcher
            .send(request, self.config.webhook_timeout, MAX_ANSWER_BYTES)
            .await
            .map_err(|err| webhook_error(which, &err))?;
        if !answer.status.is_success() {
            tracing::warn!(
                webhook = which,
                status = answer.status.as_u16(),
                "local-userpass webhook refused"
            );
            return Err(bad_webhook(which));
        }
        Ok(answer.body)
    }

    /// Issues a token of `kind` for `email` and hands it to the webhook.
    async fn deliver(&self, kind: UserTokenKind, email: &str) -> Result<(), ApiError> {
        self.url(kind)?;
        let issued = self.issue(kind, email, true).await?;
        let payload = json!({ "email": email, "token": issued.token, "tokenId": issued.token_id });
        self.post(kind, &payload).await?;
        tracing::info!(kind = kind.as_str(), token_id = %issued.token_id, "local-userpass token delivered");
        Ok(())
    }

    /// `confirm/send`, `confirm/call`, `reset/send`: answers at once; the look-up and the
    /// delivery (only for a registered email, for confirmation only while unconfirmed) run in
    /// the background, their failures logged.
    fn send_in_background(self: &Arc<Self>, kind: UserTokenKind, email: String) {
        let flows = self.clone();
        tokio::spawn(
            async move {
                let account = match flows.store.find_local_account(&email).await {
                    Ok(account) => account,
                    Err(err) => {
                        tracing::warn!(error = %err, "local-userpass look-up failed");
                        return;
                    }
                };
                let wanted = account.is_some_and(|a| kind == UserTokenKind::Reset || !a.confirmed);
                if wanted {
                    // Errors are logged where they happen; the client was answered already.
                    let _ = flows.deliver(kind, &email).await;
                }
            }
            .in_current_span(),
        );
    }

    /// `confirm {token, tokenId}`.
    async fn confirm(&self, body: &FlowBody) -> Result<(), ApiError> {
        let email = self.consume(UserTokenKind::Confirm, body).await?;
        if !self.store.confirm_local_account(&email).await? {
            return Err(token_invalid());
        }
        tracing::info!("local-userpass account confirmed");
        Ok(())
    }

    /// Uses up the token of the body: the email it was issued for.
    async fn consume(&self, kind: UserTokenKind, body: &FlowBody) -> Result<String, ApiError> {
        let token = required(body.token.as_deref(), "token")?;
        let token_id = required(body.token_id.as_deref(), "tokenId")?;
        self.store
            .consume_user_token(kind, token_id, &crate::tokens::digest(token), ids::now())
            .await?
            .ok_or_else(token_invalid)
    }

    /// Sets the password of `email`; returns the account's user id.
    async fn set_password(&self, email: &str, password_hash: &str) -> Result<String, ApiError> {
        if !self.store.set_local_password(email, password_hash).await? {
            return Err(token_invalid());
        }
        let account = self
            .store
            .find_local_account(email)
            .await?
            .ok_or_else(token_invalid)?;
        tracing::info!(user_id = %account.user_id, "local-userpass password reset");
        Ok(account.user_id)
    }

    /// `reset {token, tokenId, password}`: the user whose password was set.
    async fn reset(&self, body: &FlowBody) -> Result<String, ApiError> {
        let password = body
            .password
            .as_deref()
            .ok_or_else(|| ApiError::missing_field("password"))?;
        // Checked first, so a password that breaks the rule does not use up the token.
        password_rule(password)?;
        let email = self.consume(UserTokenKind::Reset, body).await?;
        let hash = self.hash(password).await?;
        self.set_password(&email, &hash).await
    }

    async fn hash(&self, password: &str) -> Result<String, ApiError> {
        self.passwords
            .hash(password)
            .await
            .map_err(userpass::password_error)
    }

    /// `reset/call {email, password, arguments}`: the user whose password was set, if the
    /// webhook said `success`.
    async fn reset_call(&self, body: &FlowBody) -> Result<Option<String>, ApiError> {
        self.url(UserTokenKind::Reset)?;
        let email = normalize_email(required(body.email.as_deref(), "email")?)?;
        let password = body
            .password
            .as_deref()
            .ok_or_else(|| ApiError::missing_field("password"))?;
        password_rule(password)?;
        let hash = self.hash(password).await?;
        let known = self.store.find_local_account(&email).await?.is_some();
        let issued = self.issue(UserTokenKind::Reset, &email, known).await?;
        let payload = json!({
            "email": email,
            "token": issued.token,
            "tokenId": issued.token_id,
            "arguments": body.arguments.clone().unwrap_or_else(|| json!([])),
        });
        let answer = self.post(UserTokenKind::Reset, &payload).await?;
        let decision = decision(&answer).ok_or_else(|| bad_webhook("reset"))?;
        let consume = FlowBody {
            token: Some(issued.token),
            token_id: Some(issued.token_id),
            ..FlowBody::default()
        };
        match decision {
            Decision::Pending => Ok(None),
            Decision::Fail => {
                if known {
                    // Best effort: the refused token should not linger until it expires.
                    let _ = self.consume(UserTokenKind::Reset, &consume).await;
                }
                Err(ApiError::bad_request("password reset refused"))
            }
            Decision::Success if known => {
                let email = self.consume(UserTokenKind::Reset, &consume).await?;
                self.set_password(&email, &hash).await.map(Some)
            }
            Decision::Success => Ok(None),
        }
    }
}

/// `{"status": "success" | "pending" | "fail"}`.
fn decision(answer: &[u8]) -> Option<Decision> {
    let value: Value = serde_json::from_slice(answer).ok()?;
    match value.get("status")?.as_str()? {
        "success" => Some(Decision::Success),
        "pending" => Some(Decision::Pending),
        "fail" => Some(Decision::Fail),
        _ => None,
    }
}

impl Auth {
    fn userpass_flows(&self) -> Result<&Arc<UserpassFlows>, ApiError> {
        self.userpass_flows
            .as_ref()
            .ok_or_else(|| ApiError::provider_not_found(userpass::NAME))
    }

    /// `register {email, password}`: 409 if the email is taken; without auto-confirm the
    /// confirmation token goes to the webhook before the answer (the account exists even if
    /// the webhook fails; `confirm/send` tries again).
    pub async fn register_userpass(&self, body: RegisterBody) -> Result<(), ApiError> {
        let userpass = self.userpass()?;
        let flows = self.userpass_flows()?;
        let email = body.email.as_deref().map(normalize_email).transpose()?;
        let user_id = userpass.register(body).await?;
        self.events
            .emit(super::user_created(&user_id, userpass::NAME, "normal"))
            .await;
        if let (false, Some(email)) = (flows.auto_confirm, email) {
            flows.deliver(UserTokenKind::Confirm, &email).await?;
        }
        Ok(())
    }

    /// Runs one confirmation or reset flow (see the module table).
    pub async fn userpass_flow(&self, flow: Flow, body: FlowBody) -> Result<(), ApiError> {
        let flows = self.userpass_flows()?;
        let send = |kind: UserTokenKind| -> Result<(), ApiError> {
            flows.url(kind)?;
            let email = normalize_email(required(body.email.as_deref(), "email")?)?;
            flows.send_in_background(kind, email);
            Ok(())
        };
        let reset_user = match flow {
            Flow::Confirm => {
                flows.confirm(&body).await?;
                None
            }
            Flow::ConfirmSend | Flow::ConfirmCall => {
                send(UserTokenKind::Confirm)?;
                None
            }
            Flow::ResetSend => {
                send(UserTokenKind::Reset)?;
                None
            }
            Flow::Reset => Some(flows.reset(&body).await?),
            Flow::ResetCall => flows.reset_call(&body).await?,
        };
        if let Some(user_id) = reset_user {
            self.credentials_changed();
            self.revoke_user(&user_id, None, RevokeReason::PasswordReset)
                .await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flows_are_found_by_path() {
        assert_eq!(Flow::from_segments(&["confirm"]), Some(Flow::Confirm));
        assert_eq!(
            Flow::from_segments(&["confirm", "call"]),
            Some(Flow::ConfirmCall)
        );
        assert_eq!(
            Flow::from_segments(&["reset", "send"]),
            Some(Flow::ResetSend)
        );
        assert_eq!(Flow::from_segments(&["reset", "other"]), None);
        assert_eq!(Flow::from_segments(&[]), None);
    }

    #[test]
    fn webhook_decisions_are_strict() {
        assert_eq!(
            decision(br#"{"status":"success"}"#),
            Some(Decision::Success)
        );
        assert_eq!(
            decision(br#"{"status":"pending"}"#),
            Some(Decision::Pending)
        );
        assert_eq!(decision(br#"{"status":"fail"}"#), Some(Decision::Fail));
        assert_eq!(decision(br#"{"status":"SUCCESS"}"#), None);
        assert_eq!(decision(br#"{"ok":true}"#), None);
        assert_eq!(decision(b"success"), None);
    }

    #[test]
    fn flow_body_reads_realm_web_field_names() {
        let body: FlowBody =
            serde_json::from_value(json!({"token": "t", "tokenId": "i", "password": "p"})).unwrap();
        assert_eq!(body.token.as_deref(), Some("t"));
        assert_eq!(body.token_id.as_deref(), Some("i"));
    }
}
