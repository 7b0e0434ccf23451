//! The user behind an external identity (custom-token `sub`, custom-function `id`): found by
//! identity, or created with it on first login; the data the issuer sent refreshes the user's
//! data on every login, as App Services refreshes metadata.
//!
//! Does not verify anything: callers pass an identity they already trust.

use serde_json::{Map, Value};

use crate::error::ApiError;
use crate::ids;
use crate::store::{NewIdentity, NewUser, Store, StoreError};

/// The user id of `external_id` at `provider`, creating the user (type `normal`, data =
/// `data`) on first login. On later logins the fields of `data` overwrite the same fields of
/// the user's data; other fields stay.
///
/// Two first logins at once: one creates the user, the other meets `Conflict("identity")`
/// and finds the user the first one created.
pub async fn find_or_create(
    store: &dyn Store,
    provider: &'static str,
    external_id: &str,
    data: Map<String, Value>,
) -> Result<String, ApiError> {
    // The second round only runs after losing a creation race, when the lookup succeeds.
    for _ in 0..2 {
        if let Some(user_id) = store.find_identity(provider, external_id).await? {
            refresh_data(store, &user_id, data).await?;
            return Ok(user_id);
        }
        let user = NewUser {
            id: ids::object_id(),
            user_type: "normal".to_owned(),
            data: Value::Object(data.clone()),
            created_at: ids::now(),
        };
        let identity = NewIdentity {
            id: ids::object_id(),
            user_id: user.id.clone(),
            provider_type: provider.to_owned(),
            provider_id: provider.to_owned(),
            external_id: external_id.to_owned(),
        };
        match store.create_user(&user, &identity).await {
            Ok(()) => {
                tracing::info!(user_id = %user.id, provider, "user created");
                return Ok(user.id);
            }
            Err(StoreError::Conflict(_)) => continue,
            Err(other) => return Err(other.into()),
        }
    }
    Err(ApiError::internal(&format_args!(
        "{provider} identity conflicts but cannot be found"
    )))
}

/// Writes `data` over the user's data, if that changes anything.
async fn refresh_data(
    store: &dyn Store,
    user_id: &str,
    data: Map<String, Value>,
) -> Result<(), ApiError> {
    if data.is_empty() {
        return Ok(());
    }
    // A user deleted meanwhile is not recreated here; the login then fails as for any
    // unknown user.
    let Some(user) = store.find_user(user_id).await? else {
        return Ok(());
    };
    if let Some(merged) = merge(user.data, data) {
        store.update_user_data(user_id, &merged).await?;
    }
    Ok(())
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
