//! `GET /.well-known/jwks.json`: the public keys of the identity assertion, for upstreams to
//! verify `identity_headers.assertion` with. No credential needed; private keys never leave
//! `assertion::keys`.

use http::header::{CACHE_CONTROL, CONTENT_TYPE};
use http::{HeaderValue, Response, StatusCode};

use crate::assertion::keys::JWKS_MAX_AGE;
use crate::state::State;
use crate::web::{self, Body};

/// The JWKS; cacheable for `JWKS_MAX_AGE`, shorter than the lead of a rotated key, so a
/// verifier always holds a key before it signs. Only routed while assertions are on.
pub fn get(state: &State) -> Response<Body> {
    let jwks = state
        .proxy
        .assertions()
        .map(|a| a.keys().current().jwks())
        .unwrap_or_else(|| bytes::Bytes::from_static(br#"{"keys":[]}"#));
    let mut response = Response::new(web::full(jwks));
    *response.status_mut() = StatusCode::OK;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    let cache = format!("public, max-age={}", JWKS_MAX_AGE.as_secs());
    headers.insert(
        CACHE_CONTROL,
        HeaderValue::from_str(&cache).expect("digits are a valid header value"),
    );
    response
}
