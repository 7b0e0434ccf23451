//! `Provider`: one login method (`anon-user`, `local-userpass`, …) turning a login body into a
//! user, and `Registry`, the enabled providers by App Services name.
//!
//! Does not create sessions or tokens; `Auth::login` does that for every provider alike.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;

use crate::auth::AuthError;
use crate::store::{NewIdentity, NewUser};

/// Who logged in, as a provider resolved it — and what the login must write for them, which
/// the provider does not write itself: `Auth` writes it with the session in one transaction,
/// so a crash between the two never leaves a user without a session.
#[derive(Debug, Clone)]
pub struct LoginOutcome {
    pub user_id: String,
    /// The user this login creates, with its first identity (`None`: the user exists).
    pub new_user: Option<(NewUser, NewIdentity)>,
    /// New data for an existing user (metadata an issuer sent).
    pub user_data: Option<serde_json::Value>,
}

impl LoginOutcome {
    /// An existing user, nothing to write but the session.
    pub fn existing(user_id: String) -> Self {
        Self {
            user_id,
            new_user: None,
            user_data: None,
        }
    }

    /// A user this login creates.
    pub fn created(user: NewUser, identity: NewIdentity) -> Self {
        Self {
            user_id: user.id.clone(),
            new_user: Some((user, identity)),
            user_data: None,
        }
    }
}

/// The identity a login body proves, without any user being created or changed: what
/// `?link=true` adds to the signed-in user.
#[derive(Debug, Clone, PartialEq)]
pub struct ProvenIdentity {
    /// The provider's own key for the identity (an email, a token's `sub`, a webhook's `id`);
    /// unique per provider, stored as `identities.external_id`.
    pub external_id: String,
    /// Fields for the user's data (e.g. `email`); linking adds those the user lacks.
    pub data: serde_json::Map<String, serde_json::Value>,
    /// Set when the identity belongs to a user by construction, not through an identity row
    /// (a user API key belongs to the key's user); `Auth::link` then refuses anyone else.
    pub owner: Option<String>,
}

#[async_trait]
pub trait Provider: Send + Sync {
    /// The App Services provider name in the login path.
    fn name(&self) -> &'static str;

    /// Resolves the login body to a user — an existing one, or one to create (written by the
    /// caller, with the session).
    async fn login(&self, body: &serde_json::Value) -> Result<LoginOutcome, AuthError>;

    /// Verifies the login body like `login` and answers the identity it proves, creating and
    /// changing nothing (identity linking). Providers that cannot be linked keep this default,
    /// which refuses with 400.
    async fn identify(&self, _body: &serde_json::Value) -> Result<ProvenIdentity, AuthError> {
        Err(AuthError::invalid_parameter(format!(
            "{} identities cannot be linked to a user",
            self.name()
        )))
    }
}

/// The enabled providers.
#[derive(Default)]
pub struct Registry {
    providers: HashMap<&'static str, Arc<dyn Provider>>,
}

impl Registry {
    pub fn register(&mut self, provider: Arc<dyn Provider>) {
        self.providers.insert(provider.name(), provider);
    }

    /// A disabled and an unknown provider look the same: 404 `AuthProviderNotFound`.
    pub fn get(&self, name: &str) -> Result<&Arc<dyn Provider>, AuthError> {
        self.providers
            .get(name)
            .ok_or_else(|| super::AuthError::ProviderNotFound(name.to_owned()))
    }

    pub fn is_enabled(&self, name: &str) -> bool {
        self.providers.contains_key(name)
    }
}
