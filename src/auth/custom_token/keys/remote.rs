//! `RemoteJwks`: a JWKS URL with its cached key set, fetched at the first login, re-fetched
//! when stale or (rate-limited) for an unknown `kid`; the policy is in the `keys` docs.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, Request, header};
use http_body_util::Full;
use jsonwebtoken::{Algorithm, DecodingKey};

use super::super::Refusal;
use crate::config::{JwkSet, KeyMiss};
use crate::outbound::Fetcher;

/// A fetched JWKS is used this long before the next login fetches it again.
pub(super) const MAX_AGE: Duration = Duration::from_secs(600);
/// At most one fetch per this interval because a token named an unknown `kid`.
pub(super) const KID_REFETCH_INTERVAL: Duration = Duration::from_secs(30);
/// With no keys at all, a failed fetch is not retried sooner than this.
pub(super) const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(5);
/// Deadline of one JWKS fetch.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest JWKS document read.
const MAX_JWKS_BYTES: usize = 256 * 1024;

/// A JWKS URL with its cached key set.
pub struct RemoteJwks {
    url: http::Uri,
    fetcher: Fetcher,
    cache: Mutex<Cache>,
    /// Held while fetching, so one fetch runs at a time.
    fetching: tokio::sync::Mutex<()>,
}

/// What is known about the remote set, and when it was last asked for (visible to
/// `keys::tests`, which check the policy without fetching).
#[derive(Default)]
pub(super) struct Cache {
    pub(super) keys: Option<Arc<JwkSet>>,
    /// Last fetch attempt, successful or not.
    pub(super) attempted_at: Option<Instant>,
    /// Last fetch because of an unknown `kid`.
    pub(super) kid_refetch_at: Option<Instant>,
}

#[derive(Debug)]
pub(super) enum Plan {
    Use(Arc<JwkSet>),
    Fetch,
    Unavailable,
}

impl Cache {
    pub(super) fn plan(&self, now: Instant) -> Plan {
        let since = |at: Instant| now.saturating_duration_since(at);
        match (&self.keys, self.attempted_at) {
            (Some(keys), Some(at)) if since(at) < MAX_AGE => Plan::Use(keys.clone()),
            // Stale: fetch; should that fail, the stale set is used.
            (Some(_), _) => Plan::Fetch,
            (None, Some(at)) if since(at) < RETRY_AFTER_FAILURE => Plan::Unavailable,
            (None, _) => Plan::Fetch,
        }
    }

    pub(super) fn may_refetch_for_kid(&self, now: Instant) -> bool {
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
            Err(KeyMiss::UnknownKey) => match self.refetch_for_unknown_kid(&keys).await {
                Some(newer) => Ok(newer.select(alg, kid)?),
                None => Err(Refusal::UnknownKey),
            },
            other => Ok(other?),
        }
    }

    /// The cached set, fetched first when there is none yet or it is stale.
    async fn current(&self) -> Result<Arc<JwkSet>, Refusal> {
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
    fn planned(&self) -> Result<Option<Arc<JwkSet>>, Refusal> {
        match self.cache().plan(Instant::now()) {
            Plan::Use(keys) => Ok(Some(keys)),
            Plan::Fetch => Ok(None),
            Plan::Unavailable => Err(Refusal::KeysUnavailable),
        }
    }

    /// Fetches again for a `kid` that `seen` does not hold, unless a fetch for that reason ran
    /// within `KID_REFETCH_INTERVAL`. `None`: no newer set.
    async fn refetch_for_unknown_kid(&self, seen: &Arc<JwkSet>) -> Option<Arc<JwkSet>> {
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
    async fn fetch(&self) -> Result<Arc<JwkSet>, Refusal> {
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

    async fn download(&self) -> Result<JwkSet, String> {
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
        JwkSet::parse(&answer.body)
    }
}
