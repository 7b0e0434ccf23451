//! Lifecycle events: what `Events::emit` adds to a request (one durable outbox insert on a
//! SQLite file), the time from `emit` to the receiver having the event (a healthy receiver on
//! loopback), and how fast a backlog drains (events of many users, `events.concurrency` = 8).
//!
//! Run: `cargo bench --bench events` (or `--profile dev` for a quick indicative run).
//! Settings: N (1000 emits / 300 round trips / 10×N/5 backlog).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use sessiongate::config::{EventsConfig, OutboundConfig, Secret};
use sessiongate::events::{Event, EventName, Events, Source, deliver};
use sessiongate::outbound::Outbound;
use tokio::sync::{mpsc, watch};

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn report(what: &str, mut samples: Vec<Duration>) {
    samples.sort();
    println!(
        "{what}: n={} p50={:.2}ms p90={:.2}ms p99={:.2}ms max={:.2}ms",
        samples.len(),
        percentile(&samples, 0.5).as_secs_f64() * 1e3,
        percentile(&samples, 0.9).as_secs_f64() * 1e3,
        percentile(&samples, 0.99).as_secs_f64() * 1e3,
        samples.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
    );
}

/// A receiver answering 200 that reports each event id as it arrives.
async fn receiver() -> (String, mpsc::UnboundedReceiver<String>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let tx = tx.clone();
            tokio::spawn(async move {
                let service = service_fn(move |request: http::Request<hyper::body::Incoming>| {
                    let tx = tx.clone();
                    async move {
                        let body = request.into_body().collect().await.map(|b| b.to_bytes());
                        let json: serde_json::Value =
                            serde_json::from_slice(&body.unwrap_or_default()).unwrap_or_default();
                        let _ = tx.send(json["id"].as_str().unwrap_or_default().to_owned());
                        Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::new())))
                    }
                });
                let _ = auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (url, rx)
}

fn config(url: &str) -> EventsConfig {
    EventsConfig {
        url: Some(url.parse().expect("url")),
        secret: Some(Secret::new("bench-secret-0123456789abcdef")),
        secret_file: None,
        timeout: Duration::from_secs(5),
        backoff_initial: Duration::from_secs(1),
        backoff_max: Duration::from_secs(60),
        max_age: Duration::from_secs(3600),
        retention: Duration::from_secs(3600),
        concurrency: 8,
    }
}

#[tokio::main]
async fn main() {
    let n: usize = std::env::var("N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let dir = tempfile::tempdir().expect("temp dir");
    let store = sessiongate::store::connect(&format!(
        "sqlite://{}",
        dir.path().join("events.db").display()
    ))
    .await
    .expect("store");
    let (url, mut arrivals) = receiver().await;
    let events = Arc::new(Events::new(store));
    let config = config(&url);
    events.configure(&config);

    // 1. The cost of emit alone (no delivery task yet): one durable insert.
    let mut samples = Vec::with_capacity(n);
    for i in 0..n {
        let started = Instant::now();
        events
            .emit(Event::new(
                EventName::SessionRefreshed,
                format!("backlog-{}", i % 100),
            ))
            .await;
        samples.push(started.elapsed());
    }
    report("emit (outbox insert, SQLite file)", samples);

    // 2. Backlog drain: the events just recorded, 100 users, delivered in order per user.
    let fetcher = Outbound::new(&OutboundConfig::default()).fetcher(None);
    let (stop_tx, stop_rx) = watch::channel(false);
    let source_config = config.clone();
    let source = move || Source {
        config: source_config.clone(),
        fetcher: fetcher.clone(),
    };
    let started = Instant::now();
    let task = tokio::spawn(deliver(events.clone(), source, stop_rx));
    for _ in 0..n {
        arrivals.recv().await.expect("arrival");
    }
    let drained = started.elapsed();
    println!(
        "backlog drain: {n} events of 100 users in {:.0}ms = {:.0} events/s",
        drained.as_secs_f64() * 1e3,
        n as f64 / drained.as_secs_f64()
    );

    // 3. emit → received, one at a time (the delivery task is woken by emit).
    let rounds = 300.min(n);
    let mut samples = Vec::with_capacity(rounds);
    for i in 0..rounds {
        let started = Instant::now();
        events
            .emit(Event::new(EventName::SessionCreated, format!("live-{i}")))
            .await;
        arrivals.recv().await.expect("arrival");
        samples.push(started.elapsed());
    }
    report("emit -> receiver has it (healthy receiver)", samples);
    let _ = stop_tx.send(true);
    let _ = task.await;
}
