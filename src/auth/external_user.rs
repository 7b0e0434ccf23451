//! The user behind an external identity (custom-token `sub`, custom-function `id`): found by
//! identity, or to be created with it on first login; the data the issuer sent refreshes the
//! user's data on every login, as App Services refreshes metadata.
//!
//! Does not verify anything: callers pass an identity they already trust. Writes nothing:
//! the new user or data is written with the session, in one transaction (`Auth::login`).

use serde_json::{Map, Value};

use super::provider::LoginOutcome;
use crate::auth::AuthError;
use crate::ids;
use crate::store::{NewIdentity, NewUser, Store};

/// The login of `external_id` at `provider`: its user, with the fields of `data` written over
/// the same fields of the user's data (other fields stay); or, on first login, a new user
/// (type `normal`, data = `data`) to create.
///
/// Two first logins at once: both propose a user; one commits, the other meets
/// `Conflict("identity")` and `Auth::login` resolves again, finding the first one's user.
pub async fn resolve(
    store: &dyn Store,
    provider: &'static str,
    external_id: &str,
    data: Map<String, Value>,
) -> Result<LoginOutcome, AuthError> {
    if let Some(user_id) = store.find_identity(provider, external_id).await? {
        let user_data = refreshed_data(store, &user_id, data).await?;
        return Ok(LoginOutcome {
            user_id,
            new_user: None,
            user_data,
        });
    }
    let user = NewUser {
        id: ids::object_id(),
        user_type: "normal".to_owned(),
        data: Value::Object(data),
        created_at: ids::now(),
    };
    let identity = NewIdentity {
        id: ids::object_id(),
        user_id: user.id.clone(),
        provider_type: provider.to_owned(),
        provider_id: provider.to_owned(),
        external_id: external_id.to_owned(),
    };
    Ok(LoginOutcome::created(user, identity))
}

/// The user's data with `data` written over it, if that changes anything.
async fn refreshed_data(
    store: &dyn Store,
    user_id: &str,
    data: Map<String, Value>,
) -> Result<Option<Value>, AuthError> {
    if data.is_empty() {
        return Ok(None);
    }
    // A user deleted meanwhile is not recreated here; the login then fails as for any
    // unknown user.
    let Some(user) = store.find_user(user_id).await? else {
        return Ok(None);
    };
    Ok(merge(user.data, data))
}

/// `current` with the fields of `update` written over it; `None` when nothing changes.
fn merge(current: Value, update: Map<String, Value>) -> Option<Value> {
    let mut fields = match current {
        Value::Object(fields) => fields,
        _ => Map::new(),
    };
    let mut changed = false;
    for (name, value) in update {
        if fields.get(&name) != Some(&value) {
            fields.insert(name, value);
            changed = true;
        }
    }
    changed.then_some(Value::Object(fields))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(fields) => fields,
            _ => panic!("object expected"),
        }
    }

    #[test]
    fn merge_overwrites_named_fields_and_keeps_the_rest() {
        let merged = merge(
            json!({"email": "old@example.com", "plan": "pro"}),
            map(json!({"email": "new@example.com"})),
        );
        assert_eq!(
            merged,
            Some(json!({"email": "new@example.com", "plan": "pro"}))
        );
    }

    #[test]
    fn merge_without_change_writes_nothing() {
        assert_eq!(
            merge(
                json!({"email": "a@example.com"}),
                map(json!({"email": "a@example.com"}))
            ),
            None
        );
    }

    #[test]
    fn merge_replaces_non_object_data() {
        assert_eq!(
            merge(json!(null), map(json!({"name": "Ada"}))),
            Some(json!({"name": "Ada"}))
        );
    }
}
