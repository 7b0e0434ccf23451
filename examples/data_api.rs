//! A small example upstream for the README: a per-user document API that trusts the
//! `X-User-Id` header sessiongate sets (and would be unsafe without the gateway in front).
//!
//! Run: `cargo run --example data_api` (listens on 127.0.0.1:9000, or the address given as the
//! first argument).
//!
//! - `GET  /public/hello`    no identity needed
//! - `GET  /whoami`          the identity headers the gateway set
//! - `GET  /data/items`      the caller's documents
//! - `POST /data/items`      store a JSON document for the caller (201)
//! - `POST /api/client/v2.0/app/{app}/functions/call`   App Services-style function call:
//!   `{"name": "whoami"}` answers the caller's identity; other names echo their arguments.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use serde_json::{Value, json};

type Documents = Arc<Mutex<HashMap<String, Vec<Value>>>>;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr: SocketAddr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9000".to_owned())
        .parse()
        .map_err(|err| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("bad listen address: {err}"),
            )
        })?;
    let listener = tokio::net::TcpListener::bind(addr).await?;
    println!("data_api listening on http://{}", listener.local_addr()?);
    let documents: Documents = Arc::default();
    loop {
        let (stream, _) = listener.accept().await?;
        let documents = documents.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let documents = documents.clone();
                async move { Ok::<_, Infallible>(handle(request, documents).await) }
            });
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn handle(request: Request<Incoming>, documents: Documents) -> Response<Full<Bytes>> {
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let user_id = header("x-user-id");
    let identity = json!({
        "user_id": user_id,
        "session_id": header("x-session-id"),
        "provider": header("x-user-provider"),
    });
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    match (method, path.as_str()) {
        (Method::GET, "/public/hello") => reply(
            StatusCode::OK,
            json!({ "message": "hello from the data API" }),
        ),
        (Method::GET, "/whoami") => reply(StatusCode::OK, identity),
        (_, "/data/items") | (Method::POST, _) if user_id.is_none() => reply(
            StatusCode::UNAUTHORIZED,
            json!({ "error": "no X-User-Id: call me through sessiongate" }),
        ),
        (Method::GET, "/data/items") => {
            let owner = user_id.unwrap_or_default();
            let items = documents
                .lock()
                .expect("lock")
                .get(&owner)
                .cloned()
                .unwrap_or_default();
            reply(StatusCode::OK, json!({ "owner": owner, "items": items }))
        }
        (Method::POST, "/data/items") => {
            let owner = user_id.unwrap_or_default();
            let Some(mut document) = read_json(request).await else {
                return reply(
                    StatusCode::BAD_REQUEST,
                    json!({ "error": "expected a JSON object" }),
                );
            };
            let mut list = documents.lock().expect("lock");
            let items = list.entry(owner.clone()).or_default();
            document["_id"] = json!(items.len() + 1);
            document["owner"] = json!(owner);
            items.push(document.clone());
            reply(StatusCode::CREATED, document)
        }
        (Method::POST, p)
            if p.starts_with("/api/client/v2.0/app/") && p.ends_with("/functions/call") =>
        {
            let call = read_json(request).await.unwrap_or_default();
            match call.get("name").and_then(Value::as_str) {
                Some("whoami") => reply(StatusCode::OK, identity),
                _ => reply(
                    StatusCode::OK,
                    json!({ "name": call.get("name"), "arguments": call.get("arguments"), "caller": identity }),
                ),
            }
        }
        _ => reply(StatusCode::NOT_FOUND, json!({ "error": "not found" })),
    }
}

async fn read_json(request: Request<Incoming>) -> Option<Value> {
    let bytes = Limited::new(request.into_body(), 1 << 20)
        .collect()
        .await
        .ok()?
        .to_bytes();
    serde_json::from_slice::<Value>(&bytes)
        .ok()
        .filter(Value::is_object)
}

fn reply(status: StatusCode, body: Value) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(format!("{body}\n"))));
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response
}
