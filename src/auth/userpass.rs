//! `local-userpass`: email + password accounts, argon2id-hashed, with registration. Imported
//! accounts may carry a bcrypt hash (rehashed at their first login) or none (login answers
//! `PasswordResetRequired` until a reset).
//!
//! Emails are compared after trimming and lowercasing the whole address (one rule, stated in
//! the README). Confirmation and reset flows are in `userpass_flows`.

use std::sync::Arc;

use async_trait::async_trait;
use serde::Deserialize;

use super::AuthError;
use super::password::{PasswordError, Passwords, needs_rehash};
use super::provider::{LoginOutcome, ProvenIdentity, Provider};
use crate::ids;
use crate::store::{LocalAccount, NewIdentity, NewUser, Store, StoreError};

pub const NAME: &str = "local-userpass";

/// Longest email accepted (RFC 5321 path limit).
const MAX_EMAIL_LEN: usize = 254;

pub struct UserpassProvider {
    store: Arc<dyn Store>,
    passwords: Arc<Passwords>,
    auto_confirm: bool,
}

#[derive(Deserialize)]
struct LoginBody {
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
}

#[derive(Deserialize)]
pub struct RegisterBody {
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
}

/// The one rule for email identity: trimmed, lowercased.
pub fn normalize_email(email: &str) -> Result<String, AuthError> {
    let email = email.trim().to_lowercase();
    let valid = email.len() <= MAX_EMAIL_LEN
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && !domain.is_empty() && !domain.contains('@')
        })
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    if valid {
        Ok(email)
    } else {
        Err(AuthError::bad_request("email invalid"))
    }
}

impl UserpassProvider {
    pub fn new(store: Arc<dyn Store>, passwords: Arc<Passwords>, auto_confirm: bool) -> Self {
        Self {
            store,
            passwords,
            auto_confirm,
        }
    }

    /// Registers a new account. A taken email is 409 `AccountNameInUse`, as App Services.
    /// Registers through the client API: confirmed at once with auto-confirm. Returns the new
    /// user's id.
    pub async fn register(&self, body: RegisterBody) -> Result<String, AuthError> {
        self.create(body, self.auto_confirm).await
    }

    /// Creates an account that is confirmed (the admin API). Returns the new user's id.
    pub async fn register_confirmed(&self, body: RegisterBody) -> Result<String, AuthError> {
        self.create(body, true).await
    }

    async fn create(&self, body: RegisterBody, confirmed: bool) -> Result<String, AuthError> {
        let email = body
            .email
            .as_deref()
            .ok_or_else(|| AuthError::missing_field("email"))?;
        let email = normalize_email(email)?;
        let password = body
            .password
            .ok_or_else(|| AuthError::missing_field("password"))?;
        let password_hash = self
            .passwords
            .hash(&password)
            .await
            .map_err(password_error)?;
        let user_id = ids::object_id();
        let user = NewUser {
            id: user_id.clone(),
            user_type: "normal".to_owned(),
            data: serde_json::json!({ "email": email }),
            created_at: ids::now(),
        };
        let identity = NewIdentity {
            id: ids::object_id(),
            user_id: user_id.clone(),
            provider_type: NAME.to_owned(),
            provider_id: NAME.to_owned(),
            external_id: email.clone(),
        };
        let account = LocalAccount {
            email,
            user_id,
            password_hash,
            confirmed,
            password_reset_required: false,
        };
        match self
            .store
            .create_local_user(&user, &identity, &account)
            .await
        {
            Ok(()) => Ok(user.id),
            Err(StoreError::Conflict(_)) => Err(AuthError::NameInUse),
            Err(other) => Err(other.into()),
        }
    }
}

/// A password that breaks the length rule is the client's mistake (400); hashing failing is ours.
pub(super) fn password_error(err: PasswordError) -> AuthError {
    match err {
        PasswordError::Length => AuthError::bad_request(err.to_string()),
        PasswordError::Hashing(cause) => AuthError::internal(&cause),
        PasswordError::Busy => AuthError::hash_pool_full(),
    }
}

impl UserpassProvider {
    /// The confirmed account whose password the login body proves.
    async fn verify(&self, body: &serde_json::Value) -> Result<LocalAccount, AuthError> {
        let body = LoginBody::deserialize(body)
            .map_err(|_| AuthError::bad_request("expected {username, password}"))?;
        // A body without the fields is the client's mistake, told apart from wrong credentials.
        let username = body
            .username
            .ok_or_else(|| AuthError::missing_field("username"))?;
        let password = body
            .password
            .ok_or_else(|| AuthError::missing_field("password"))?;
        // Unknown user, malformed email and wrong password take the same path and answer.
        let account = match normalize_email(&username) {
            Ok(email) => self.store.find_local_account(&email).await?,
            Err(_) => None,
        };
        let usable = account.as_ref().filter(|a| !a.password_reset_required);
        let hash = usable.map(|a| a.password_hash.as_str());
        // An account without a password yet still costs one verification, like any other.
        let password_ok = self
            .passwords
            .verify(&password, hash)
            .await
            .map_err(password_error)?;
        if account.as_ref().is_some_and(|a| a.password_reset_required) {
            return Err(AuthError::PasswordResetRequired);
        }
        let Some(account) = account.filter(|_| password_ok) else {
            return Err(AuthError::InvalidPassword);
        };
        if !account.confirmed {
            return Err(AuthError::ConfirmationRequired);
        }
        if needs_rehash(&account.password_hash) {
            self.rehash(&account, &password).await;
        }
        Ok(account)
    }

    /// Replaces an imported hash (bcrypt, other argon2id parameters) by the gateway's own,
    /// after it verified. Best effort: a failure is logged, the login goes on.
    async fn rehash(&self, account: &LocalAccount, password: &str) {
        let new_hash = match self.passwords.hash(password).await {
            Ok(hash) => hash,
            // A password outside today's length rule keeps its imported hash.
            Err(err) => {
                tracing::info!(user_id = %account.user_id, error = %err, "imported password hash kept");
                return;
            }
        };
        match self
            .store
            .rehash_local_password(&account.email, &account.password_hash, &new_hash)
            .await
        {
            Ok(true) => {
                tracing::info!(user_id = %account.user_id, "imported password rehashed to argon2id")
            }
            Ok(false) => {}
            Err(err) => {
                tracing::warn!(user_id = %account.user_id, error = %err, "password rehash failed");
            }
        }
    }
}

#[async_trait]
impl Provider for UserpassProvider {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn login(&self, body: &serde_json::Value) -> Result<LoginOutcome, AuthError> {
        let account = self.verify(body).await?;
        Ok(LoginOutcome::existing(account.user_id))
    }

    /// The email identity, once its password is proven (and the account confirmed).
    async fn identify(&self, body: &serde_json::Value) -> Result<ProvenIdentity, AuthError> {
        let account = self.verify(body).await?;
        let mut data = serde_json::Map::new();
        data.insert("email".to_owned(), account.email.clone().into());
        Ok(ProvenIdentity {
            external_id: account.email,
            data,
            owner: None,
        })
    }
}
