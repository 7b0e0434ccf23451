//! `Auth`: login through any provider, refresh, logout and profile — the session lifecycle
//! every provider shares.
//!
//! Does not parse HTTP; `client_api` decodes requests and calls these methods.

pub mod anon;
pub mod api_key;
pub mod custom_function;
pub mod custom_token;
pub mod external_user;
pub mod import;
mod link;
pub mod oidc;
pub mod password;
pub mod provider;
mod rotation;
pub mod userpass;
pub mod userpass_flows;

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use http::StatusCode;
use serde::Serialize;

use crate::config::Config;
use crate::error::{ApiError, ErrorCode};
use crate::events::{Event, EventName, Events, RevokeReason};
use crate::ids;
use crate::outbound::{Fetcher, Outbound};
use crate::store::{
    NewIdentity, NewSession, NewUser, Session, SessionCap, SessionStart, Store, StoreError, User,
    UserIdentity,
};
use crate::tokens::{MintRequest, Tokens, Verified, refresh};

pub use api_key::ApiKeys;
pub use password::Passwords;
pub use provider::{LoginOutcome, ProvenIdentity, Provider, Registry};
pub use userpass::UserpassProvider;

/// Settings key under which the admin API stores the refresh-token lifetime.
pub const REFRESH_TTL_SETTING: &str = "refresh_token_expiration_seconds";

/// Where a request came from, as recorded on its session.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    pub ip: Option<IpAddr>,
    pub user_agent: Option<String>,
}

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

/// Anonymous users deleted per lifecycle batch.
const PURGE_BATCH: i64 = 100;

/// Longest user agent kept on a session record.
const MAX_USER_AGENT: usize = 512;

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
            registry.register(Arc::new(crate::sessions::grants::GrantProvider::new(
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
    pub fn oidc(&self, name: &str) -> Result<&Arc<oidc::OidcProvider>, ApiError> {
        self.oidc
            .get(name)
            .ok_or_else(|| ApiError::provider_not_found(name))
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
    pub fn api_keys(&self) -> Result<&Arc<ApiKeys>, ApiError> {
        self.api_keys
            .as_ref()
            .ok_or_else(|| ApiError::provider_not_found(api_key::NAME))
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
    pub fn userpass(&self) -> Result<&Arc<UserpassProvider>, ApiError> {
        self.userpass
            .as_ref()
            .ok_or_else(|| ApiError::provider_not_found(userpass::NAME))
    }

    /// Starts a session for a user found by other means (a one-time grant).
    pub async fn login_as(
        &self,
        user_id: &str,
        provider: &str,
        body: &serde_json::Value,
        client: &ClientInfo,
    ) -> Result<LoginResponse, ApiError> {
        let user = self
            .store
            .find_user(user_id)
            .await?
            .ok_or_else(ApiError::invalid_session)?;
        if user.disabled {
            return Err(user_disabled());
        }
        self.start_session(
            &user,
            provider,
            Writes::default(),
            requested_device_id(body),
            client,
        )
        .await
        .map_err(StartFailure::into_api)
    }

    /// Logs in through `provider` and starts a session: the user the login creates (if any),
    /// its data and the session are written in one transaction.
    pub async fn login(
        &self,
        provider: &str,
        body: &serde_json::Value,
        client: &ClientInfo,
    ) -> Result<LoginResponse, ApiError> {
        let provider = self.registry.get(provider)?;
        // A second round only after losing a first-login race for an external identity:
        // the other login's user exists now and is found.
        for _ in 0..2 {
            let outcome = provider.login(body).await?;
            let creates = outcome.new_user.is_some();
            let (user, writes) = self.prepare(outcome).await?;
            match self
                .start_session(
                    &user,
                    provider.name(),
                    writes,
                    requested_device_id(body),
                    client,
                )
                .await
            {
                Err(StartFailure::IdentityTaken) if creates => continue,
                other => return other.map_err(StartFailure::into_api),
            }
        }
        Err(ApiError::internal(&format_args!(
            "{} identity conflicts but cannot be found",
            provider.name()
        )))
    }

    /// Who a login body of `provider` proves to be, without starting a session (the Data API
    /// credential headers): the enabled user and the provider's name. A user the login
    /// creates, or new data, is written at once (there is no session to write it with).
    pub async fn resolve(
        &self,
        provider: &str,
        body: &serde_json::Value,
    ) -> Result<(User, &'static str), ApiError> {
        let provider = self.registry.get(provider)?;
        let outcome = provider.login(body).await?;
        let (user, writes) = self.prepare(outcome).await?;
        if let Some((new_user, identity)) = &writes.new_user {
            self.store.create_user(new_user, identity).await?;
            self.events
                .emit(user_created(
                    &new_user.id,
                    provider.name(),
                    &new_user.user_type,
                ))
                .await;
        }
        if let Some(data) = &writes.user_data {
            self.store.update_user_data(&user.id, data).await?;
        }
        Ok((user, provider.name()))
    }

    /// The user a login outcome names, as it will be once the login's writes are done (a new
    /// user built in memory, new data applied), and those writes. 401 for an unknown or
    /// disabled user.
    async fn prepare(&self, outcome: LoginOutcome) -> Result<(User, Writes), ApiError> {
        if let Some((new_user, identity)) = outcome.new_user {
            let user = User {
                id: new_user.id.clone(),
                user_type: new_user.user_type.clone(),
                data: new_user.data.clone(),
                disabled: false,
                created_at: new_user.created_at,
                last_login_at: None,
                identities: vec![UserIdentity {
                    id: identity.id.clone(),
                    provider_type: identity.provider_type.clone(),
                    provider_id: identity.provider_id.clone(),
                }],
            };
            let writes = Writes {
                new_user: Some((new_user, identity)),
                ..Writes::default()
            };
            return Ok((user, writes));
        }
        let mut user = self
            .store
            .find_user(&outcome.user_id)
            .await?
            .ok_or_else(ApiError::invalid_password)?;
        if user.disabled {
            return Err(user_disabled());
        }
        if let Some(data) = &outcome.user_data {
            user.data = data.clone();
        }
        let writes = Writes {
            user_data: outcome.user_data,
            ..Writes::default()
        };
        Ok((user, writes))
    }

    /// Writes the session with everything else the login writes (`writes`), in one
    /// transaction, and mints its access token.
    async fn start_session(
        &self,
        user: &User,
        provider: &str,
        writes: Writes,
        device_id: Option<String>,
        client: &ClientInfo,
    ) -> Result<LoginResponse, StartFailure> {
        let now = ids::now();
        let (refresh_token, refresh_hash) = refresh::generate();
        // Anonymous sessions do not expire; the anonymous user is deleted instead.
        let expires_at = if provider == anon::NAME {
            None
        } else {
            let ttl = self.refresh_ttl().await?;
            Some(now.saturating_add(i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX)))
        };
        let session = NewSession {
            id: ids::object_id(),
            user_id: user.id.clone(),
            provider_type: provider.to_owned(),
            device_id: device_id.unwrap_or_else(ids::object_id),
            refresh_hash,
            client_ip: client.ip.map(|ip| ip.to_string()),
            user_agent: client
                .user_agent
                .as_deref()
                .map(|ua| truncate(ua, MAX_USER_AGENT)),
            created_at: now,
            expires_at,
        };
        let created = writes.new_user.is_some();
        let start = SessionStart {
            new_user: writes.new_user,
            new_identity: writes.new_identity,
            user_data: writes.user_data,
            session,
            cap: self.session_cap,
        };
        let evicted = match self.store.start_session(&start).await {
            Err(StoreError::SessionCapReached(max)) => {
                crate::metrics::record_session_cap(crate::metrics::CapAction::Rejected, 1);
                tracing::info!(user_id = %user.id, max, "login refused by the session cap");
                return Err(StoreError::SessionCapReached(max).into());
            }
            started => started?,
        };
        let session = start.session;
        let mut happened = Vec::with_capacity(2);
        if created {
            tracing::info!(user_id = %user.id, provider, "user created");
            happened.push(user_created(&user.id, provider, &user.user_type));
        }
        happened.push(
            Event::new(EventName::SessionCreated, &user.id)
                .session(&session.id)
                .data(serde_json::json!({
                    "provider": provider,
                    "device_id": session.device_id,
                })),
        );
        self.events.emit_all(happened).await;
        if !evicted.is_empty() {
            self.evicted(&user.id, &evicted, now).await;
        }
        let access_token = self.mint(user, &session.id, provider, &session.device_id, now)?;
        tracing::info!(user_id = %user.id, session_id = %session.id, provider, "session started");
        Ok(LoginResponse {
            access_token,
            refresh_token,
            user_id: user.id.clone(),
            device_id: session.device_id,
        })
    }

    fn mint(
        &self,
        user: &User,
        session_id: &str,
        provider: &str,
        device_id: &str,
        now: i64,
    ) -> Result<String, ApiError> {
        let request = MintRequest {
            user_id: &user.id,
            session_id,
            provider,
            device_id,
            user_data: &user.data,
        };
        Ok(self.tokens.mint(&request, now)?)
    }

    /// The refresh-token lifetime for new sessions: the admin API's setting, else config.
    pub async fn refresh_ttl(&self) -> Result<Duration, ApiError> {
        let stored = self.store.get_setting(REFRESH_TTL_SETTING).await?;
        Ok(stored
            .and_then(|s| s.parse().ok())
            .map_or(self.refresh_ttl, Duration::from_secs))
    }

    /// The live session of a refresh token, or 401 with the text realm-web recognizes.
    async fn live_session(&self, refresh_token: &str) -> Result<Session, ApiError> {
        let now = ids::now();
        self.store
            .find_session_by_refresh_hash(&refresh::hash(refresh_token))
            .await?
            .filter(|session| session.is_live(now))
            .ok_or_else(refresh_token_not_found)
    }

    /// The live session of a refresh token and its enabled user (the refresh-token endpoints:
    /// `POST /auth/session`, `/auth/api_keys`); else 401 `InvalidSession`.
    pub async fn refresh_session(&self, refresh_token: &str) -> Result<(Session, User), ApiError> {
        let session = self.live_session(refresh_token).await?;
        let user = self
            .store
            .find_user(&session.user_id)
            .await?
            .filter(|u| !u.disabled)
            .ok_or_else(refresh_token_not_found)?;
        Ok((session, user))
    }

    /// `POST /auth/session`: a new access token for the session of `refresh_token` and, with
    /// rotation on, its new refresh token (see `rotation` for the rule).
    pub async fn refresh(&self, refresh_token: &str) -> Result<Refreshed, ApiError> {
        if let Some(rotation) = &self.rotation {
            return self.refresh_rotating(rotation, refresh_token).await;
        }
        let (session, user) = self.refresh_session(refresh_token).await?;
        self.store.touch_session(&session.id, ids::now()).await?;
        self.refreshed(&session, &user, None).await
    }

    /// Mints the access token of a refreshed session and announces the refresh.
    async fn refreshed(
        &self,
        session: &Session,
        user: &User,
        refresh_token: Option<String>,
    ) -> Result<Refreshed, ApiError> {
        let access_token = self.mint(
            user,
            &session.id,
            &session.provider_type,
            &session.device_id,
            ids::now(),
        )?;
        self.events
            .emit(Event::new(EventName::SessionRefreshed, &session.user_id).session(&session.id))
            .await;
        Ok(Refreshed {
            access_token,
            refresh_token,
            user_id: session.user_id.clone(),
        })
    }

    /// Sessions that `sessions.max_per_user` evicted for a new login: refused here at once
    /// (other replicas learn it from the store), and announced.
    async fn evicted(&self, user_id: &str, session_ids: &[String], now: i64) {
        self.revoked_here(session_ids, now);
        crate::metrics::record_session_cap(
            crate::metrics::CapAction::Evicted,
            u64::try_from(session_ids.len()).unwrap_or(u64::MAX),
        );
        tracing::info!(
            user_id,
            sessions = session_ids.len(),
            "sessions evicted by the session cap"
        );
        let events: Vec<Event> = session_ids
            .iter()
            .map(|id| Event::revoked(user_id, id, RevokeReason::Cap))
            .collect();
        self.events.emit_all(events).await;
    }

    /// `DELETE /auth/session`: the refresh token and every access token of its session die.
    /// Returns the session's user id (for the access line).
    pub async fn logout(&self, refresh_token: &str) -> Result<String, ApiError> {
        let session = self.live_session(refresh_token).await?;
        self.revoke_session(&session, RevokeReason::Logout).await?;
        Ok(session.user_id)
    }

    /// Revokes one session in the store and, at once, on this replica; `session.revoked`
    /// with `reason` if it was live.
    pub async fn revoke_session(
        &self,
        session: &Session,
        reason: RevokeReason,
    ) -> Result<(), ApiError> {
        let now = ids::now();
        let session_id = session.id.as_str();
        if self.store.revoke_session(session_id, now).await? {
            self.revoked_here(std::slice::from_ref(&session.id), now);
            self.events
                .emit(Event::revoked(&session.user_id, session_id, reason))
                .await;
        } else {
            self.tokens.revocations().revoke([session_id], now);
        }
        tracing::info!(session_id, "session revoked");
        Ok(())
    }

    /// Revokes every session of a user but `keep` (`session.revoked` with `reason` for each);
    /// returns how many were live.
    pub async fn revoke_user(
        &self,
        user_id: &str,
        keep: Option<&str>,
        reason: RevokeReason,
    ) -> Result<usize, ApiError> {
        let now = ids::now();
        let revoked = self.store.revoke_user_sessions(user_id, keep, now).await?;
        self.revoked_here(&revoked, now);
        self.emit_revoked(user_id, &revoked, reason).await;
        tracing::info!(user_id, sessions = revoked.len(), "user sessions revoked");
        Ok(revoked.len())
    }

    /// `session.revoked` for each of a user's `session_ids`.
    async fn emit_revoked(&self, user_id: &str, session_ids: &[String], reason: RevokeReason) {
        // Collected first: a borrowing iterator held across `.await` makes the future's
        // `Send` bound higher-ranked, which the listener's `spawn` cannot prove.
        let events: Vec<Event> = session_ids
            .iter()
            .map(|session_id| Event::revoked(user_id, session_id, reason))
            .collect();
        self.events.emit_all(events).await;
    }

    /// Applies revocations this replica made to its own list at once (others learn them
    /// from the store).
    fn revoked_here(&self, session_ids: &[String], now: i64) {
        self.tokens
            .revocations()
            .revoke(session_ids.iter().map(String::as_str), now);
        let count = u64::try_from(session_ids.len()).unwrap_or(u64::MAX);
        crate::metrics::record_revocations(count, crate::metrics::RevocationSource::Local);
    }

    /// Disables (revoking every session) or enables a user. 404 if there is no such user.
    pub async fn set_user_disabled(&self, user_id: &str, disabled: bool) -> Result<(), ApiError> {
        let now = ids::now();
        let revoked = self
            .store
            .set_user_disabled(user_id, disabled, now)
            .await?
            .ok_or_else(user_not_found)?;
        self.revoked_here(&revoked, now);
        self.credentials_changed();
        if disabled {
            self.emit_revoked(user_id, &revoked, RevokeReason::UserDisabled)
                .await;
            self.events
                .emit(Event::new(EventName::UserDisabled, user_id))
                .await;
        }
        tracing::info!(
            user_id,
            disabled,
            sessions_revoked = revoked.len(),
            "user updated"
        );
        Ok(())
    }

    /// Deletes a user after revoking every session. 404 if there is no such user.
    pub async fn delete_user(&self, user_id: &str) -> Result<(), ApiError> {
        let now = ids::now();
        let revoked = self
            .store
            .delete_user(user_id, now)
            .await?
            .ok_or_else(user_not_found)?;
        self.revoked_here(&revoked, now);
        self.credentials_changed();
        self.emit_revoked(user_id, &revoked, RevokeReason::UserDeleted)
            .await;
        self.events
            .emit(Event::new(EventName::UserDeleted, user_id))
            .await;
        tracing::info!(user_id, sessions_revoked = revoked.len(), "user deleted");
        Ok(())
    }

    /// Runs the lifecycle chores: deletes anonymous users older than `anon_user_ttl` and rows
    /// nobody can use any more. Returns (anonymous sessions revoked, sessions purged).
    pub async fn purge(&self, anon_user_ttl: Duration) -> Result<(usize, u64), ApiError> {
        let now = ids::now();
        let anon_ttl = i64::try_from(anon_user_ttl.as_secs()).unwrap_or(i64::MAX / 2);
        let created_before = now.saturating_sub(anon_ttl);
        let mut revoked_total = 0;
        // Bounded batches, yielding between them: a backlog of thousands never holds the
        // store (or this task's thread) for long at a stretch.
        loop {
            let (users, revoked) = self
                .store
                .purge_anonymous_users(created_before, now, PURGE_BATCH)
                .await?;
            self.revoked_here(&revoked, now);
            revoked_total += revoked.len();
            if i64::try_from(users).unwrap_or(i64::MAX) < PURGE_BATCH {
                break;
            }
            tokio::task::yield_now().await;
        }
        // A revoked or expired session's access tokens are dead after one access TTL.
        let retention = i64::try_from(self.tokens.access_ttl().as_secs()).unwrap_or(0) + 120;
        let purged = self
            .store
            .purge_expired(now.saturating_sub(retention), now)
            .await?;
        Ok((revoked_total, purged))
    }

    /// `GET /auth/profile` for an authenticated caller.
    pub async fn profile(&self, caller: &Verified) -> Result<Profile, ApiError> {
        let user = self
            .store
            .find_user(caller.user_id())
            .await?
            .ok_or_else(ApiError::invalid_session)?;
        let data = if user.data.is_object() {
            user.data
        } else {
            serde_json::json!({})
        };
        Ok(Profile {
            user_id: user.id,
            domain_id: self.domain_id.clone(),
            identities: user.identities,
            data,
            user_type: user.user_type,
        })
    }
}

/// What a login writes besides its session (see `SessionStart`).
#[derive(Default)]
struct Writes {
    new_user: Option<(NewUser, NewIdentity)>,
    new_identity: Option<NewIdentity>,
    user_data: Option<serde_json::Value>,
}

/// Why a session did not start.
enum StartFailure {
    /// An identity this login would create exists (a concurrent first login or link).
    IdentityTaken,
    Other(ApiError),
}

impl StartFailure {
    fn into_api(self) -> ApiError {
        match self {
            Self::IdentityTaken => StoreError::Conflict("identity").into(),
            Self::Other(err) => err,
        }
    }
}

impl From<ApiError> for StartFailure {
    fn from(err: ApiError) -> Self {
        Self::Other(err)
    }
}

impl From<StoreError> for StartFailure {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Conflict(_) => Self::IdentityTaken,
            // The user was deleted while logging in.
            StoreError::NotFound => Self::Other(ApiError::invalid_session()),
            other => Self::Other(other.into()),
        }
    }
}

/// `user.created` for a user a login, a registration or an operator created.
pub(crate) fn user_created(user_id: &str, provider: &str, user_type: &str) -> Event {
    Event::new(EventName::UserCreated, user_id).data(serde_json::json!({
        "provider": provider,
        "user_type": user_type,
    }))
}

fn user_disabled() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        ErrorCode::UserDisabled,
        "user disabled",
    )
}

fn user_not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        ErrorCode::UserNotFound,
        "user not found",
    )
}

/// 401 `InvalidSession` whose text realm-web's `logOut` treats as "already logged out".
fn refresh_token_not_found() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        ErrorCode::InvalidSession,
        "invalid session: failed to find refresh token",
    )
}

/// The SDK's `options.device.deviceId` (a string or `{"$oid": …}`), if it is an ObjectId.
fn requested_device_id(body: &serde_json::Value) -> Option<String> {
    let value = body.pointer("/options/device/deviceId")?;
    let text = value
        .as_str()
        .or_else(|| value.get("$oid").and_then(|v| v.as_str()))?;
    // The all-zero id is the SDKs' "no device yet".
    (ids::is_object_id(text) && text.bytes().any(|b| b != b'0')).then(|| text.to_ascii_lowercase())
}

fn truncate(text: &str, max: usize) -> String {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_id_accepts_string_and_ejson_oid_only_when_object_id() {
        let oid = "5f1b2c3d4e5f6a7b8c9d0e1f";
        assert_eq!(
            requested_device_id(&serde_json::json!({"options":{"device":{"deviceId": oid}}})),
            Some(oid.to_owned())
        );
        assert_eq!(
            requested_device_id(
                &serde_json::json!({"options":{"device":{"deviceId": {"$oid": oid}}}})
            ),
            Some(oid.to_owned())
        );
        assert_eq!(
            requested_device_id(&serde_json::json!({"options":{"device":{"deviceId": "nope"}}})),
            None
        );
        assert_eq!(
            requested_device_id(
                &serde_json::json!({"options":{"device":{"deviceId": "000000000000000000000000"}}})
            ),
            None
        );
        assert_eq!(requested_device_id(&serde_json::json!([1, 2])), None);
    }

    #[test]
    fn truncate_respects_char_boundaries() {
        assert_eq!(truncate("aé", 2), "a");
        assert_eq!(truncate("abc", 10), "abc");
    }
}
