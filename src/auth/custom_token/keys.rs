//! `Keys`: the keys that verify custom tokens, by source — a fixed key per algorithm family
//! (an HMAC secret or a PEM public key), a JWKS file read at start, or a JWKS URL fetched on
//! first use and cached.
//!
//! JWKS URL policy: the set is fetched at the first login, kept for `MAX_AGE` (then the next
//! login fetches it again, and keeps the old set if that fails), and fetched again when a
//! token names an unknown `kid` — at most once per `KID_REFETCH_INTERVAL`, whatever the
//! tokens ask. A successful fetch replaces the whole set: a key the issuer removed stops
//! verifying. Fetches are serialized; logins that waited use what the fetch brought.
//!
//! # Security
//!
//! Keys come from configuration only. A token's `jku`, `jwk`, `x5u` and `x5c` headers are
//! never read, so a token cannot name the key (or the URL of the key) that verifies it. A key
//! verifies only algorithms of its own family, and only its JWK `alg` when it states one.
//!
//! Does not check claims; `custom_token` does.

use std::str::FromStr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, Request, header};
use http_body_util::Full;
use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey};
use serde::Deserialize;

use super::Refusal;
use crate::config::{CustomTokenConfig, CustomTokenKey};
use crate::outbound::Fetcher;

/// A fetched JWKS is used this long before the next login fetches it again.
const MAX_AGE: Duration = Duration::from_secs(600);
/// At most one fetch per this interval because a token named an unknown `kid`.
const KID_REFETCH_INTERVAL: Duration = Duration::from_secs(30);
/// With no keys at all, a failed fetch is not retried sooner than this.
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(5);
/// Deadline of one JWKS fetch.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest JWKS document read.
const MAX_JWKS_BYTES: usize = 256 * 1024;

pub enum Keys {
    /// One key per algorithm family: an HMAC secret, or a PEM public key.
    Fixed(Vec<DecodingKey>),
    /// A JWKS file, read at start.
    Set(Arc<KeySet>),
    /// A JWKS URL.
    Remote(Box<RemoteJwks>),
}

impl Keys {
    /// Loads the configured keys; a JWKS URL is fetched with `fetcher` at the first login.
    pub fn load(config: &CustomTokenConfig, fetcher: Fetcher) -> Result<Self, String> {
        match &config.key {
            CustomTokenKey::JwksUrl(url) => Ok(Keys::Remote(Box::new(RemoteJwks::new(
                jwks_url(url)?,
                fetcher,
            )))),
            _ => Self::local(config),
        }
    }

    /// Checks the configured keys without a client: files are read and parsed, a JWKS URL
    /// only parsed (config validation calls this).
    pub fn check(config: &CustomTokenConfig) -> Result<(), String> {
        match &config.key {
            CustomTokenKey::JwksUrl(url) => jwks_url(url).map(drop),
            _ => Self::local(config).map(drop),
        }
    }

    /// Keys that come from configuration itself: a secret, a PEM file, a JWKS file.
    fn local(config: &CustomTokenConfig) -> Result<Self, String> {
        match &config.key {
            CustomTokenKey::Secret(secret) => {
                Ok(Keys::Fixed(vec![DecodingKey::from_secret(secret.expose())]))
            }
            CustomTokenKey::Pem(path) => {
                let pem = std::fs::read(path)
                    .map_err(|err| format!("cannot read {}: {err}", path.display()))?;
                let mut keys: Vec<DecodingKey> = Vec::new();
                for family in config.algorithms.iter().filter_map(|a| family_of_name(a)) {
                    if keys.iter().any(|k| k.family() == family) {
                        continue;
                    }
                    let key = match family {
                        AlgorithmFamily::Rsa => DecodingKey::from_rsa_pem(&pem),
                        AlgorithmFamily::Ec => DecodingKey::from_ec_pem(&pem),
                        AlgorithmFamily::Ed => DecodingKey::from_ed_pem(&pem),
                        AlgorithmFamily::Hmac => continue,
                    }
                    .map_err(|_| {
                        format!(
                            "{} is not a {} public key in PEM",
                            path.display(),
                            family_label(family)
                        )
                    })?;
                    keys.push(key);
                }
                Ok(Keys::Fixed(keys))
            }
            CustomTokenKey::JwksFile(path) => {
                let text = std::fs::read(path)
                    .map_err(|err| format!("cannot read {}: {err}", path.display()))?;
                let set = KeySet::parse(&text).map_err(|r| format!("{}: {r}", path.display()))?;
                Ok(Keys::Set(Arc::new(set)))
            }
            CustomTokenKey::JwksUrl(_) => Err("a JWKS URL has no local keys".to_owned()),
        }
    }

    /// The key that verifies a token of `alg` naming `kid`.
    pub async fn select(&self, alg: Algorithm, kid: Option<&str>) -> Result<DecodingKey, Refusal> {
        match self {
            Keys::Fixed(keys) => keys
                .iter()
                .find(|k| k.family() == family(alg))
                .cloned()
                .ok_or(Refusal::Algorithm),
            Keys::Set(set) => set.select(alg, kid),
            Keys::Remote(remote) => remote.select(alg, kid).await,
        }
    }
}

/// Verification keys of a JWKS document.
#[derive(Debug)]
pub struct KeySet {
    keys: Vec<SetKey>,
}

struct SetKey {
    kid: Option<String>,
    /// The JWK's `alg`, when it states one.
    alg: Option<Algorithm>,
    key: DecodingKey,
}

impl std::fmt::Debug for SetKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SetKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

impl SetKey {
    fn fits(&self, alg: Algorithm) -> bool {
        self.key.family() == family(alg) && self.alg.is_none_or(|own| own == alg)
    }
}

#[derive(Deserialize)]
struct RawSet {
    keys: Vec<serde_json::Value>,
}

impl KeySet {
    /// Reads a JWKS document, keeping the public signature keys it can use (RSA, EC,
    /// Ed25519) and skipping the rest (encryption keys, symmetric keys, unknown types).
    /// A document without one usable key is an error.
    pub fn parse(bytes: &[u8]) -> Result<Self, String> {
        let raw: RawSet =
            serde_json::from_slice(bytes).map_err(|err| format!("not a JWKS document: {err}"))?;
        let keys: Vec<SetKey> = raw.keys.into_iter().filter_map(usable_key).collect();
        if keys.is_empty() {
            return Err("no usable signature key in the JWKS".to_owned());
        }
        Ok(Self { keys })
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// With a `kid`: the key of that id (`UnknownKey` if none, `Algorithm` if it does not
    /// serve `alg`). Without: the one key that serves `alg`, if there is exactly one.
    pub fn select(&self, alg: Algorithm, kid: Option<&str>) -> Result<DecodingKey, Refusal> {
        let found = match kid {
            Some(kid) => {
                let mut named = self
                    .keys
                    .iter()
                    .filter(|k| k.kid.as_deref() == Some(kid))
                    .peekable();
                if named.peek().is_none() {
                    return Err(Refusal::UnknownKey);
                }
                named.find(|k| k.fits(alg)).ok_or(Refusal::Algorithm)?
            }
            None => {
                let mut fitting = self.keys.iter().filter(|k| k.fits(alg));
                match (fitting.next(), fitting.next()) {
                    (Some(only), None) => only,
                    _ => return Err(Refusal::UnknownKey),
                }
            }
        };
        Ok(found.key.clone())
    }
}

fn usable_key(value: serde_json::Value) -> Option<SetKey> {
    let jwk: Jwk = serde_json::from_value(value).ok()?;
    if matches!(
        jwk.common.public_key_use,
        Some(PublicKeyUse::Encryption | PublicKeyUse::Other(_))
    ) || matches!(jwk.algorithm, AlgorithmParameters::OctetKey(_))
    {
        return None;
    }
    let alg = match jwk.common.key_algorithm {
        // A stated alg that is not a signature algorithm (RSA-OAEP, unknown): not ours.
        Some(stated) => Some(Algorithm::from_str(&stated.to_string()).ok()?),
        None => None,
    };
    let key = DecodingKey::from_jwk(&jwk).ok()?;
    Some(SetKey {
        kid: jwk.common.key_id,
        alg,
        key,
    })
}

/// A JWKS URL with its cached key set.
pub struct RemoteJwks {
    url: http::Uri,
    fetcher: Fetcher,
    cache: Mutex<Cache>,
    /// Held while fetching, so one fetch runs at a time.
    fetching: tokio::sync::Mutex<()>,
}

/// What is known about the remote set, and when it was last asked for.
#[derive(Default)]
struct Cache {
    keys: Option<Arc<KeySet>>,
    /// Last fetch attempt, successful or not.
    attempted_at: Option<Instant>,
    /// Last fetch because of an unknown `kid`.
    kid_refetch_at: Option<Instant>,
}

#[derive(Debug)]
enum Plan {
    Use(Arc<KeySet>),
    Fetch,
    Unavailable,
}

impl Cache {
    fn plan(&self, now: Instant) -> Plan {
        let since = |at: Instant| now.saturating_duration_since(at);
        match (&self.keys, self.attempted_at) {
            (Some(keys), Some(at)) if since(at) < MAX_AGE => Plan::Use(keys.clone()),
            // Stale: fetch; should that fail, the stale set is used.
            (Some(_), _) => Plan::Fetch,
            (None, Some(at)) if since(at) < RETRY_AFTER_FAILURE => Plan::Unavailable,
            (None, _) => Plan::Fetch,
        }
    }

    fn may_refetch_for_kid(&self, now: Instant) -> bool {
        self.kid_refetch_at
            .is_none_or(|at| now.saturating_duration_since(at) >= KID_REFETCH_INTERVAL)
    }
}

impl RemoteJwks {
    pub(crate) fn new(url: http::Uri, fetcher: Fetcher) -> Self {
        Self {
            url,
            fetcher,
            cache: Mutex::new(Cache::default()),
            fetching: tokio::sync::Mutex::new(()),
        }
    }

    fn cache(&self) -> MutexGuard<'_, Cache> {
        // The cache is consistent after every assignment; a panic elsewhere cannot break it.
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) async fn select(
        &self,
        alg: Algorithm,
        kid: Option<&str>,
    ) -> Result<DecodingKey, Refusal> {
        let keys = self.current().await?;
        match keys.select(alg, kid) {
            Err(Refusal::UnknownKey) => match self.refetch_for_unknown_kid(&keys).await {
                Some(newer) => newer.select(alg, kid),
                None => Err(Refusal::UnknownKey),
            },
            other => other,
        }
    }

    /// The cached set, fetched first when there is none yet or it is stale.
    async fn current(&self) -> Result<Arc<KeySet>, Refusal> {
        if let Some(keys) = self.planned()? {
            return Ok(keys);
        }
        let _turn = self.fetching.lock().await;
        // Another login may have fetched while this one waited.
        if let Some(keys) = self.planned()? {
            return Ok(keys);
        }
        self.fetch().await
    }

    /// `Some(keys)` to use now, `None` to fetch.
    fn planned(&self) -> Result<Option<Arc<KeySet>>, Refusal> {
        match self.cache().plan(Instant::now()) {
            Plan::Use(keys) => Ok(Some(keys)),
            Plan::Fetch => Ok(None),
            Plan::Unavailable => Err(Refusal::KeysUnavailable),
        }
    }

    /// Fetches again for a `kid` that `seen` does not hold, unless a fetch for that reason ran
    /// within `KID_REFETCH_INTERVAL`. `None`: no newer set.
    async fn refetch_for_unknown_kid(&self, seen: &Arc<KeySet>) -> Option<Arc<KeySet>> {
        let _turn = self.fetching.lock().await;
        {
            let mut cache = self.cache();
            if let Some(keys) = &cache.keys {
                if !Arc::ptr_eq(keys, seen) {
                    return Some(keys.clone());
                }
            }
            let now = Instant::now();
            if !cache.may_refetch_for_kid(now) {
                return None;
            }
            cache.kid_refetch_at = Some(now);
        }
        self.fetch()
            .await
            .ok()
            .filter(|keys| !Arc::ptr_eq(keys, seen))
    }

    /// One fetch: on success the set replaces the cached one; on failure the cached set (if
    /// any) stays. Call with `fetching` held.
    async fn fetch(&self) -> Result<Arc<KeySet>, Refusal> {
        let result = self.download().await;
        let mut cache = self.cache();
        cache.attempted_at = Some(Instant::now());
        match result {
            Ok(set) => {
                tracing::info!(keys = set.len(), url = %self.url, "JWKS fetched");
                let set = Arc::new(set);
                cache.keys = Some(set.clone());
                Ok(set)
            }
            Err(reason) => {
                tracing::warn!(%reason, url = %self.url, "JWKS fetch failed");
                cache.keys.clone().ok_or(Refusal::KeysUnavailable)
            }
        }
    }

    async fn download(&self) -> Result<KeySet, String> {
        let request = Request::builder()
            .method(Method::GET)
            .uri(self.url.clone())
            .header(header::ACCEPT, "application/json")
            .body(Full::new(Bytes::new()))
            .map_err(|err| err.to_string())?;
        let answer = self
            .fetcher
            .send(request, FETCH_TIMEOUT, MAX_JWKS_BYTES)
            .await
            .map_err(|err| err.to_string())?;
        if !answer.status.is_success() {
            return Err(format!("status {}", answer.status));
        }
        KeySet::parse(&answer.body)
    }
}

/// The family of an algorithm (jsonwebtoken keeps its own mapping private).
pub fn family(alg: Algorithm) -> AlgorithmFamily {
    match alg {
        Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => AlgorithmFamily::Hmac,
        Algorithm::ES256 | Algorithm::ES384 => AlgorithmFamily::Ec,
        Algorithm::EdDSA => AlgorithmFamily::Ed,
        Algorithm::RS256
        | Algorithm::RS384
        | Algorithm::RS512
        | Algorithm::PS256
        | Algorithm::PS384
        | Algorithm::PS512 => AlgorithmFamily::Rsa,
    }
}

/// The JWKS URL as the client takes it.
fn jwks_url(url: &url::Url) -> Result<http::Uri, String> {
    url.as_str()
        .parse()
        .map_err(|err| format!("invalid URL {url}: {err}"))
}

fn family_of_name(name: &str) -> Option<AlgorithmFamily> {
    Algorithm::from_str(name).ok().map(family)
}

fn family_label(family: AlgorithmFamily) -> &'static str {
    match family {
        AlgorithmFamily::Hmac => "HMAC",
        AlgorithmFamily::Rsa => "RSA",
        AlgorithmFamily::Ec => "EC",
        AlgorithmFamily::Ed => "Ed25519",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EC_PRIVATE: &[u8] = include_bytes!("../../../tests/fixtures/ec_private.pem");

    /// The EC test key as a JWK, with an optional `kid` and `alg`.
    fn jwk(kid: Option<&str>, alg: Option<&str>) -> serde_json::Value {
        let private = jsonwebtoken::EncodingKey::from_ec_pem(EC_PRIVATE).unwrap();
        let mut jwk = Jwk::from_encoding_key(&private, Algorithm::ES256).unwrap();
        jwk.common.key_algorithm = None;
        let mut value = serde_json::to_value(jwk).unwrap();
        if let Some(kid) = kid {
            value["kid"] = kid.into();
        }
        if let Some(alg) = alg {
            value["alg"] = alg.into();
        }
        value
    }

    fn set(keys: Vec<serde_json::Value>) -> KeySet {
        KeySet::parse(serde_json::json!({ "keys": keys }).to_string().as_bytes()).unwrap()
    }

    #[test]
    fn select_by_kid_checks_family_and_stated_alg() {
        let keys = set(vec![jwk(Some("a"), Some("ES256")), jwk(Some("b"), None)]);
        assert!(keys.select(Algorithm::ES256, Some("a")).is_ok());
        assert_eq!(
            keys.select(Algorithm::ES384, Some("a")).unwrap_err(),
            Refusal::Algorithm
        );
        assert!(keys.select(Algorithm::ES384, Some("b")).is_ok());
        assert_eq!(
            keys.select(Algorithm::RS256, Some("b")).unwrap_err(),
            Refusal::Algorithm
        );
        assert_eq!(
            keys.select(Algorithm::ES256, Some("zzz")).unwrap_err(),
            Refusal::UnknownKey
        );
    }

    #[test]
    fn without_kid_only_a_single_fitting_key_is_used() {
        let one = set(vec![jwk(Some("a"), None)]);
        assert!(one.select(Algorithm::ES256, None).is_ok());
        let two = set(vec![jwk(Some("a"), None), jwk(Some("b"), None)]);
        assert_eq!(
            two.select(Algorithm::ES256, None).unwrap_err(),
            Refusal::UnknownKey
        );
    }

    #[test]
    fn jwks_skips_encryption_symmetric_and_unknown_keys() {
        let mut enc = jwk(Some("enc"), None);
        enc["use"] = "enc".into();
        let parsed = set(vec![
            enc,
            serde_json::json!({"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"}),
            serde_json::json!({"kty": "XYZ", "kid": "future"}),
            jwk(Some("oaep"), Some("RSA-OAEP")),
            jwk(Some("ok"), None),
        ]);
        assert_eq!(parsed.len(), 1);
        assert_eq!(
            parsed.select(Algorithm::HS256, Some("hmac")).unwrap_err(),
            Refusal::UnknownKey
        );
        assert!(KeySet::parse(br#"{"keys": []}"#).is_err());
        assert!(KeySet::parse(b"[]").is_err());
    }

    #[test]
    fn remote_plan_fetches_first_then_caches_until_stale() {
        let start = Instant::now();
        let mut cache = Cache::default();
        assert!(matches!(cache.plan(start), Plan::Fetch));
        // A failed first fetch: unavailable for a while, then tried again.
        cache.attempted_at = Some(start);
        assert!(matches!(cache.plan(start), Plan::Unavailable));
        assert!(matches!(
            cache.plan(start + RETRY_AFTER_FAILURE),
            Plan::Fetch
        ));
        cache.keys = Some(Arc::new(set(vec![jwk(Some("a"), None)])));
        assert!(matches!(
            cache.plan(start + MAX_AGE - Duration::from_secs(1)),
            Plan::Use(_)
        ));
        assert!(matches!(cache.plan(start + MAX_AGE), Plan::Fetch));
    }

    #[test]
    fn unknown_kid_refetch_is_rate_limited() {
        let start = Instant::now();
        let mut cache = Cache::default();
        assert!(cache.may_refetch_for_kid(start));
        cache.kid_refetch_at = Some(start);
        assert!(!cache.may_refetch_for_kid(start + Duration::from_secs(29)));
        assert!(cache.may_refetch_for_kid(start + KID_REFETCH_INTERVAL));
    }
}
