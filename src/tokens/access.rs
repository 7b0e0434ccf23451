//! Access tokens: App Services-shaped JWT claims, signed and verified with the pinned
//! algorithm of the `SigningKeySet`, and the claim rules every accepted token meets.
//!
//! Does not cache or check revocation; `Tokens::authenticate` does.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use http::HeaderValue;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Header, decode};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{SigningKeySet, TokenError};

/// `typ` claim of access tokens; anything else is refused where an access token is expected.
pub const ACCESS_TYP: &str = "access";

/// Longest `sub`, `sid` or provider accepted, in bytes (our own ids are 24 hex digits).
const MAX_IDENTITY_BYTES: usize = 256;

/// Claims of an access token, as App Services names them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccessClaims {
    pub sub: String,
    pub sid: String,
    pub iat: i64,
    pub exp: i64,
    /// Never set by the gateway; honoured (and refused while in the future) when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    pub iss: String,
    pub typ: String,
    pub baas_device_id: String,
    /// The provider that started the session (`anon-user`, `local-userpass`, …).
    #[serde(default)]
    pub baas_provider: String,
    #[serde(default)]
    pub user_data: serde_json::Value,
}

/// The part of a verified token the request path needs.
///
/// Built once when a token is verified and shared (the cache hands out the same `Arc`) by every
/// request that presents the token, so what the request path derives from it is derived here
/// once: the identity header values, and when its session's activity was last noted.
///
/// Kept small, because the token cache holds one per cached token (`benches/token_memory.rs`):
/// the four ids share one allocation, and the three header values share another.
#[derive(Debug)]
pub struct Verified {
    /// `user_id`, `session_id`, `provider` and `device_id`, back to back.
    ids: Box<str>,
    /// Where each of the four ends in `ids`.
    ends: [u32; 4],
    /// `user_id`, `session_id` and `provider` as header values (`None`: not a valid value),
    /// slices of one shared buffer, so handing one to a request is a reference count.
    header_values: [Option<HeaderValue>; 3],
    pub iat: i64,
    pub exp: i64,
    /// The last second [`Verified::first_use_in`] answered true for.
    noted_at: AtomicI64,
    /// The revocation list's version when the session was last found absent from it
    /// (`u64::MAX`: never looked).
    revocation_checked: AtomicU64,
}

impl Verified {
    pub fn new(
        user_id: &str,
        session_id: &str,
        provider: &str,
        device_id: &str,
        iat: i64,
        exp: i64,
    ) -> Self {
        let parts = [user_id, session_id, provider, device_id];
        let mut ends = [0; 4];
        let mut end = 0;
        for (slot, part) in ends.iter_mut().zip(parts) {
            end += part.len();
            *slot = end;
        }
        let ids: Box<str> = parts.concat().into_boxed_str();
        // One buffer for the three header values; slicing makes it shared, so that no later
        // clone (one per proxied request) allocates.
        let shared = Bytes::copy_from_slice(&ids.as_bytes()[..ends[2]]);
        let starts = [0, ends[0], ends[1]];
        let header_values = [0, 1, 2]
            .map(|at| HeaderValue::from_maybe_shared(shared.slice(starts[at]..ends[at])).ok());
        // Token sizes are bounded by the header limits, far below 4 GiB.
        let ends = ends.map(|end| u32::try_from(end).unwrap_or(u32::MAX));
        Self {
            ids,
            ends,
            header_values,
            iat,
            exp,
            noted_at: AtomicI64::new(i64::MIN),
            revocation_checked: AtomicU64::new(u64::MAX),
        }
    }

    pub fn user_id(&self) -> &str {
        self.id(0)
    }

    pub fn session_id(&self) -> &str {
        self.id(1)
    }

    /// The provider that started the session (`anon-user`, `local-userpass`, …).
    pub fn provider(&self) -> &str {
        self.id(2)
    }

    pub fn device_id(&self) -> &str {
        self.id(3)
    }

    fn id(&self, at: usize) -> &str {
        let offset = |end: u32| usize::try_from(end).unwrap_or(usize::MAX);
        let start = at
            .checked_sub(1)
            .map_or(0, |before| offset(self.ends[before]));
        // The ends were taken at the joints of whole strings: always char boundaries.
        self.ids
            .get(start..offset(self.ends[at]))
            .unwrap_or_default()
    }

    /// `user_id`, `session_id` and `provider` as header values, in that order; `None` for one
    /// that is not a valid header value (our own ids always are).
    pub fn header_values(&self) -> &[Option<HeaderValue>; 3] {
        &self.header_values
    }

    /// The revocation list's version ([`super::RevocationList::version`]) at which the session
    /// was last found absent from it; `u64::MAX` if never.
    pub fn revocation_checked(&self) -> u64 {
        self.revocation_checked.load(Ordering::Acquire)
    }

    /// Records that the session was absent from the list at `version`, read before the look-up.
    pub fn set_revocation_checked(&self, version: u64) {
        self.revocation_checked.store(version, Ordering::Release);
    }

    /// Whether this is the first use of the token in second `now` (later than any before):
    /// the session's activity needs noting once per second, not on every request.
    pub fn first_use_in(&self, now: i64) -> bool {
        self.noted_at.fetch_max(now, Ordering::Relaxed) < now
    }
}

impl From<AccessClaims> for Verified {
    fn from(claims: AccessClaims) -> Self {
        Self::new(
            &claims.sub,
            &claims.sid,
            &claims.baas_provider,
            &claims.baas_device_id,
            claims.iat,
            claims.exp,
        )
    }
}

/// What a token must satisfy besides its signature.
#[derive(Debug, Clone)]
pub struct Rules {
    pub issuer: String,
    /// Longest `exp - iat` accepted, in seconds: the access-token lifetime plus the leeway.
    pub max_lifetime: i64,
    /// Clock skew tolerated on `iat` and `nbf`, in seconds.
    pub leeway: i64,
}

/// Signs `claims` with the key active at `now`, naming it in the `kid` header.
pub fn sign(keys: &SigningKeySet, claims: &AccessClaims, now: i64) -> Result<String, TokenError> {
    let active = keys.signing_key(now);
    let mut header = Header::new(keys.algorithm());
    header.kid = Some(active.kid.clone());
    active
        .encoding
        .sign(&header, claims)
        .map_err(TokenError::Signing)
}

/// Verifies the header, the signature and the claims at `now`; returns the claims and the
/// `kid` that verified them.
///
/// # Security
/// - The algorithm comes from configuration (`SigningKeySet::validation`), never from the token: a
///   token whose header says `none`, or HS256 where RS256 is configured (the key-confusion
///   attack), fails before any key is used. The key is chosen by `kid` among our own keys
///   only; `jku`, `jwk` and `x5u` headers are ignored.
/// - A header with `crit` (any value, even `null` or `[]`: we understand no extension) or a
///   `cty` naming a nested JWT is refused: we never sign either, and a verifier that honours
///   them reads a different token than we do.
/// - `exp` is strict (no leeway). `iat` and `nbf` may lie at most `leeway` in the future, and
///   `exp - iat` may not exceed `max_lifetime` (`tokens.access_ttl` + leeway): a validly
///   signed token minted under a longer TTL, or with a far-future `exp`, is refused, so the
///   revocation list only has to remember a session for a bounded time (see `RevocationList`).
/// - `sub`, `sid` and the provider become identity headers for the upstream: unless each is
///   visible ASCII (no space, CR, LF, NUL, DEL or non-ASCII byte) and `sub`/`sid` are not
///   empty, the token is refused here, before it is cached, never forwarded without identity.
pub fn verify(
    keys: &SigningKeySet,
    rules: &Rules,
    token: &str,
    now: i64,
) -> Result<(AccessClaims, String), TokenError> {
    let kid = check_header(token)?;
    let key = keys.find(&kid).ok_or(TokenError::UnknownKey)?;
    let data =
        decode::<AccessClaims>(token, &key.decoding, keys.validation()).map_err(|err| match err
            .kind()
        {
            ErrorKind::ExpiredSignature => TokenError::Expired,
            ErrorKind::InvalidSignature | ErrorKind::InvalidAlgorithm => TokenError::BadSignature,
            _ => TokenError::Malformed,
        })?;
    let claims = data.claims;
    if claims.iss != rules.issuer || claims.typ != ACCESS_TYP {
        return Err(TokenError::Malformed);
    }
    check_times(&claims, rules, now)?;
    check_identity(&claims)?;
    Ok((claims, kid))
}

/// The raw header: its `kid`, after refusing what we do not understand (`crit`, nested JWT).
fn check_header(token: &str) -> Result<String, TokenError> {
    let encoded = token.split('.').next().unwrap_or_default();
    let bytes = URL_SAFE_NO_PAD
        .decode(encoded)
        .map_err(|_| TokenError::Malformed)?;
    let header: Map<String, Value> =
        serde_json::from_slice(&bytes).map_err(|_| TokenError::Malformed)?;
    if header.contains_key("crit") {
        return Err(TokenError::UnsupportedHeader);
    }
    match header.get("cty") {
        None => {}
        Some(Value::String(cty)) if !names_jwt(cty) => {}
        Some(_) => return Err(TokenError::UnsupportedHeader),
    }
    match header.get("kid") {
        Some(Value::String(kid)) => Ok(kid.clone()),
        _ => Err(TokenError::UnknownKey),
    }
}

/// `JWT` or `application/jwt`, in any case (RFC 7519 §5.2: a nested token).
fn names_jwt(cty: &str) -> bool {
    cty.eq_ignore_ascii_case("jwt") || cty.eq_ignore_ascii_case("application/jwt")
}

fn check_times(claims: &AccessClaims, rules: &Rules, now: i64) -> Result<(), TokenError> {
    if claims.exp <= now {
        return Err(TokenError::Expired);
    }
    let horizon = now.saturating_add(rules.leeway);
    if claims.iat > horizon || claims.nbf.is_some_and(|nbf| nbf > horizon) {
        return Err(TokenError::NotYetValid);
    }
    if claims.exp.saturating_sub(claims.iat) > rules.max_lifetime {
        return Err(TokenError::LifetimeTooLong);
    }
    Ok(())
}

fn check_identity(claims: &AccessClaims) -> Result<(), TokenError> {
    let usable = |value: &str, may_be_empty: bool| {
        (may_be_empty || !value.is_empty())
            && value.len() <= MAX_IDENTITY_BYTES
            && value.bytes().all(|b| b.is_ascii_graphic())
    };
    if usable(&claims.sub, false)
        && usable(&claims.sid, false)
        && usable(&claims.baas_provider, true)
    {
        Ok(())
    } else {
        Err(TokenError::UnsafeIdentity)
    }
}
