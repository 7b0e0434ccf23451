//! `Provider`: one login method (`anon-user`, `local-userpass`, …) turning a login body into a
//! user, and `Registry`, the enabled providers by App Services name.
//!
//! Does not create sessions or tokens; `Auth::login` does that for every provider alike.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;

use crate::error::ApiError;

/// Who logged in, as a provider resolved it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginOutcome {
    pub user_id: String,
}

#[async_trait]
pub trait Provider: Send + Sync {
    /// The App Services provider name in the login path.
    fn name(&self) -> &'static str;

    /// Resolves the login body to a user, creating one where the provider does that.
    async fn login(&self, body: &serde_json::Value) -> Result<LoginOutcome, ApiError>;
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
    pub fn get(&self, name: &str) -> Result<&Arc<dyn Provider>, ApiError> {
        self.providers
            .get(name)
            .ok_or_else(|| ApiError::provider_not_found(name))
    }

    pub fn is_enabled(&self, name: &str) -> bool {
        self.providers.contains_key(name)
    }
}
