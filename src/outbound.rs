//! `Outbound`: the one builder of the gateway's outbound HTTP clients — to the upstream, to the
//! login webhooks (confirmation, reset, custom-function), to a custom-token JWKS URL, and the
//! admin CLI's calls to a running gateway. Every one trusts the same roots and speaks HTTP/1.1
//! over rustls (ring) for `https://`, plain TCP for `http://`.
//!
//! **Trust.** The system certificate store (`rustls-native-certs`: the OS bundle, or
//! `SSL_CERT_FILE` / `SSL_CERT_DIR`) plus `outbound.ca_file`, a PEM bundle of private CAs. The
//! bundled Mozilla roots (`webpki-roots`) are used only when the system store yields no
//! certificate at all (a `scratch` image), with a warning: added on top of a working system
//! store they would re-trust a CA its operator removed, and they are frozen at build time.
//! The system store is read once per process (parsing ~150 certificates takes milliseconds,
//! and every `Outbound` would repeat it); `outbound.ca_file` is read with each config load.
//!
//! **Instances.** One [`Outbound`] holds the root store; each client is built from it once,
//! where its settings are known:
//! - [`Outbound::upstream_pool`]: the forwarder's pool for one upstream origin
//!   (`upstream.connect_timeout`, `upstream.pool_idle_timeout`), streaming bodies, and the
//!   only TLS config that presents `upstream.client_cert_file` (mutual TLS) — to
//!   `upstream.url` and to routes' own upstreams, never to a webhook or identity provider,
//!   which are other parties. Its idle connections are kept per serving core
//!   ([`UpstreamPool`]), so a request and its upstream connection stay on one core;
//! - [`Outbound::fetcher`]: small request/answer exchanges with a deadline and a size limit,
//!   no client certificate. `Auth` builds one and its three users share its pool.
//!
//! Two pools rather than one because their settings differ (idle timeout below the
//! upstream's keep-alive, a client certificate) and because a slow webhook must not hold
//! connections the proxy needs. Building cannot fail: every file was read and checked when the
//! `Config` was loaded (`config::OutboundConfig`, `config::ClientIdentity`).
//!
//! Does not decide what an answer means, follow redirects or retry; the callers do.

mod fetch;
mod forward_error;
mod pool;
mod roots;

use std::cell::Cell;
use std::sync::Arc;
use std::time::Duration;

use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use rustls::{ClientConfig, RootCertStore};

pub use fetch::{Answer, FetchError, Fetcher, StatusClass, WebhookError};
pub use forward_error::ForwardError;
pub use pool::{PoolError, PooledBody, UpstreamPool};
pub use roots::RootsOrigin;

use crate::config::{ClientIdentity, OutboundConfig, UpstreamConfig};

/// A pooled HTTP/1.1 client for `http://` and `https://` URLs.
pub type HttpsClient<B> = Client<HttpsConnector<HttpConnector>, B>;

/// Idle pooled connections of a [`Fetcher`] are closed after this.
const FETCH_POOL_IDLE: Duration = Duration::from_secs(30);

/// The trust every outbound connection shares; clients are built from it.
#[derive(Clone)]
pub struct Outbound {
    roots: Arc<RootCertStore>,
    origin: RootsOrigin,
}

impl Outbound {
    /// The system store (or the bundled roots, when it is empty) plus `outbound.ca_file`.
    pub fn new(config: &OutboundConfig) -> Self {
        let (system, origin) = roots::system();
        let mut roots = RootCertStore::empty();
        roots.extend(system.iter().cloned());
        roots.extend(config.extra_roots.roots.iter().cloned());
        Self {
            roots: Arc::new(roots),
            origin,
        }
    }

    /// Where the public roots came from (`config check` reports it).
    pub fn roots_origin(&self) -> RootsOrigin {
        self.origin
    }

    /// The forwarder's pool for `origin` (`scheme://authority`): `upstream`'s connect and
    /// pool idle timeouts, and its client certificate when one is configured.
    pub fn upstream_pool<B>(
        &self,
        upstream: &UpstreamConfig,
        origin: Option<http::Uri>,
    ) -> UpstreamPool<B>
    where
        B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
        B::Error: Into<crate::web::BoxError>,
    {
        let tls = self.tls(upstream.client_identity.as_ref());
        let connector = connector(tls, Some(upstream.connect_timeout));
        UpstreamPool::new(connector, origin, upstream.pool_idle_timeout, cores() + 1)
    }

    /// A client for webhooks, JWKS and the admin CLI: no client certificate, a connect
    /// timeout when given (else the caller's deadline bounds connecting too).
    pub fn fetcher(&self, connect_timeout: Option<Duration>) -> Fetcher {
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(FETCH_POOL_IDLE)
            .pool_timer(TokioTimer::new())
            .build(connector(self.tls(None), connect_timeout));
        Fetcher::new(client)
    }

    /// TLS 1.2 and 1.3 with ring, these roots, and the client certificate if any.
    fn tls(&self, identity: Option<&ClientIdentity>) -> ClientConfig {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("ring supports TLS 1.2 and 1.3")
            .with_root_certificates(self.roots.clone());
        match identity {
            // The key was parsed and matched to the certificate when the config was loaded.
            Some(identity) => builder.with_client_cert_resolver(Arc::new(
                rustls::sign::SingleCertAndKey::from(identity.certified.clone()),
            )),
            None => builder.with_no_client_auth(),
        }
    }
}

/// How many cores serve the client listener, each with a runtime of its own (`server::cores`)
/// and an upstream pool of its own: the available parallelism on Linux, where `SO_REUSEPORT`
/// spreads connections across listeners; 1 elsewhere.
pub fn cores() -> usize {
    if cfg!(target_os = "linux") {
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
    } else {
        1
    }
}

thread_local! {
    /// The serving core this thread is, if it is one (see [`serve_on_core`]).
    static CORE: Cell<Option<usize>> = const { Cell::new(None) };
}

/// Marks the calling thread as serving core `core` (`0..cores()`): its upstream requests use
/// that core's idle connections.
pub fn serve_on_core(core: usize) {
    CORE.with(|slot| slot.set(Some(core)));
}

/// The index of the calling thread's per-core state among `shared + 1` slots: its serving
/// core's, or `shared` (the last) on any other thread.
fn core_index(shared: usize) -> usize {
    CORE.with(Cell::get)
        .filter(|&core| core < shared)
        .unwrap_or(shared)
}

/// TCP (no Nagle, `http://` and `https://` both allowed) wrapped in rustls, HTTP/1.1 only.
fn connector(
    tls: ClientConfig,
    connect_timeout: Option<Duration>,
) -> HttpsConnector<HttpConnector> {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(connect_timeout);
    HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(http)
}
