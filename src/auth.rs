//! `Auth`: login through any provider, refresh, logout and profile — the session lifecycle
//! every provider shares — and the providers themselves. User administration (disable,
//! delete, purge) is `users::UserAdmin`; refusals are `AuthError`s.
//!
//! Does not parse HTTP; `client_api` decodes requests and calls these methods.

pub mod anon;
pub mod api_key;
pub mod custom_function;
pub mod custom_token;
mod error;
pub mod external_user;
pub mod grants;
pub mod import;
mod link;
mod login;
pub mod oidc;
pub mod password;
pub mod provider;
mod refresh;
mod revoke;
mod rotation;
#[cfg(test)]
mod tests;
pub mod userpass;
pub mod userpass_flows;
pub mod users;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::Serialize;

use crate::config::Config;

use crate::events::Events;
use crate::outbound::{Fetcher, Outbound};
use crate::store::{SessionCap, Store};
use crate::tokens::Tokens;
pub use crate::web::ClientInfo;

pub use api_key::ApiKeys;
pub use error::AuthError;
pub(crate) use login::user_created;
pub use password::Passwords;
pub use provider::{LoginOutcome, ProvenIdentity, Provider, Registry};
pub use userpass::UserpassProvider;
pub use users::UserAdmin;

/// Settings key under which the admin API stores the refresh-token lifetime.
pub const REFRESH_TTL_SETTING: &str = "refresh_token_expiration_seconds";

/// The login answer, exactly as App Services sends it.
#[derive(Debug, Serialize)]
pub struct LoginResponse {
    pub access_token: String,
    pub refresh_token: String,
    pub user_id: String,
    pub device_id: String,
}

/// `POST /auth/session`'s answer, and the session's user id (for the access line).
#[derive(Debug)]
pub struct Refreshed {
    pub access_token: String,
    /// The session's new refresh token, when rotation is on (`tokens.rotate_refresh_tokens`).
    pub refresh_token: Option<String>,
    pub user_id: String,
}

/// `GET /auth/profile`, as App Services sends it.
#[derive(Debug, Serialize)]
pub struct Profile {
    pub user_id: String,
    pub domain_id: String,
    pub identities: Vec<crate::store::UserIdentity>,
    pub data: serde_json::Value,
    #[serde(rename = "type")]
    pub user_type: String,
}

pub struct Auth {
    store: Arc<dyn Store>,
    tokens: Arc<Tokens>,
    /// Session lifecycle events, emitted once a change is committed.
    events: Arc<Events>,
    registry: Registry,
    userpass: Option<Arc<UserpassProvider>>,
    userpass_flows: Option<Arc<userpass_flows::UserpassFlows>>,
    api_keys: Option<Arc<ApiKeys>>,
    refresh_ttl: Duration,
    /// `Some` when `tokens.rotate_refresh_tokens` is on.
    rotation: Option<rotation::Rotation>,
    /// `sessions.max_per_user` and `on_limit`; `None`: unlimited.
    session_cap: Option<SessionCap>,
    domain_id: String,
    /// Bumped whenever a credential may have stopped working (a key disabled or deleted, a
    /// user disabled or deleted, a password reset): caches of verified credentials compare it.
    credentials_epoch: Arc<AtomicU64>,
    /// The enabled OpenID Connect providers by name (also in `registry`).
    oidc: std::collections::HashMap<&'static str, Arc<oidc::OidcProvider>>,
    /// Redirect-flow logins awaiting their callback.
    pending_logins: oidc::redirect::PendingLogins,
    /// The argon2 hash pool every password provider shares.
    passwords: Arc<Passwords>,
    /// The webhook / JWKS client every provider shares (and the event deliverer).
    fetcher: Fetcher,
}

impl Auth {
    pub fn new(
        config: &Config,
        store: Arc<dyn Store>,
        tokens: Arc<Tokens>,
        events: Arc<Events>,
    ) -> Self {
        let passwords = Arc::new(Passwords::new(
            config.auth.password_hash_concurrency,
            config.auth.password_hash_queue,
        ));
        // One pool for every webhook and JWKS fetch (see `crate::outbound`).
        let fetcher = Outbound::new(&config.outbound).fetcher(None);
        let mut registry = Registry::default();
        if config.providers.anon_user {
            registry.register(Arc::new(anon::AnonProvider));
        }
        let userpass = config.providers.local_userpass.then(|| {
            Arc::new(UserpassProvider::new(
                store.clone(),
                passwords.clone(),
                config.providers.local_userpass_auto_confirm,
            ))
        });
        let userpass_flows = config.providers.local_userpass.then(|| {
            Arc::new(userpass_flows::UserpassFlows::new(
                store.clone(),
                passwords.clone(),
                config.providers.userpass.clone(),
                config.providers.local_userpass_auto_confirm,
                fetcher.clone(),
            ))
        });
        if let Some(userpass) = &userpass {
            registry.register(userpass.clone());
        }
        let credentials_epoch = Arc::new(AtomicU64::new(0));
        let api_keys = config
            .providers
            .api_key
            .then(|| Arc::new(ApiKeys::new(store.clone(), credentials_epoch.clone())));
        if let Some(api_keys) = &api_keys {
            registry.register(Arc::new(api_key::ApiKeyProvider::new(api_keys.clone())));
        }
        if config.providers.grant {
            registry.register(Arc::new(crate::auth::grants::GrantProvider::new(
                store.clone(),
            )));
        }
        if let Some(custom) = &config.providers.custom_token {
            registry.register(Arc::new(custom_token::CustomTokenProvider::new(
                custom,
                store.clone(),
                fetcher.clone(),
            )));
        }
        if let Some(custom) = &config.providers.custom_function {
            registry.register(Arc::new(custom_function::CustomFunctionProvider::new(
                custom,
                store.clone(),
                fetcher.clone(),
            )));
        }
        let mut oidc = std::collections::HashMap::new();
        for provider in &config.providers.oidc {
            let provider = Arc::new(oidc::OidcProvider::new(
                provider,
                store.clone(),
                fetcher.clone(),
            ));
            registry.register(provider.clone());
            oidc.insert(provider.name(), provider);
        }
        let domain_id = hex::encode(&crate::tokens::digest(&config.app.id)[..12]);
        Self {
            store,
            tokens,
            events,
            registry,
            userpass,
            userpass_flows,
            api_keys,
            refresh_ttl: config.tokens.refresh_ttl,
            rotation: config
                .tokens
                .rotate_refresh_tokens
                .then(|| rotation::Rotation::new(config.tokens.rotation_grace)),
            session_cap: config.sessions.cap(),
            domain_id,
            credentials_epoch,
            oidc,
            pending_logins: oidc::redirect::PendingLogins::default(),
            passwords,
            fetcher,
        }
    }

    /// The argon2 hash pool (its `runs` count shows whether a refused login hashed anything).
    pub fn passwords(&self) -> &Arc<Passwords> {
        &self.passwords
    }

    /// An enabled OpenID Connect provider (else 404 `AuthProviderNotFound`).
    pub fn oidc(&self, name: &str) -> Result<&Arc<oidc::OidcProvider>, AuthError> {
        self.oidc
            .get(name)
            .ok_or_else(|| AuthError::ProviderNotFound(name.to_owned()))
    }

    /// Redirect-flow logins awaiting their callback.
    pub fn pending_logins(&self) -> &oidc::redirect::PendingLogins {
        &self.pending_logins
    }

    /// The enabled login providers (the Data API credential headers log in through them).
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// API keys, if the `api-key` provider is enabled (else 404 `AuthProviderNotFound`).
    pub fn api_keys(&self) -> Result<&Arc<ApiKeys>, AuthError> {
        self.api_keys
            .as_ref()
            .ok_or_else(|| AuthError::ProviderNotFound(api_key::NAME.to_owned()))
    }

    /// Changes whenever a credential may have stopped working on this replica; caches of
    /// verified credentials drop entries from an older epoch.
    pub fn credentials_epoch(&self) -> u64 {
        self.credentials_epoch.load(Ordering::Acquire)
    }

    /// Marks every cached credential verification as stale.
    pub(crate) fn credentials_changed(&self) {
        self.credentials_epoch.fetch_add(1, Ordering::AcqRel);
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The App Services `domain_id` of this app (derived from the app id).
    pub fn domain_id(&self) -> &str {
        &self.domain_id
    }

    /// The outbound client for webhooks (`crate::outbound`), built from the running config.
    pub fn fetcher(&self) -> &Fetcher {
        &self.fetcher
    }

    pub fn events(&self) -> &Arc<Events> {
        &self.events
    }

    pub fn tokens(&self) -> &Arc<Tokens> {
        &self.tokens
    }

    /// The local-userpass provider, if enabled (registration routes need it).
    pub fn userpass(&self) -> Result<&Arc<UserpassProvider>, AuthError> {
        self.userpass
            .as_ref()
            .ok_or_else(|| AuthError::ProviderNotFound(userpass::NAME.to_owned()))
    }
}
