//! `anon-user`: every login creates a new anonymous user (App Services deletes them after
//! `anon_user_ttl`).

use async_trait::async_trait;

use super::provider::{LoginOutcome, Provider};
use crate::auth::AuthError;
use crate::ids;
use crate::store::{NewIdentity, NewUser};

pub const NAME: &str = "anon-user";

/// Writes nothing itself: the new user is created with its session.
#[derive(Default)]
pub struct AnonProvider;

#[async_trait]
impl Provider for AnonProvider {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn login(&self, _body: &serde_json::Value) -> Result<LoginOutcome, AuthError> {
        let user_id = ids::object_id();
        let identity_id = ids::object_id();
        let user = NewUser {
            id: user_id.clone(),
            user_type: "normal".to_owned(),
            data: serde_json::json!({}),
            created_at: ids::now(),
        };
        let identity = NewIdentity {
            id: identity_id.clone(),
            user_id: user_id.clone(),
            provider_type: NAME.to_owned(),
            provider_id: NAME.to_owned(),
            external_id: identity_id,
        };
        // Written with the session, in one transaction (`Auth::login`).
        Ok(LoginOutcome::created(user, identity))
    }
}
