//! `App`: builds everything from a `Config` (store, keys, listeners), then runs both
//! listeners and the background tasks until shutdown.
//!
//! Does not parse the command line or read the environment; `cli::serve` does.

mod background;
mod live;
mod pipeline;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

pub use background::run_lifecycle;
use background::{catch_up_revocations, flush_activity, poll_revocations, run_chores};
pub use live::{Live, ReloadError, Reloaded};

use crate::admin_access::AdminKey;
use crate::assertion::{self, KeyRing};
use crate::auth::Auth;
use crate::config::Config;
use crate::cors::Cors;
use crate::events::{self, Events};
use crate::ids;
use crate::metrics::Metrics;
use crate::outbound;
use crate::proxy::Proxy;
use crate::proxy::forwarded::TrustedProxies;
use crate::server::cores::CoreListeners;
use crate::server::{self, HttpOptions};
use crate::sessions::activity::Activity;
use crate::state::State;
use crate::store::{self, Store, StoreError};
use crate::throttle::Throttle;
use crate::tokens::{self, KeyError, Tokens};

/// What every `State` of a process shares, across reloads.
#[derive(Clone)]
struct Durable {
    store: Arc<dyn Store>,
    tokens: Arc<Tokens>,
    activity: Arc<Activity>,
    metrics: Metrics,
    events: Arc<Events>,
    /// The identity assertion keys (`identity_headers.assertion`; empty when it is off).
    assertion_keys: Arc<KeyRing>,
}

impl State {
    fn build(config: Config, durable: &Durable, admin_key: AdminKey) -> Self {
        durable.events.configure(&config.events);
        Self {
            store: durable.store.clone(),
            tokens: durable.tokens.clone(),
            auth: Auth::new(
                &config,
                durable.store.clone(),
                durable.tokens.clone(),
                durable.events.clone(),
            ),
            proxy: Proxy::new(&config, durable.assertion_keys.clone()),
            cors: Cors::new(&config.cors, &config.server.request_id_header),
            admin_key,
            activity: durable.activity.clone(),
            metrics: durable.metrics.clone(),
            events: durable.events.clone(),
            trusted: TrustedProxies::new(config.server.trusted_proxies.clone()),
            throttle: Throttle::new(
                &config.login_limits,
                durable.store.clone(),
                durable.events.clone(),
            ),
            config,
        }
    }
}

/// Why the gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("store.url: {0}")]
    Store(#[from] StoreError),
    #[error(transparent)]
    Keys(#[from] KeyError),
    #[error("{key}: cannot listen on {addr}: {source}")]
    Bind {
        key: &'static str,
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("server.tls: {0}")]
    Tls(String),
}

/// A built gateway: store open, keys loaded, listeners bound.
pub struct App {
    live: Arc<Live>,
    /// One socket per core (`server::cores`).
    client: CoreListeners,
    admin: TcpListener,
    tls: Option<TlsAcceptor>,
}

/// Connections the admin listener holds open at once (operators, probes, scrapers).
const ADMIN_MAX_CONNECTIONS: usize = 256;

/// How often revocations recorded by other processes are read from the store.
const REVOCATION_POLL: Duration = Duration::from_secs(1);

impl App {
    pub async fn build(config: Config) -> Result<Self, StartError> {
        let options = store::Options {
            timeout: config.store.timeout,
        };
        let store = store::connect_with(&config.store.url, options).await?;
        Self::build_with_store(config, store).await
    }

    /// Like `build` with a store already open (tests share one between instances).
    pub async fn build_with_store(
        config: Config,
        store: Arc<dyn Store>,
    ) -> Result<Self, StartError> {
        let keys = tokens::keys::load(&config.tokens, store.as_ref()).await?;
        let tokens = Arc::new(
            Tokens::new(
                keys,
                config.app.id.clone(),
                config.tokens.access_ttl,
                config.tokens.cache_capacity,
            )
            .with_fail_open_window(config.store.fail_open_for),
        );
        catch_up_revocations(store.as_ref(), &tokens).await?;
        let assertion_keys = Arc::new(KeyRing::default());
        if config.assertion.enabled() {
            let rotation = config.assertion.key_rotation;
            assertion_keys
                .replace(assertion::keys::load(store.as_ref(), rotation, ids::now()).await?);
        }
        let cert = match &config.server.tls {
            Some(tls) => Some(Arc::new(
                server::ServerCert::load(&tls.cert_file, &tls.key_file).map_err(StartError::Tls)?,
            )),
            None => None,
        };
        let tls = match &cert {
            Some(cert) => Some(server::tls_acceptor(cert.clone()).map_err(StartError::Tls)?),
            None => None,
        };
        // Compile the user-agent rules off the request path, once per process.
        tokio::task::spawn_blocking(|| {
            crate::sessions::user_agent::shared();
        });
        let client =
            CoreListeners::bind(config.server.listen, outbound::cores()).map_err(|source| {
                StartError::Bind {
                    key: "server.listen",
                    addr: config.server.listen,
                    source,
                }
            })?;
        let admin = bind("server.admin_listen", config.server.admin_listen).await?;
        crate::metrics::set_build_info(&config.fingerprint());
        let durable = Durable {
            events: Arc::new(Events::new(store.clone())),
            store,
            tokens,
            activity: Arc::default(),
            metrics: crate::metrics::install(),
            assertion_keys,
        };
        let admin_key = AdminKey::new(&config.admin);
        let state = State::build(config, &durable, admin_key);
        Ok(Self {
            live: Arc::new(Live::new(state, durable, cert)),
            client,
            admin,
            tls,
        })
    }

    pub fn client_addr(&self) -> SocketAddr {
        self.client.local_addr()
    }

    pub fn admin_addr(&self) -> SocketAddr {
        self.admin
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// The current state (a later reload replaces it; this one stays valid).
    pub fn state(&self) -> Arc<State> {
        self.live.current()
    }

    /// The handle that applies a new config to the running gateway (`serve` calls it on
    /// SIGHUP).
    pub fn live(&self) -> Arc<Live> {
        self.live.clone()
    }

    /// Serves until `shutdown` resolves, then drains in-flight requests and returns.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let (stop_tx, stop_rx) = watch::channel(false);
        let state = self.live.current();
        let server = &state.config.server;
        let options = HttpOptions {
            name: "client",
            header_read_timeout: server.header_read_timeout,
            idle_timeout: server.idle_timeout,
            max_header_bytes: server.max_header_bytes,
            max_connections: server
                .max_connections
                .unwrap_or_else(server::default_max_connections),
            shutdown_grace: server.shutdown_grace,
        };
        let admin_options = HttpOptions {
            name: "admin",
            max_connections: ADMIN_MAX_CONNECTIONS,
            ..options
        };
        let live = self.live.clone();
        let mut client = server::cores::serve(
            self.client,
            self.tls,
            options,
            move |request, conn| pipeline::client(live.current(), request, conn),
            stop_rx.clone(),
            outbound::serve_on_core,
        );
        let live = self.live.clone();
        let admin = tokio::spawn(server::serve(
            self.admin,
            None,
            admin_options,
            move |request, conn| pipeline::admin(live.current(), request, conn),
            stop_rx.clone(),
        ));
        let poller = tokio::spawn(poll_revocations(self.live.clone(), stop_rx.clone()));
        let chores = tokio::spawn(run_chores(self.live.clone(), stop_rx.clone()));
        let live = self.live.clone();
        let source = move || {
            let state = live.current();
            events::Source {
                config: state.config.events.clone(),
                fetcher: state.auth.fetcher().clone(),
            }
        };
        let delivery = tokio::spawn(events::deliver(state.events.clone(), source, stop_rx));
        shutdown.await;
        tracing::info!("shutting down: no new connections, finishing in-flight requests");
        let _ = stop_tx.send(true);
        client.drained().await;
        for task in [admin, poller, chores, delivery] {
            if let Err(err) = task.await {
                tracing::error!(error = %err, "server task failed");
            }
        }
        // Last writes are bounded: a store that is down or stalled must not hold the exit.
        if tokio::time::timeout(SHUTDOWN_FLUSH_BOUND, flush_activity(&state))
            .await
            .is_err()
        {
            tracing::warn!("session activity not flushed at shutdown: the store did not answer");
        }
        state.store.close().await;
        client.finish().await;
    }
}

/// Longest the last activity flush may take at shutdown (then `Store::close`, itself bounded
/// by `store::CLOSE_BOUND`): exit takes at most the drain grace plus these two.
pub const SHUTDOWN_FLUSH_BOUND: Duration = Duration::from_secs(1);

async fn bind(key: &'static str, addr: SocketAddr) -> Result<TcpListener, StartError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Bind { key, addr, source })
}
