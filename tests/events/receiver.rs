//! A real webhook receiver for the event tests: hyper on a port of its own, recording every
//! request (headers and raw body) and answering as told — 200, 500, never (slower than any
//! timeout) — or not listening at all for a while (`down`, then `up` on the same port).

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use hmac::{Hmac, Mac};
use http::{HeaderMap, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use serde_json::Value;
use sha2::Sha256;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio::task::{JoinHandle, JoinSet};

/// How the receiver answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Ok,
    Fail,
    /// Never answers (the gateway's `events.timeout` cuts the attempt).
    Slow,
}

/// One request received.
#[derive(Debug, Clone)]
pub struct Hit {
    pub headers: HeaderMap,
    pub body: Bytes,
    pub json: Value,
    /// How it was answered.
    pub mode: Mode,
}

impl Hit {
    pub fn id(&self) -> String {
        self.json["id"].as_str().unwrap_or_default().to_owned()
    }

    pub fn user(&self) -> String {
        self.json["user_id"].as_str().unwrap_or_default().to_owned()
    }

    pub fn kind(&self) -> String {
        self.json["type"].as_str().unwrap_or_default().to_owned()
    }
}

#[derive(Default)]
struct Shared {
    mode: Mutex<Option<Mode>>,
    hits: Mutex<Vec<Hit>>,
    arrived: Notify,
}

pub struct Receiver {
    port: u16,
    shared: Arc<Shared>,
    server: Option<JoinHandle<()>>,
}

impl Receiver {
    pub async fn start(mode: Mode) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind receiver");
        let port = listener.local_addr().expect("receiver addr").port();
        let shared = Arc::new(Shared::default());
        *shared.mode.lock().expect("lock") = Some(mode);
        let server = Some(tokio::spawn(serve(listener, shared.clone())));
        Self {
            port,
            shared,
            server,
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hooks/sessiongate", self.port)
    }

    pub fn set_mode(&self, mode: Mode) {
        *self.shared.mode.lock().expect("lock") = Some(mode);
    }

    /// Stops listening and closes every open connection (pooled keep-alives included).
    pub async fn down(&mut self) {
        if let Some(server) = self.server.take() {
            server.abort();
            let _ = server.await;
        }
    }

    /// Listens again on the same port.
    pub async fn up(&mut self) {
        let listener = TcpListener::bind(("127.0.0.1", self.port))
            .await
            .expect("rebind receiver port");
        self.server = Some(tokio::spawn(serve(listener, self.shared.clone())));
    }

    pub fn hits(&self) -> Vec<Hit> {
        self.shared.hits.lock().expect("lock").clone()
    }

    /// Requests answered 200.
    pub fn delivered(&self) -> Vec<Hit> {
        self.hits()
            .into_iter()
            .filter(|hit| hit.mode == Mode::Ok)
            .collect()
    }

    /// Waits until `done` holds for the hits so far; panics with them after `limit`.
    pub async fn wait_until(&self, limit: Duration, what: &str, done: impl Fn(&[Hit]) -> bool) {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let arrived = self.shared.arrived.notified();
            if done(&self.hits()) {
                return;
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                let seen: Vec<String> = self
                    .hits()
                    .iter()
                    .map(|h| format!("{:?} {} {}", h.mode, h.kind(), h.id()))
                    .collect();
                panic!("{what}: not within {limit:?}; received {seen:#?}");
            }
        }
    }
}

async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    // Dropped (aborting every connection) when this task is aborted.
    let mut connections = JoinSet::new();
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let shared = shared.clone();
        connections.spawn(async move {
            let service = service_fn(move |request| receive(request, shared.clone()));
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
        while connections.try_join_next().is_some() {}
    }
}

async fn receive(
    request: http::Request<hyper::body::Incoming>,
    shared: Arc<Shared>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let (parts, body) = request.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let mode = shared.mode.lock().expect("lock").unwrap_or(Mode::Ok);
    let json = serde_json::from_slice(&body).unwrap_or(Value::Null);
    shared.hits.lock().expect("lock").push(Hit {
        headers: parts.headers,
        body,
        json,
        mode,
    });
    shared.arrived.notify_waiters();
    let status = match mode {
        Mode::Ok => StatusCode::OK,
        Mode::Fail => StatusCode::INTERNAL_SERVER_ERROR,
        Mode::Slow => std::future::pending().await,
    };
    let mut response = Response::new(Full::new(Bytes::from_static(b"{}")));
    *response.status_mut() = status;
    Ok(response)
}

/// `sha256=<hex HMAC-SHA256(secret, body)>`, computed here, independently of the gateway.
pub fn expected_signature(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("hmac key");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// The ids of `hits` per user, in arrival order, consecutive repeats collapsed.
pub fn attempts_per_user(hits: &[Hit]) -> std::collections::BTreeMap<String, Vec<String>> {
    let mut per_user: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for hit in hits {
        let ids = per_user.entry(hit.user()).or_default();
        if ids.last() != Some(&hit.id()) {
            ids.push(hit.id());
        }
    }
    per_user
}
