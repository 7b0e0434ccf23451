//! `State`: everything a request handler may use, one snapshot of the config and what was
//! built from it (`app` builds it; `admin`, `client_api` and the pipeline read it), and the
//! key reloads that replace parts of it in place.

use std::sync::Arc;

use crate::admin_access::AdminKey;
use crate::assertion;
use crate::auth::Auth;
use crate::config::Config;
use crate::cors::Cors;
use crate::events::Events;
use crate::ids;
use crate::metrics::Metrics;
use crate::proxy::forwarded::TrustedProxies;
use crate::proxy::{Checks, Proxy};
use crate::sessions::activity::Activity;
use crate::store::Store;
use crate::throttle::Throttle;
use crate::tokens::{self, Tokens};

/// Everything a request handler may use, shared by both listeners: one snapshot of the
/// config and what was built from it. A reload builds a new `State` (see `Live`); a request
/// keeps the one it started with to its end.
pub struct State {
    pub config: Config,
    /// The store every part shares (users, sessions, keys, revocations, counters).
    pub store: Arc<dyn Store>,
    /// Access and refresh tokens: the token check, signing keys, the revocation list.
    pub tokens: Arc<Tokens>,
    /// Logins through every provider, refresh, logout, user administration.
    pub auth: Auth,
    pub proxy: Proxy,
    /// `[cors]`: the client listener's CORS policy.
    pub cors: Cors,
    pub admin_key: AdminKey,
    pub activity: Arc<Activity>,
    pub metrics: Metrics,
    /// Session lifecycle events (`[events]`), shared across reloads.
    pub events: Arc<Events>,
    /// `server.trusted_proxies`: whose forwarding headers and request ids count.
    pub trusted: TrustedProxies,
    /// `[login_limits]`: failed attempts per account and client, counted in the store.
    pub throttle: Throttle,
}

/// One reload of each kind at a time: a poll's reload that read the store before a rotation
/// must not replace the set the rotation's own reload read after it (a lost update).
static SIGNING_RELOAD: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
static ASSERTION_RELOAD: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

impl State {
    /// What the proxy checks credentials with.
    pub fn checks(&self) -> Checks<'_> {
        Checks {
            tokens: &self.tokens,
            logins: &self.auth,
        }
    }

    /// Re-reads the signing keys from the store (a rotation on any replica), then the
    /// assertion keys.
    pub async fn reload_keys(&self) {
        if let Err(err) = self.reload_signing_keys().await {
            tracing::warn!(error = %err, "signing key reload failed; retrying");
        }
        self.reload_assertion_keys().await;
    }

    /// Re-reads the signing keys from the store and puts them in use (evicting the cached
    /// tokens of a key that left), one reload at a time.
    pub async fn reload_signing_keys(&self) -> Result<(), tokens::keys::KeyError> {
        let _guard = SIGNING_RELOAD.lock().await;
        if let Some(keys) = tokens::keys::reload(&self.config.tokens, self.store.as_ref()).await? {
            self.tokens.replace_keys(keys);
        }
        Ok(())
    }

    /// Re-reads the identity assertion keys (a rotation on any replica, an automatic rotation
    /// due, an expired key to drop); nothing when assertions are off.
    pub async fn reload_assertion_keys(&self) {
        let Some(assertions) = self.proxy.assertions() else {
            return;
        };
        let rotation = self.config.assertion.key_rotation;
        let _guard = ASSERTION_RELOAD.lock().await;
        match assertion::keys::load(self.store.as_ref(), rotation, ids::now()).await {
            Ok(keys) => assertions.keys().replace(keys),
            Err(err) => tracing::warn!(error = %err, "assertion key reload failed; retrying"),
        }
    }
}
