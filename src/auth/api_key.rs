//! `api-key`: user API keys (made by a signed-in user for themself), server API keys (made
//! through the admin API, each with its own `server` user) and the `api-key` login provider.
//!
//! Does not route HTTP or decide who may manage keys; `client_api::api_keys` and
//! `admin::api_keys` do.
//!
//! # Security
//! A key is 256 random bits (64 hex characters), answered once, at creation; the store keeps
//! only its SHA-256 digest (like refresh tokens: a fast digest is right for a secret with 256
//! bits of entropy, and a login stays one indexed lookup). An unknown, a disabled and a deleted
//! key get the same answer. Every change of a key bumps the credential epoch, so the Data API
//! cache of verified credentials on this replica forgets it at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::AuthError;
use super::provider::{LoginOutcome, ProvenIdentity, Provider};
use crate::ids;
use crate::store::{ApiKeyRecord, NewIdentity, NewUser, Store, StoreError, UserQuery};

pub const NAME: &str = "api-key";

/// `user_type` of the users behind server API keys, as App Services.
pub const SERVER_USER_TYPE: &str = "server";

/// Longest key name, in characters.
const MAX_NAME_LEN: usize = 64;

/// A key as App Services answers it: `key` only in the answer to its creation.
#[derive(Debug, Clone, Serialize)]
pub struct ApiKeyView {
    #[serde(rename = "_id")]
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    pub name: String,
    pub disabled: bool,
}

impl From<ApiKeyRecord> for ApiKeyView {
    fn from(record: ApiKeyRecord) -> Self {
        Self {
            id: record.id,
            key: None,
            name: record.name,
            disabled: record.disabled,
        }
    }
}

/// The API keys of every user, and the server keys.
pub struct ApiKeys {
    store: Arc<dyn Store>,
    /// Bumped on every disable and delete (see `Auth::credentials_epoch`).
    epoch: Arc<AtomicU64>,
}

/// A new key and the digest the store keeps.
fn generate() -> (String, Vec<u8>) {
    let key = hex::encode(ids::random_bytes::<32>());
    let hash = digest(&key);
    (key, hash)
}

fn digest(key: &str) -> Vec<u8> {
    crate::tokens::digest(key).to_vec()
}

fn check_name(name: Option<&str>) -> Result<String, AuthError> {
    let name = name.map(str::trim).unwrap_or_default();
    let len = name.chars().count();
    if len == 0 || len > MAX_NAME_LEN || name.chars().any(char::is_control) {
        return Err(AuthError::invalid_parameter(format!(
            "api key name must be 1 to {MAX_NAME_LEN} characters"
        )));
    }
    Ok(name.to_owned())
}

impl ApiKeys {
    pub fn new(store: Arc<dyn Store>, epoch: Arc<AtomicU64>) -> Self {
        Self { store, epoch }
    }

    /// Creates a key for `user_id`; the answer is the only time its value is visible.
    pub async fn create(&self, user_id: &str, name: Option<&str>) -> Result<ApiKeyView, AuthError> {
        let name = check_name(name)?;
        let (key, key_hash) = generate();
        let record = ApiKeyRecord {
            id: ids::object_id(),
            user_id: user_id.to_owned(),
            name,
            key_hash,
            disabled: false,
            created_at: ids::now(),
        };
        match self.store.create_api_key(&record).await {
            Ok(()) => {}
            Err(StoreError::Conflict(_)) => return Err(AuthError::ApiKeyNameTaken),
            Err(other) => return Err(other.into()),
        }
        tracing::info!(user_id, key_id = %record.id, "api key created");
        let mut view = ApiKeyView::from(record);
        view.key = Some(key);
        Ok(view)
    }

    /// The user's keys, oldest first, without their values.
    pub async fn list(&self, user_id: &str) -> Result<Vec<ApiKeyView>, AuthError> {
        let keys = self.store.list_api_keys(user_id).await?;
        Ok(keys.into_iter().map(ApiKeyView::from).collect())
    }

    /// One of the user's keys; another user's key is "not found".
    pub async fn get(&self, user_id: &str, key_id: &str) -> Result<ApiKeyView, AuthError> {
        self.store
            .list_api_keys(user_id)
            .await?
            .into_iter()
            .find(|k| k.id == key_id)
            .map(ApiKeyView::from)
            .ok_or_else(|| AuthError::ApiKeyNotFound)
    }

    /// Enables or disables one of the user's keys.
    pub async fn set_disabled(
        &self,
        user_id: &str,
        key_id: &str,
        disabled: bool,
    ) -> Result<(), AuthError> {
        if !self
            .store
            .set_api_key_disabled(user_id, key_id, disabled)
            .await?
        {
            return Err(AuthError::ApiKeyNotFound);
        }
        self.epoch.fetch_add(1, Ordering::AcqRel);
        tracing::info!(user_id, key_id, disabled, "api key updated");
        Ok(())
    }

    /// Deletes one of the user's keys.
    pub async fn delete(&self, user_id: &str, key_id: &str) -> Result<(), AuthError> {
        if !self.store.delete_api_key(user_id, key_id).await? {
            return Err(AuthError::ApiKeyNotFound);
        }
        self.epoch.fetch_add(1, Ordering::AcqRel);
        tracing::info!(user_id, key_id, "api key deleted");
        Ok(())
    }

    /// The enabled key with this value, if any.
    async fn find_enabled(&self, key: &str) -> Result<ApiKeyRecord, AuthError> {
        if key.is_empty() {
            return Err(AuthError::InvalidApiKey);
        }
        self.store
            .find_api_key_by_hash(&digest(key))
            .await?
            .filter(|record| !record.disabled)
            .ok_or(AuthError::InvalidApiKey)
    }

    /// Creates a server key with its own `server` user (data `{name}`, one `api-key` identity
    /// whose id is the key id).
    pub async fn create_server_key(&self, name: Option<&str>) -> Result<ApiKeyView, AuthError> {
        let name = check_name(name)?;
        if self
            .list_server_keys()
            .await?
            .iter()
            .any(|k| k.name == name)
        {
            return Err(AuthError::ApiKeyNameTaken);
        }
        let now = ids::now();
        let key_id = ids::object_id();
        let user = NewUser {
            id: ids::object_id(),
            user_type: SERVER_USER_TYPE.to_owned(),
            data: serde_json::json!({ "name": name }),
            created_at: now,
        };
        let identity = NewIdentity {
            id: ids::object_id(),
            user_id: user.id.clone(),
            provider_type: NAME.to_owned(),
            provider_id: NAME.to_owned(),
            external_id: key_id.clone(),
        };
        self.store.create_user(&user, &identity).await?;
        let (key, key_hash) = generate();
        let record = ApiKeyRecord {
            id: key_id,
            user_id: user.id.clone(),
            name,
            key_hash,
            disabled: false,
            created_at: now,
        };
        if let Err(err) = self.store.create_api_key(&record).await {
            // Do not leave a server user without its key behind.
            if let Err(cleanup) = self.store.delete_user(&user.id, now).await {
                tracing::warn!(user_id = %user.id, error = %cleanup, "server user cleanup failed");
            }
            return Err(err.into());
        }
        tracing::info!(user_id = %user.id, key_id = %record.id, "server api key created");
        let mut view = ApiKeyView::from(record);
        view.key = Some(key);
        Ok(view)
    }

    /// The server user behind a server key, or 404.
    pub async fn server_key_owner(&self, key_id: &str) -> Result<String, AuthError> {
        let owner = self
            .store
            .find_identity(NAME, key_id)
            .await?
            .ok_or(AuthError::ApiKeyNotFound)?;
        let user = self
            .store
            .find_user(&owner)
            .await?
            .filter(|u| u.user_type == SERVER_USER_TYPE)
            .ok_or(AuthError::ApiKeyNotFound)?;
        Ok(user.id)
    }

    /// One server key.
    pub async fn get_server_key(&self, key_id: &str) -> Result<ApiKeyView, AuthError> {
        let owner = self.server_key_owner(key_id).await?;
        self.get(&owner, key_id).await
    }

    /// Every server key, ordered by the id of its user.
    pub async fn list_server_keys(&self) -> Result<Vec<ApiKeyView>, AuthError> {
        const PAGE: i64 = 1000;
        let mut keys = Vec::new();
        let mut after = None;
        loop {
            let users = self
                .store
                .list_users(&UserQuery {
                    provider: Some(NAME.to_owned()),
                    email: None,
                    after: after.clone(),
                    limit: PAGE,
                })
                .await?;
            let full_page = i64::try_from(users.len()).unwrap_or(PAGE) == PAGE;
            after = users.last().map(|u| u.id.clone());
            for user in users
                .into_iter()
                .filter(|u| u.user_type == SERVER_USER_TYPE)
            {
                keys.extend(
                    self.store
                        .list_api_keys(&user.id)
                        .await?
                        .into_iter()
                        .map(ApiKeyView::from),
                );
            }
            if !full_page {
                return Ok(keys);
            }
        }
    }
}

/// The `api-key` login provider: `{"key": …}` logs in as the key's user.
pub struct ApiKeyProvider {
    keys: Arc<ApiKeys>,
}

impl ApiKeyProvider {
    pub fn new(keys: Arc<ApiKeys>) -> Self {
        Self { keys }
    }
}

#[derive(Deserialize)]
struct LoginBody {
    #[serde(default)]
    key: Option<String>,
}

fn presented_key(body: &serde_json::Value) -> Result<String, AuthError> {
    LoginBody::deserialize(body)
        .map_err(|_| AuthError::bad_request("expected {\"key\": <api key>}"))?
        .key
        .ok_or_else(|| AuthError::missing_field("key"))
}

#[async_trait]
impl Provider for ApiKeyProvider {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn login(&self, body: &serde_json::Value) -> Result<LoginOutcome, AuthError> {
        let key = self.keys.find_enabled(&presented_key(body)?).await?;
        Ok(LoginOutcome::existing(key.user_id))
    }

    /// A key proves its own identity, owned by the key's user: linking it to anyone else is
    /// refused by `Auth::link`.
    async fn identify(&self, body: &serde_json::Value) -> Result<ProvenIdentity, AuthError> {
        let key = self.keys.find_enabled(&presented_key(body)?).await?;
        Ok(ProvenIdentity {
            external_id: key.id,
            data: serde_json::Map::new(),
            owner: Some(key.user_id),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_carry_256_bits_and_are_stored_as_digest() {
        let (key, hash) = generate();
        assert_eq!(key.len(), 64);
        assert!(key.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(hash, digest(&key));
        assert_eq!(hash.len(), 32);
        assert_ne!(generate().0, key);
    }

    #[test]
    fn names_are_bounded_and_printable() {
        assert_eq!(check_name(Some(" ci ")).unwrap(), "ci");
        assert!(check_name(None).is_err());
        assert!(check_name(Some("  ")).is_err());
        assert!(check_name(Some("a\nb")).is_err());
        assert!(check_name(Some(&"k".repeat(64))).is_ok());
        assert!(check_name(Some(&"k".repeat(65))).is_err());
    }

    #[test]
    fn created_key_view_shows_the_value_and_listed_views_do_not() {
        let view = ApiKeyView {
            id: "k".into(),
            key: None,
            name: "n".into(),
            disabled: false,
        };
        let json = serde_json::to_value(&view).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"_id": "k", "name": "n", "disabled": false})
        );
    }
}
