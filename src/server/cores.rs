//! The client listener served on every core, as Pingora and Envoy do: one listener socket per
//! core, all bound to the same address with `SO_REUSEPORT` so the kernel spreads new
//! connections across them, and one current-thread runtime per core that accepts from its own
//! socket and runs everything a connection spawns (hyper's connection, the upstream pool's
//! connection tasks). A request then never crosses cores: no work stealing, no cross-core
//! wake-ups between the client's connection and its upstream connection.
//!
//! The connection cap (`server.max_connections`) is one semaphore shared by every core, and
//! shutdown is the same signal for all; connections are told to close only once every core
//! has stopped accepting (`listener::Closing`). Each core's runtime keeps running after its listener
//! has drained, until [`Cores::finish`]: resources opened on a core (a store connection taken
//! while answering a login) stay usable for the last writes at shutdown.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::thread::JoinHandle;

use http::{Request, Response};
use hyper::body::Incoming;
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::{Semaphore, oneshot, watch};
use tokio_rustls::TlsAcceptor;

use super::listener::{Closing, ConnInfo, HttpOptions, serve_sharing};
use crate::web::Body;

/// Sockets bound to one address, one per core, not yet attached to a runtime.
pub struct CoreListeners {
    sockets: Vec<std::net::TcpListener>,
    local: SocketAddr,
}

/// Pending connections the kernel queues per socket (tokio's `TcpListener::bind` default).
const BACKLOG: u32 = 1024;

impl CoreListeners {
    /// Binds `addr` `count` times (at least once), with `SO_REUSEPORT` when more than once.
    /// The first socket resolves port 0; the others bind the port it got.
    pub fn bind(addr: SocketAddr, count: usize) -> io::Result<Self> {
        let reuse_port = count > 1;
        let first = bind_one(addr, reuse_port)?;
        let local = first.local_addr()?;
        let mut sockets = vec![first];
        for _ in 1..count {
            sockets.push(bind_one(local, reuse_port)?);
        }
        Ok(Self { sockets, local })
    }

    /// The bound address (port 0 resolved to the port the first socket got).
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }
}

fn bind_one(addr: SocketAddr, reuse_port: bool) -> io::Result<std::net::TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    // As `TcpListener::bind` does: a restart can bind while old connections are in TIME_WAIT.
    socket.set_reuseaddr(true)?;
    #[cfg(target_os = "linux")]
    if reuse_port {
        socket.set_reuseport(true)?;
    }
    #[cfg(not(target_os = "linux"))]
    let _ = reuse_port;
    socket.bind(addr)?;
    // `listen` registers the socket with this runtime; `into_std` takes it back for its core.
    socket.listen(BACKLOG)?.into_std()
}

/// The serving cores: wait for them to drain, then let them end.
pub struct Cores {
    drained: Vec<oneshot::Receiver<()>>,
    release: watch::Sender<bool>,
    threads: Vec<JoinHandle<()>>,
}

/// Serves each of `listeners` on a thread of its own running a current-thread runtime, until
/// `shutdown` turns true. `on_core(i)` runs first on core `i`'s thread. A core whose runtime
/// cannot be built is served on the calling runtime instead; one whose thread cannot start
/// closes its socket, and the kernel gives its connections to the others.
pub fn serve<H, F>(
    listeners: CoreListeners,
    tls: Option<TlsAcceptor>,
    options: HttpOptions,
    handler: H,
    shutdown: watch::Receiver<bool>,
    on_core: fn(usize),
) -> Cores
where
    H: Fn(Request<Incoming>, ConnInfo) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response<Body>> + Send + 'static,
{
    let slots = Arc::new(Semaphore::new(options.max_connections));
    let closing = Closing::new(listeners.sockets.len());
    let (release, released) = watch::channel(false);
    let mut cores = Cores {
        drained: Vec::new(),
        release,
        threads: Vec::new(),
    };
    for (core, socket) in listeners.sockets.into_iter().enumerate() {
        let (drained_tx, drained_rx) = oneshot::channel();
        cores.drained.push(drained_rx);
        let serving = {
            let (tls, slots, handler, shutdown) = (
                tls.clone(),
                slots.clone(),
                handler.clone(),
                shutdown.clone(),
            );
            let open = closing.listener();
            async move {
                match TcpListener::from_std(socket) {
                    Ok(listener) => {
                        let shared = (slots, open);
                        serve_sharing(listener, tls, options, shared, handler, shutdown).await;
                    }
                    Err(err) => tracing::error!(error = %err, core, "cannot serve a listener"),
                }
                let _ = drained_tx.send(());
            }
        };
        // The core's log lines are written in batches, whenever it runs out of work.
        let runtime = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .on_thread_park(crate::telemetry::flush_this_thread)
            .build()
        {
            Ok(runtime) => runtime,
            Err(err) => {
                tracing::warn!(error = %err, core, "cannot start a core's runtime; serving it on the main one");
                tokio::spawn(serving);
                continue;
            }
        };
        let mut released = released.clone();
        let thread = std::thread::Builder::new()
            .name(format!("sessiongate-core-{core}"))
            .spawn(move || {
                on_core(core);
                crate::telemetry::batch_this_thread();
                run_core(
                    &runtime,
                    Box::pin(async move {
                        serving.await;
                        let _ = released.wait_for(|released| *released).await;
                    }),
                );
            });
        match thread {
            Ok(thread) => cores.threads.push(thread),
            Err(err) => tracing::error!(error = %err, core, "cannot start a core's thread"),
        }
    }
    cores
}

/// Everything a core's thread does after start-up; a function of its own (not inlined, not
/// generic) so `bench/proxy.sh`'s callgrind mode can count exactly this.
#[inline(never)]
fn run_core(runtime: &tokio::runtime::Runtime, core: Pin<Box<dyn Future<Output = ()> + Send>>) {
    runtime.block_on(core);
}

impl Cores {
    /// Resolves once every core stopped accepting and its connections ended (or the shutdown
    /// grace elapsed).
    pub async fn drained(&mut self) {
        for drained in self.drained.drain(..) {
            // An error: the core's thread never started or ended early; nothing to wait for.
            let _ = drained.await;
        }
    }

    /// Lets every core's runtime end (what it still runs is dropped) and waits for its thread.
    pub async fn finish(self) {
        let _ = self.release.send(true);
        let threads = self.threads;
        let joined = tokio::task::spawn_blocking(move || {
            for thread in threads {
                if thread.join().is_err() {
                    tracing::error!("a core's thread panicked");
                }
            }
        });
        if let Err(err) = joined.await {
            tracing::error!(error = %err, "cannot wait for the cores' threads");
        }
    }
}
