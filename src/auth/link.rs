//! Identity linking (`POST …/login?link=true` with the user's access token): the identity a
//! login body proves is added to the signed-in user, who gets a new session.
//!
//! Does not verify credentials itself; each provider's `identify` does.
//!
//! # Security
//! Nothing changes unless the provider verified the body exactly as for a login. An identity
//! that already belongs to another user is refused (409) and stays where it is — with one
//! exception that App Services has by design: an email/password account that was registered
//! and has never logged in is "pending", not a user yet, so linking it (its password proven)
//! moves it to the signed-in user.

use serde_json::{Map, Value};

use super::login::{StartFailure, Writes, requested_device_id};
use super::{Auth, AuthError, ClientInfo, LoginResponse};
use crate::ids;
use crate::store::NewIdentity;
use crate::tokens::Verified;

impl Auth {
    /// Links the identity `body` proves at `provider` to the caller's user and starts a
    /// session for that user (`user_id` is the caller's). Linking an identity the user already
    /// has is a plain new session.
    pub async fn link(
        &self,
        provider: &str,
        body: &Value,
        caller: &Verified,
        client: &ClientInfo,
    ) -> Result<LoginResponse, AuthError> {
        let provider = self.registry.get(provider)?;
        let user = self
            .store
            .find_user(caller.user_id())
            .await?
            .ok_or(AuthError::InvalidSession)?;
        if user.disabled {
            return Err(AuthError::UserDisabled);
        }
        let proven = provider.identify(body).await?;
        let name = provider.name();
        let mut data = proven.data;
        let owner = match proven.owner {
            // Owned by construction (an API key): only its owner may "link" it, a no-op.
            Some(owner) if owner == user.id => Some(owner),
            Some(_) => return Err(AuthError::IdentityTaken),
            None => self.store.find_identity(name, &proven.external_id).await?,
        };
        let mut writes = Writes::default();
        match owner {
            // Linked with the session, in one transaction.
            None => {
                writes.new_identity = Some(NewIdentity {
                    id: ids::object_id(),
                    user_id: user.id.clone(),
                    provider_type: name.to_owned(),
                    provider_id: name.to_owned(),
                    external_id: proven.external_id,
                });
            }
            Some(owner) if owner == user.id => {}
            Some(owner) => {
                let pending = self
                    .store
                    .find_user(&owner)
                    .await?
                    .filter(|p| p.last_login_at.is_none() && p.identities.len() == 1)
                    .ok_or(AuthError::IdentityTaken)?;
                // Its own transaction: a crash before the session leaves the identity moved,
                // and linking again is then a plain new session.
                if !self.store.adopt_pending_user(&pending.id, &user.id).await? {
                    return Err(AuthError::IdentityTaken);
                }
                if let Value::Object(pending_data) = pending.data {
                    for (key, value) in pending_data {
                        data.entry(key).or_insert(value);
                    }
                }
            }
        }
        let mut user = user;
        if let Some(merged) = add_missing(&user.data, &data) {
            user.data = merged.clone();
            writes.user_data = Some(merged);
        }
        let linked = writes.new_identity.is_some();
        let response = self
            .start_session(&user, name, writes, requested_device_id(body), client)
            .await
            .map_err(|failure| match failure {
                StartFailure::IdentityTaken => AuthError::IdentityTaken,
                StartFailure::Other(err) => err,
            })?;
        tracing::info!(user_id = %user.id, provider = name, linked, "identity linked");
        Ok(response)
    }
}

/// `current` with the fields of `extra` it lacks, or `None` when nothing is missing.
fn add_missing(current: &Value, extra: &Map<String, Value>) -> Option<Value> {
    let mut merged = current.as_object().cloned().unwrap_or_default();
    let mut changed = false;
    for (key, value) in extra {
        if !merged.contains_key(key) {
            merged.insert(key.clone(), value.clone());
            changed = true;
        }
    }
    changed.then_some(Value::Object(merged))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn linking_adds_missing_data_and_never_overwrites() {
        let extra: Map<String, Value> = serde_json::from_value(json!({"email": "a@b.c"})).unwrap();
        assert_eq!(
            add_missing(&json!({}), &extra),
            Some(json!({"email": "a@b.c"}))
        );
        assert_eq!(add_missing(&json!({"email": "x@y.z"}), &extra), None);
        assert_eq!(add_missing(&json!({"name": "n"}), &Map::new()), None);
    }
}
