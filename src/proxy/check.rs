//! The route's auth rule applied to a request's credential: an access token (header, or the
//! browser's WebSocket protocol entry or query parameter), else on Data API routes the Data
//! API credential headers.

use std::sync::Arc;

use http::HeaderMap;

use super::Proxy;
use super::browser_token::Found;
use super::credential::{self, Credential};
use super::data_api::Logins;
use super::routes::Route;
use crate::config::AuthMode;
use crate::error::ApiError;
use crate::tokens::{Tokens, Verified};

/// What the proxy checks credentials with: access tokens, and the logins that Data API
/// credential headers go through (`auth::Auth`).
#[derive(Clone, Copy)]
pub struct Checks<'a> {
    pub tokens: &'a Tokens,
    pub logins: &'a dyn Logins,
}

impl Proxy {
    /// The route's auth rule applied to the request's credential: a token, else (on Data API
    /// routes) the Data API credential headers.
    pub(super) async fn authenticate(
        &self,
        checks: Checks<'_>,
        route: &Route,
        headers: &HeaderMap,
        browser: Found,
        now: i64,
    ) -> Result<Option<Arc<Verified>>, ApiError> {
        let credential = match (credential::extract(headers), &browser) {
            (credential, Found::None) => credential,
            (_, Found::Alone) => return Err(ApiError::websocket_token_alone()),
            (_, Found::Malformed) => Credential::Malformed,
            (Credential::Absent, Found::Token(token)) => Credential::Token(token),
            (Credential::Token(header), Found::Token(token)) if header == token => {
                Credential::Token(header)
            }
            (_, Found::Token(_)) => Credential::Malformed,
        };
        if route.data_api_credentials
            && route.auth != AuthMode::None
            && credential == Credential::Absent
        {
            if let Some(caller) = self
                .data_api
                .authenticate(checks.logins, headers, now)
                .await?
            {
                return Ok(Some(caller));
            }
        }
        match (route.auth, credential) {
            (AuthMode::None, _) | (AuthMode::Optional, Credential::Absent) => Ok(None),
            (AuthMode::Required, Credential::Absent) => {
                Err(ApiError::invalid_session().with_reason("missing_token"))
            }
            (_, Credential::Malformed) => {
                Err(ApiError::invalid_session().with_reason("malformed_credential"))
            }
            (_, Credential::Token(token)) => Ok(Some(checks.tokens.authenticate(token, now)?)),
        }
    }
}
