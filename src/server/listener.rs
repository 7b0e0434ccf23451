//! The accept loop shared by the client and admin listeners: a bounded number of
//! connections, each driven under deadlines (`connection`) with strict HTTP/1 framing
//! (`framing`).

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use http::header::{CONNECTION, HeaderValue, UPGRADE};
use http::{Request, Response, StatusCode, Version};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio_rustls::TlsAcceptor;

use super::connection::{self, Activity, Deadlines};
use super::framing::{self, HeadScan, ScannedIo};
use crate::error::{ApiError, CloseConnection};
use crate::web::Body;

/// Per-connection facts handed to the handler with each request.
#[derive(Debug, Clone, Copy)]
pub struct ConnInfo {
    pub remote: SocketAddr,
    pub local: SocketAddr,
    pub scheme: &'static str,
}

/// Limits of the HTTP server.
#[derive(Debug, Clone, Copy)]
pub struct HttpOptions {
    /// Which listener, for metrics (`client`, `admin`).
    pub name: &'static str,
    /// TLS handshake, protocol preface and each request head must arrive within this.
    pub header_read_timeout: Duration,
    /// A connection with no request in flight for this long is closed.
    pub idle_timeout: Duration,
    /// Largest header block hyper buffers; handlers answer 431 JSON for smaller excess.
    pub max_header_bytes: usize,
    /// Connections open at once; more are closed at accept.
    pub max_connections: usize,
    /// How long in-flight requests may take to finish after shutdown begins.
    pub shutdown_grace: Duration,
}

/// HTTP/2 PING interval and the wait for its answer before the connection is dropped.
const H2_KEEPALIVE: Duration = Duration::from_secs(20);

/// Pause after a failed `accept` (EMFILE and friends) so the loop never spins.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// Serves `listener` until `shutdown` turns true, then stops accepting and waits up to
/// `shutdown_grace` for open connections to finish their requests.
pub async fn serve<H, F>(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    options: HttpOptions,
    handler: H,
    shutdown: watch::Receiver<bool>,
) where
    H: Fn(Request<Incoming>, ConnInfo) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response<Body>> + Send + 'static,
{
    let slots = Arc::new(Semaphore::new(options.max_connections));
    let open = Closing::new(1).listener();
    serve_sharing(listener, tls, options, (slots, open), handler, shutdown).await;
}

/// Tells the connections of listeners sharing one address to close, once every one of those
/// listeners stopped accepting: a client that sees its idle connection closed can then rely on
/// new connections being refused, whichever listener the kernel would have given them to.
pub(super) struct Closing {
    open: AtomicUsize,
    close: watch::Sender<bool>,
}

/// One listener not yet stopped; dropping it (also when the listener never ran) counts it
/// stopped.
pub(super) struct ListenerOpen(Arc<Closing>);

impl Closing {
    pub(super) fn new(listeners: usize) -> Arc<Self> {
        Arc::new(Self {
            open: AtomicUsize::new(listeners),
            close: watch::channel(false).0,
        })
    }

    /// The token of one of the `listeners` given to `new`.
    pub(super) fn listener(self: &Arc<Self>) -> ListenerOpen {
        ListenerOpen(self.clone())
    }
}

impl Drop for ListenerOpen {
    fn drop(&mut self) {
        if self.0.open.fetch_sub(1, Ordering::AcqRel) == 1 {
            let _ = self.0.close.send(true);
        }
    }
}

/// `serve` with the connection cap shared with other listeners: `slots` holds
/// `options.max_connections` permits, one per open connection of any of them; the drain waits
/// for all of them.
pub(super) async fn serve_sharing<H, F>(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    options: HttpOptions,
    (slots, open): (Arc<Semaphore>, ListenerOpen),
    handler: H,
    mut shutdown: watch::Receiver<bool>,
) where
    H: Fn(Request<Incoming>, ConnInfo) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response<Body>> + Send + 'static,
{
    let builder = http_builder(&options);
    let scheme = if tls.is_some() { "https" } else { "http" };
    let local = listener
        .local_addr()
        .expect("a bound listener has an address");
    // Connections are told to close only after the listener is gone, so that a client that
    // sees its idle connection closed can rely on new connections being refused.
    let close_rx = open.0.close.subscribe();
    let mut accept_failures: u64 = 0;
    loop {
        let (stream, remote) = tokio::select! {
            biased;
            _ = shutdown.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(err) => {
                    // Log the first of a burst, then every thousandth.
                    if accept_failures % 1000 == 0 {
                        tracing::warn!(error = %err, listener = options.name, "accept failed");
                    }
                    accept_failures += 1;
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
        };
        accept_failures = 0;
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            crate::metrics::record_connection_shed(options.name);
            tracing::debug!(%remote, listener = options.name, "connection limit reached; closing");
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let info = ConnInfo {
            remote,
            local,
            scheme,
        };
        let builder = builder.clone();
        let handler = handler.clone();
        let shutdown = close_rx.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            let _slot = slot;
            match tls {
                None => run_connection(stream, builder, handler, info, options, shutdown).await,
                Some(acceptor) => {
                    let accepted =
                        tokio::time::timeout(options.header_read_timeout, acceptor.accept(stream))
                            .await;
                    match accepted {
                        Ok(Ok(stream)) => {
                            run_connection(stream, builder, handler, info, options, shutdown).await;
                        }
                        Ok(Err(err)) => {
                            tracing::debug!(error = %err, %remote, "tls handshake failed")
                        }
                        Err(_) => {
                            crate::metrics::record_connection_timed_out();
                            tracing::debug!(%remote, "tls handshake timed out");
                        }
                    }
                }
            }
        });
    }
    drop(listener);
    drop(open);
    // Every open connection holds a slot: all slots back means all connections ended.
    let all = u32::try_from(options.max_connections).unwrap_or(u32::MAX);
    tokio::select! {
        _ = slots.acquire_many(all) => tracing::debug!(listener = options.name, "connections drained"),
        () = tokio::time::sleep(options.shutdown_grace) => {
            tracing::warn!(listener = options.name, "shutdown grace elapsed with connections open");
        }
    }
}

fn http_builder(options: &HttpOptions) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    let hyper_buffer = (options.max_header_bytes * 4).max(16 * 1024);
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(options.header_read_timeout)
        .max_buf_size(hyper_buffer);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(H2_KEEPALIVE)
        .keep_alive_timeout(H2_KEEPALIVE)
        .max_header_list_size(u32::try_from(hyper_buffer).unwrap_or(u32::MAX));
    builder
}

/// Serves one connection: framing checks around the handler, deadlines around hyper.
async fn run_connection<S, H, F>(
    stream: S,
    builder: auto::Builder<TokioExecutor>,
    handler: H,
    info: ConnInfo,
    options: HttpOptions,
    shutdown: watch::Receiver<bool>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    H: Fn(Request<Incoming>, ConnInfo) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response<Body>> + Send + 'static,
{
    let scan = Arc::new(HeadScan::default());
    let activity = Activity::new();
    let io = TokioIo::new(ScannedIo::new(stream, scan.clone()));
    let service = {
        let activity = activity.clone();
        service_fn(move |request: Request<Incoming>| {
            let in_flight = activity.begin();
            let scan = scan.clone();
            let handler = handler.clone();
            async move {
                let response = answer(request, &scan, handler, info).await;
                drop(in_flight);
                Ok::<_, Infallible>(response)
            }
        })
    };
    let conn = connection::Served::boxed(
        builder
            .serve_connection_with_upgrades(io, service)
            .into_owned(),
    );
    let deadlines = Deadlines {
        first_request: options.header_read_timeout,
        idle: options.idle_timeout,
    };
    connection::drive(conn, activity, deadlines, shutdown).await;
}

/// One request through the framing checks and the handler; decides whether the HTTP/1
/// connection may carry another request.
async fn answer<H, F>(
    request: Request<Incoming>,
    scan: &HeadScan,
    handler: H,
    info: ConnInfo,
) -> Response<Body>
where
    H: Fn(Request<Incoming>, ConnInfo) -> F,
    F: Future<Output = Response<Body>>,
{
    let version = request.version();
    if let Err(err) = framing::check(version, request.headers(), scan) {
        crate::metrics::record_client_fault("framing");
        let mut response = ApiError::bad_framing(err.to_string()).into_response();
        close_after(&mut response);
        return response;
    }
    let http1 = version < Version::HTTP_2;
    let bodiless = hyper::body::Body::is_end_stream(request.body());
    let asked_upgrade = request.headers().contains_key(UPGRADE);
    let mut response = handler(request, info).await;
    if !http1 {
        return response;
    }
    let upgraded = response.status() == StatusCode::SWITCHING_PROTOCOLS;
    if (asked_upgrade && !upgraded) || response.extensions().get::<CloseConnection>().is_some() {
        // A refused upgrade may be followed by bytes of the other protocol; a framing or
        // timeout error leaves the stream position in doubt. Neither connection is reused.
        close_after(&mut response);
    } else if bodiless && !upgraded {
        scan.rearm();
    }
    response
}

fn close_after(response: &mut Response<Body>) {
    response
        .headers_mut()
        .insert(CONNECTION, HeaderValue::from_static("close"));
}
