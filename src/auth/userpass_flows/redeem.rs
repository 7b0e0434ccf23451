//! Using up confirmation and reset tokens: `confirm`, `reset`, and `reset/call`'s decision.

use serde_json::{Value, json};

use super::delivery::bad_webhook;
use super::{FlowBody, UserpassFlows, password_rule, required};
use crate::auth::AuthError;
use crate::auth::userpass::{self, normalize_email};
use crate::ids;
use crate::store::UserTokenKind;

/// What the `reset/call` webhook decided.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Decision {
    Success,
    Pending,
    Fail,
}

/// `{"status": "success" | "pending" | "fail"}`.
pub(super) fn decision(answer: &[u8]) -> Option<Decision> {
    let value: Value = serde_json::from_slice(answer).ok()?;
    match value.get("status")?.as_str()? {
        "success" => Some(Decision::Success),
        "pending" => Some(Decision::Pending),
        "fail" => Some(Decision::Fail),
        _ => None,
    }
}

impl UserpassFlows {
    /// `confirm {token, tokenId}`.
    pub(super) async fn confirm(&self, body: &FlowBody) -> Result<(), AuthError> {
        let email = self.consume(UserTokenKind::Confirm, body).await?;
        if !self.store.confirm_local_account(&email).await? {
            return Err(AuthError::UserpassTokenInvalid);
        }
        tracing::info!("local-userpass account confirmed");
        Ok(())
    }

    /// Uses up the token of the body: the email it was issued for.
    async fn consume(&self, kind: UserTokenKind, body: &FlowBody) -> Result<String, AuthError> {
        let token = required(body.token.as_deref(), "token")?;
        let token_id = required(body.token_id.as_deref(), "tokenId")?;
        self.store
            .consume_user_token(kind, token_id, &crate::tokens::digest(token), ids::now())
            .await?
            .ok_or_else(|| AuthError::UserpassTokenInvalid)
    }

    /// Sets the password of `email`; returns the account's user id.
    async fn set_password(&self, email: &str, password_hash: &str) -> Result<String, AuthError> {
        if !self.store.set_local_password(email, password_hash).await? {
            return Err(AuthError::UserpassTokenInvalid);
        }
        let account = self
            .store
            .find_local_account(email)
            .await?
            .ok_or(AuthError::UserpassTokenInvalid)?;
        tracing::info!(user_id = %account.user_id, "local-userpass password reset");
        Ok(account.user_id)
    }

    /// `reset {token, tokenId, password}`: the user whose password was set.
    pub(super) async fn reset(&self, body: &FlowBody) -> Result<String, AuthError> {
        let password = body
            .password
            .as_deref()
            .ok_or_else(|| AuthError::missing_field("password"))?;
        // Checked first, so a password that breaks the rule does not use up the token.
        password_rule(password)?;
        let email = self.consume(UserTokenKind::Reset, body).await?;
        let hash = self.hash(password).await?;
        self.set_password(&email, &hash).await
    }

    async fn hash(&self, password: &str) -> Result<String, AuthError> {
        self.passwords
            .hash(password)
            .await
            .map_err(userpass::password_error)
    }

    /// `reset/call {email, password, arguments}`: the user whose password was set, if the
    /// webhook said `success`.
    pub(super) async fn reset_call(&self, body: &FlowBody) -> Result<Option<String>, AuthError> {
        self.url(UserTokenKind::Reset)?;
        let email = normalize_email(required(body.email.as_deref(), "email")?)?;
        let password = body
            .password
            .as_deref()
            .ok_or_else(|| AuthError::missing_field("password"))?;
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
        let decision = decision(&answer).ok_or_else(|| bad_webhook(UserTokenKind::Reset))?;
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
                Err(AuthError::ResetRefused)
            }
            Decision::Success if known => {
                let email = self.consume(UserTokenKind::Reset, &consume).await?;
                self.set_password(&email, &hash).await.map(Some)
            }
            Decision::Success => Ok(None),
        }
    }
}
