//! Issuing confirmation and reset tokens and handing them to the local-userpass webhooks
//! (`register`, `confirm/send`, `confirm/call`, `reset/send`, and `reset/call`'s call).

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use http::{Method, Request, header};
use http_body_util::Full;
use serde_json::{Value, json};
use url::Url;

use super::UserpassFlows;
use crate::auth::AuthError;
use crate::ids;
use crate::outbound::{StatusClass, WebhookError};
use crate::store::{UserTokenKind, UserTokenRecord};
use crate::telemetry::RequestContext;

/// Largest webhook answer read.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// A token as handed to a webhook (the store keeps only its digest).
pub(super) struct Issued {
    pub(super) token: String,
    pub(super) token_id: String,
}

/// What the client reads when the webhook of `kind` is too slow, or broken.
fn words(kind: UserTokenKind) -> (&'static str, &'static str) {
    match kind {
        UserTokenKind::Confirm => ("confirm webhook timed out", "confirm webhook failed"),
        UserTokenKind::Reset => ("reset webhook timed out", "reset webhook failed"),
    }
}

/// The webhook of `kind` answered, but not usably.
pub(super) fn bad_webhook(kind: UserTokenKind) -> WebhookError {
    WebhookError::Unavailable(words(kind).1)
}

impl UserpassFlows {
    pub(super) fn url(&self, kind: UserTokenKind) -> Result<&Url, AuthError> {
        let (url, key) = match kind {
            UserTokenKind::Confirm => (&self.config.confirmation_url, "confirmation_url"),
            UserTokenKind::Reset => (&self.config.reset_url, "reset_url"),
        };
        url.as_ref().ok_or_else(|| {
            AuthError::invalid_parameter(format!(
                "providers.local_userpass.{key} is not configured"
            ))
        })
    }

    /// A new token of `kind` for `email`; its digest is stored unless `store` is false (the
    /// decoy of an unknown email).
    pub(super) async fn issue(
        &self,
        kind: UserTokenKind,
        email: &str,
        store: bool,
    ) -> Result<Issued, AuthError> {
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
    pub(super) async fn post(
        &self,
        kind: UserTokenKind,
        payload: &Value,
    ) -> Result<Bytes, AuthError> {
        let which = kind.as_str();
        let url = self.url(kind)?;
        let request = Request::builder()
            .method(Method::POST)
            .uri(url.as_str())
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::ACCEPT, "application/json")
            .body(Full::new(Bytes::from(payload.to_string())))
            .map_err(|_| bad_webhook(kind))?;
        let answer = self
            .fetcher
            .send(request, self.config.webhook_timeout, MAX_ANSWER_BYTES)
            .await
            .map_err(|err| {
                tracing::warn!(webhook = which, error = %err, "local-userpass webhook failed");
                let (timed_out, failed) = words(kind);
                WebhookError::of(&err, timed_out, failed)
            })?;
        if answer.class() != StatusClass::Success {
            tracing::warn!(
                webhook = which,
                status = answer.status.as_u16(),
                "local-userpass webhook refused"
            );
            return Err(bad_webhook(kind).into());
        }
        Ok(answer.body)
    }

    /// Issues a token of `kind` for `email` and hands it to the webhook.
    pub(super) async fn deliver(&self, kind: UserTokenKind, email: &str) -> Result<(), AuthError> {
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
    pub(super) fn send_in_background(self: &Arc<Self>, kind: UserTokenKind, email: String) {
        let flows = self.clone();
        tokio::spawn(RequestContext::current().attach(async move {
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
        }));
    }
}
