//! One-time grants: minted by the admin API for a user (magic links, second factors, SSO
//! implemented by the app), exchanged once by a client for a new session through the `grant`
//! login provider.
//!
//! # Security
//! A grant is 256 random bits, shown once; the store keeps only its SHA-256 digest. It is
//! single use (the exchange deletes it atomically) and short-lived.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use super::{AuthError, LoginOutcome, Provider};
use crate::ids;
use crate::store::Store;

/// Provider name of the exchange: `POST …/auth/providers/grant/login {"token": …}`.
pub const NAME: &str = "grant";

/// Default and longest lifetime of a grant.
pub const DEFAULT_TTL: Duration = Duration::from_secs(600);
pub const MAX_TTL: Duration = Duration::from_secs(86_400);

/// A freshly minted grant: the only time its value is visible.
#[derive(Debug, Serialize)]
pub struct Grant {
    pub token: String,
    pub user_id: String,
    pub expires_at: i64,
}

/// Mints a grant for an existing, enabled user.
pub async fn mint(store: &dyn Store, user_id: &str, ttl: Duration) -> Result<Grant, AuthError> {
    if ttl.is_zero() || ttl > MAX_TTL {
        return Err(AuthError::GrantTtl {
            max: MAX_TTL.as_secs(),
        });
    }
    let user = store
        .find_user(user_id)
        .await?
        .ok_or(AuthError::UserNotFound)?;
    if user.disabled {
        return Err(AuthError::UserDisabledConflict);
    }
    let token = URL_SAFE_NO_PAD.encode(ids::random_bytes::<32>());
    let now = ids::now();
    let expires_at = now.saturating_add(i64::try_from(ttl.as_secs()).unwrap_or(0));
    store
        .create_grant(
            &crate::tokens::refresh::hash(&token),
            user_id,
            now,
            expires_at,
        )
        .await?;
    Ok(Grant {
        token,
        user_id: user_id.to_owned(),
        expires_at,
    })
}

/// The login provider that exchanges a grant.
pub struct GrantProvider {
    store: Arc<dyn Store>,
}

impl GrantProvider {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store }
    }
}

#[derive(Deserialize)]
struct Exchange {
    token: Option<String>,
}

#[async_trait]
impl Provider for GrantProvider {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn login(&self, body: &serde_json::Value) -> Result<LoginOutcome, AuthError> {
        let token = Exchange::deserialize(body)
            .ok()
            .and_then(|e| e.token)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| AuthError::missing_field("token"))?;
        let user_id = self
            .store
            .consume_grant(&crate::tokens::refresh::hash(&token), ids::now())
            .await?
            .ok_or(AuthError::GrantInvalid)?;
        Ok(LoginOutcome::existing(user_id))
    }
}
