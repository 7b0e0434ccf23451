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

mod delivery;
mod redeem;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;

use super::password::{Passwords, check_length};
use super::userpass::{RegisterBody, normalize_email};
use super::{Auth, userpass};
use crate::auth::AuthError;
use crate::config::UserpassConfig;
use crate::events::RevokeReason;
use crate::outbound::Fetcher;
use crate::store::{Store, UserTokenKind};

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
}

fn required<'a>(value: Option<&'a str>, what: &str) -> Result<&'a str, AuthError> {
    value
        .filter(|v| !v.is_empty())
        .ok_or_else(|| AuthError::missing_field(what))
}

fn password_rule(password: &str) -> Result<(), AuthError> {
    check_length(password).map_err(|err| AuthError::bad_request(err.to_string()))
}

impl Auth {
    fn userpass_flows(&self) -> Result<&Arc<UserpassFlows>, AuthError> {
        self.userpass_flows
            .as_ref()
            .ok_or_else(|| super::AuthError::ProviderNotFound(userpass::NAME.to_owned()))
    }

    /// `register {email, password}`: 409 if the email is taken; without auto-confirm the
    /// confirmation token goes to the webhook before the answer (the account exists even if
    /// the webhook fails; `confirm/send` tries again).
    pub async fn register_userpass(&self, body: RegisterBody) -> Result<(), AuthError> {
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
    pub async fn userpass_flow(&self, flow: Flow, body: FlowBody) -> Result<(), AuthError> {
        let flows = self.userpass_flows()?;
        let send = |kind: UserTokenKind| -> Result<(), AuthError> {
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
