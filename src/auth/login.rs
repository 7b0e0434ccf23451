//! Logging in: a provider's outcome becomes a user (created on a first login) and a session,
//! written in one transaction, and the session's first access token.

use crate::events::{Event, EventName};
use crate::ids;
use crate::store::{
    NewIdentity, NewSession, NewUser, SessionStart, StoreError, User, UserIdentity,
};
use crate::tokens::{MintRequest, refresh};

use super::{Auth, AuthError, ClientInfo, LoginOutcome, LoginResponse, anon};

/// Longest user agent kept on a session record.
const MAX_USER_AGENT: usize = 512;

impl Auth {
    /// Starts a session for a user found by other means (a one-time grant).
    pub async fn login_as(
        &self,
        user_id: &str,
        provider: &str,
        body: &serde_json::Value,
        client: &ClientInfo,
    ) -> Result<LoginResponse, AuthError> {
        let user = self
            .store
            .find_user(user_id)
            .await?
            .ok_or(AuthError::InvalidSession)?;
        if user.disabled {
            return Err(AuthError::UserDisabled);
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
    ) -> Result<LoginResponse, AuthError> {
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
        Err(AuthError::internal(&format_args!(
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
    ) -> Result<(User, &'static str), AuthError> {
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
    async fn prepare(&self, outcome: LoginOutcome) -> Result<(User, Writes), AuthError> {
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
            .ok_or(AuthError::InvalidPassword)?;
        if user.disabled {
            return Err(AuthError::UserDisabled);
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
    pub(super) async fn start_session(
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

    pub(super) fn mint(
        &self,
        user: &User,
        session_id: &str,
        provider: &str,
        device_id: &str,
        now: i64,
    ) -> Result<String, AuthError> {
        let request = MintRequest {
            user_id: &user.id,
            session_id,
            provider,
            device_id,
            user_data: &user.data,
        };
        Ok(self.tokens.mint(&request, now)?)
    }
}

/// What a login writes besides its session (see `SessionStart`).
#[derive(Default)]
pub(super) struct Writes {
    pub(super) new_user: Option<(NewUser, NewIdentity)>,
    pub(super) new_identity: Option<NewIdentity>,
    pub(super) user_data: Option<serde_json::Value>,
}

/// Why a session did not start.
pub(super) enum StartFailure {
    /// An identity this login would create exists (a concurrent first login or link).
    IdentityTaken,
    Other(AuthError),
}

impl StartFailure {
    pub(super) fn into_api(self) -> AuthError {
        match self {
            Self::IdentityTaken => StoreError::Conflict("identity").into(),
            Self::Other(err) => err,
        }
    }
}

impl From<AuthError> for StartFailure {
    fn from(err: AuthError) -> Self {
        Self::Other(err)
    }
}

impl From<StoreError> for StartFailure {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Conflict(_) => Self::IdentityTaken,
            // The user was deleted while logging in.
            StoreError::NotFound => Self::Other(AuthError::InvalidSession),
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

/// The SDK's `options.device.deviceId` (a string or `{"$oid": …}`), if it is an ObjectId.
pub(super) fn requested_device_id(body: &serde_json::Value) -> Option<String> {
    let value = body.pointer("/options/device/deviceId")?;
    let text = value
        .as_str()
        .or_else(|| value.get("$oid").and_then(|v| v.as_str()))?;
    // The all-zero id is the SDKs' "no device yet".
    (ids::is_object_id(text) && text.bytes().any(|b| b != b'0')).then(|| text.to_ascii_lowercase())
}

pub(super) fn truncate(text: &str, max: usize) -> String {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}
