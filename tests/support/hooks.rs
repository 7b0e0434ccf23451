//! A webhook server for the local-userpass and custom-function providers, on port 0.
//!
//! - `POST /confirm`, `POST /reset`: record `{email, token, tokenId, arguments?}`; `/confirm`
//!   answers `{}`, `/reset` answers the configured `reset/call` decision (default
//!   `{"status": "pending"}`).
//! - `POST /status/NNN`: answers that status (a broken webhook). `POST /hang`: never answers.
//! - `POST /login`: the custom-function webhook: answers `{"id": <body.username>}`, or 401
//!   `{"error": "unknown user"}` when there is no `username`.
//! - `GET /next/{confirm|reset}/{email}`: waits for the next token delivered for that email and
//!   answers it (how the Node scenario receives tokens); `PUT /reset-answer` sets the decision.
//!
//! Rust tests use `next()` and `set_reset_answer()` directly. No sleeps: waiting is a `Notify`.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use serde_json::{Value, json};
use tokio::sync::{Notify, oneshot};

/// One token the gateway handed to a webhook.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// `"confirm"` or `"reset"`.
    pub kind: String,
    pub email: String,
    pub token: String,
    pub token_id: String,
    pub arguments: Option<Value>,
}

#[derive(Default)]
struct State {
    deliveries: Mutex<VecDeque<Delivery>>,
    delivered: Notify,
    reset_answer: Mutex<Option<Value>>,
    /// Every request body, in order (`path`, body).
    log: Mutex<Vec<(String, Value)>>,
}

pub struct Hooks {
    pub url: String,
    state: Arc<State>,
    _stop: oneshot::Sender<()>,
}

/// How long a test waits for a delivery before failing (a guard, not a synchronisation).
const WAIT: Duration = Duration::from_secs(10);

impl Hooks {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind hooks");
        let addr = listener.local_addr().expect("hooks addr");
        let state = Arc::new(State::default());
        let (stop_tx, mut stop_rx) = oneshot::channel::<()>();
        let shared = state.clone();
        tokio::spawn(async move {
            loop {
                let (stream, _) = tokio::select! {
                    accepted = listener.accept() => match accepted { Ok(pair) => pair, Err(_) => continue },
                    _ = &mut stop_rx => return,
                };
                let state = shared.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request| serve(state.clone(), request));
                    let _ = auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self {
            url: format!("http://{addr}"),
            state,
            _stop: stop_tx,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    /// Waits for the next delivery of `kind` for `email` and takes it.
    pub async fn next(&self, kind: &str, email: &str) -> Delivery {
        tokio::time::timeout(WAIT, take(&self.state, kind, email))
            .await
            .unwrap_or_else(|_| panic!("no {kind} token delivered for {email}"))
    }

    /// Whether a delivery of `kind` for `email` is waiting (taking nothing).
    pub fn has(&self, kind: &str, email: &str) -> bool {
        self.state
            .deliveries
            .lock()
            .expect("lock")
            .iter()
            .any(|d| d.kind == kind && d.email == email)
    }

    /// What `/reset` answers from now on (`reset/call`'s decision).
    pub fn set_reset_answer(&self, answer: Value) {
        *self.state.reset_answer.lock().expect("lock") = Some(answer);
    }

    /// Every body posted to `path`, in order.
    pub fn bodies(&self, path: &str) -> Vec<Value> {
        self.state
            .log
            .lock()
            .expect("lock")
            .iter()
            .filter(|(p, _)| p == path)
            .map(|(_, body)| body.clone())
            .collect()
    }
}

async fn take(state: &State, kind: &str, email: &str) -> Delivery {
    loop {
        // Registered before looking, so a delivery between the look and the wait is not lost.
        let notified = state.delivered.notified();
        {
            let mut deliveries = state.deliveries.lock().expect("lock");
            if let Some(index) = deliveries
                .iter()
                .position(|d| d.kind == kind && d.email == email)
            {
                return deliveries.remove(index).expect("index is in range");
            }
        }
        notified.await;
    }
}

fn reply(status: u16, body: &Value) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = StatusCode::from_u16(status).expect("valid status");
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response
}

async fn serve(
    state: Arc<State>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let bytes = request
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    if method == Method::POST {
        state
            .log
            .lock()
            .expect("lock")
            .push((path.clone(), body.clone()));
    }
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    let response = match (&method, segments.as_slice()) {
        (&Method::POST, [kind @ ("confirm" | "reset")]) => {
            let field = |name: &str| body[name].as_str().unwrap_or_default().to_owned();
            state.deliveries.lock().expect("lock").push_back(Delivery {
                kind: (*kind).to_owned(),
                email: field("email"),
                token: field("token"),
                token_id: field("tokenId"),
                arguments: body.get("arguments").cloned(),
            });
            state.delivered.notify_waiters();
            if *kind == "reset" && body.get("arguments").is_some() {
                let answer = state
                    .reset_answer
                    .lock()
                    .expect("lock")
                    .clone()
                    .unwrap_or_else(|| json!({"status": "pending"}));
                reply(200, &answer)
            } else {
                reply(200, &json!({}))
            }
        }
        (&Method::POST, ["status", code]) => reply(code.parse().unwrap_or(500), &json!({})),
        (&Method::POST, ["hang"]) => std::future::pending().await,
        // `someCustomFunctionArg`: the App Services docs' example body.
        (&Method::POST, ["login"]) => match body["username"]
            .as_str()
            .or_else(|| body["someCustomFunctionArg"].as_str())
        {
            Some(name) if !name.is_empty() => reply(200, &json!({"id": name, "name": name})),
            _ => reply(401, &json!({"error": "unknown user"})),
        },
        (&Method::PUT, ["reset-answer"]) => {
            *state.reset_answer.lock().expect("lock") = Some(body);
            reply(200, &json!({}))
        }
        (&Method::GET, ["next", kind, email]) => {
            let email = percent_encoding::percent_decode_str(email)
                .decode_utf8_lossy()
                .into_owned();
            match tokio::time::timeout(WAIT, take(&state, kind, &email)).await {
                Ok(d) => reply(
                    200,
                    &json!({"email": d.email, "token": d.token, "tokenId": d.token_id, "arguments": d.arguments}),
                ),
                Err(_) => reply(404, &json!({"error": "no token delivered"})),
            }
        }
        _ => reply(404, &json!({"error": "not found"})),
    };
    Ok(response)
}
