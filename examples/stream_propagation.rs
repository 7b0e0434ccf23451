//! Benchmark: how long after a revocation on replica A a WebSocket of that session, open
//! through replica B, receives its close frame (issue 11: streams close "within the same
//! propagation bound as token refusal").
//!
//! Starts two real `sessiongate serve` processes on a fresh schema of one PostgreSQL database,
//! in front of a WebSocket upstream run here (it answers 101 and then only reads). Per
//! iteration: log in anonymously on A, open a WebSocket through B with the access token
//! (101), then `DELETE /auth/session` on A with the refresh token, and wait for B's close frame
//! (1008) on the WebSocket. Recorded: the time from A's 204 arriving to the close frame arriving
//! (0 when the close frame came first), and from sending the revocation to the close frame.
//!
//! Normally run through `bench/streams.sh`:
//!
//! ```text
//! stream_propagation --sessiongate target/release/sessiongate --iterations 50
//! ```
//!
//! The database is `SESSIONGATE_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`); the schema is dropped at the end.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail, ensure};
use clap::Parser;
use sqlx::Connection;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, Command};

const APP_ID: &str = "bench-app";
const ADMIN_KEY: &str = "bench-admin-key-0123456789";

/// Time from a revocation on one replica to the close frame of a WebSocket on another.
#[derive(Parser, Debug)]
struct Args {
    /// The `sessiongate` binary to start twice.
    #[arg(long, default_value = "target/release/sessiongate")]
    sessiongate: PathBuf,
    /// How many revocations to measure.
    #[arg(long, default_value_t = 50)]
    iterations: usize,
    /// Give up if a close frame has not arrived after this long.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    limit: Duration,
    /// PostgreSQL to use; a fresh schema is created in it and dropped afterwards.
    #[arg(
        long,
        env = "SESSIONGATE_TEST_POSTGRES_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/test"
    )]
    postgres_url: String,
}

/// A replica: its process (killed on drop) and addresses from its ready line.
struct Replica {
    _child: Child,
    client: String,
}

impl Replica {
    async fn start(
        args: &Args,
        dir: &Path,
        name: &str,
        store: &str,
        upstream: &str,
    ) -> Result<Self> {
        let config = dir.join(format!("{name}.toml"));
        std::fs::write(
            &config,
            format!(
                "[server]\nlisten = \"127.0.0.1:0\"\nadmin_listen = \"127.0.0.1:0\"\n\
                 [app]\nid = \"{APP_ID}\"\n[store]\nurl = \"{store}&application_name={name}\"\n\
                 [upstream]\nurl = \"{upstream}\"\n"
            ),
        )?;
        let mut child = Command::new(&args.sessiongate)
            .arg("serve")
            .arg("--config")
            .arg(&config)
            .env_remove("SESSIONGATE_TOKENS__SIGNING_KEY")
            .env("SESSIONGATE_ADMIN__API_KEY", ADMIN_KEY)
            .env("SESSIONGATE_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("start {}", args.sessiongate.display()))?;
        let mut lines = BufReader::new(child.stdout.take().context("stdout")?).lines();
        let ready = loop {
            match tokio::time::timeout(Duration::from_secs(60), lines.next_line()).await {
                Ok(Ok(Some(line))) if line.starts_with("sessiongate ready ") => break line,
                Ok(Ok(Some(_))) => {}
                _ => bail!("{name} did not get ready"),
            }
        };
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let client = ready
            .split_whitespace()
            .find_map(|word| word.strip_prefix("client="))
            .ok_or_else(|| anyhow!("no client= in {ready:?}"))?
            .trim_start_matches("http://")
            .to_owned();
        Ok(Self {
            _child: child,
            client,
        })
    }
}

/// A WebSocket upstream that accepts every handshake and then only reads.
async fn ws_upstream() -> Result<String> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                if read_head(&mut stream).await.is_err() {
                    return;
                }
                let answer = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
                              Connection: Upgrade\r\nSec-WebSocket-Accept: x\r\n\r\n";
                if stream.write_all(answer.as_bytes()).await.is_ok() {
                    let mut sink = [0u8; 1024];
                    while matches!(stream.read(&mut sink).await, Ok(n) if n > 0) {}
                }
            });
        }
    });
    Ok(format!("http://{addr}"))
}

async fn read_head(stream: &mut TcpStream) -> Result<String> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte).await?;
        head.push(byte[0]);
    }
    Ok(String::from_utf8_lossy(&head).into_owned())
}

#[derive(serde::Deserialize)]
struct Login {
    access_token: String,
    refresh_token: String,
}

/// One revocation: (from A's 204 to the close frame, from sending it to the close frame).
async fn measure(
    args: &Args,
    http: &reqwest::Client,
    a: &Replica,
    b: &Replica,
) -> Result<(Duration, Duration)> {
    let login: Login = http
        .post(format!(
            "http://{}/api/client/v2.0/app/{APP_ID}/auth/providers/anon-user/login",
            a.client
        ))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let mut ws = TcpStream::connect(&b.client).await?;
    ws.set_nodelay(true)?;
    let request = format!(
        "GET /ws HTTP/1.1\r\nHost: {}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Authorization: Bearer {}\r\n\r\n",
        b.client, login.access_token
    );
    ws.write_all(request.as_bytes()).await?;
    let head = read_head(&mut ws).await?;
    ensure!(
        head.starts_with("HTTP/1.1 101"),
        "no WebSocket through B: {head}"
    );
    let limit = args.limit;
    let closed = tokio::spawn(async move {
        let mut first = [0u8; 4];
        tokio::time::timeout(limit, ws.read_exact(&mut first)).await??;
        let at = Instant::now();
        ensure!(
            first[0] == 0x88 && first[2..4] == 1008u16.to_be_bytes(),
            "not a close 1008: {first:?}"
        );
        Ok::<_, anyhow::Error>(at)
    });
    let sent = Instant::now();
    let status = http
        .delete(format!("http://{}/api/client/v2.0/auth/session", a.client))
        .bearer_auth(&login.refresh_token)
        .send()
        .await?
        .status();
    let answered = Instant::now();
    ensure!(status == 204, "logout on A answered {status}");
    let closed_at = closed.await??;
    Ok((
        closed_at.saturating_duration_since(answered),
        closed_at - sent,
    ))
}

fn report(title: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let at = |p: f64| {
        let rank = ((p * samples.len() as f64).ceil() as usize).clamp(1, samples.len());
        samples[rank - 1].as_secs_f64() * 1000.0
    };
    println!(
        "{title}: n={} p50={:.2}ms p90={:.2}ms p99={:.2}ms max={:.2}ms",
        samples.len(),
        at(0.50),
        at(0.90),
        at(0.99),
        at(1.0)
    );
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    ensure!(args.iterations > 0, "--iterations must be at least 1");
    let schema = format!("sg_bench_{}", std::process::id());
    let mut admin = sqlx::PgConnection::connect(&args.postgres_url).await?;
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&mut admin)
        .await?;
    let separator = if args.postgres_url.contains('?') {
        '&'
    } else {
        '?'
    };
    let store = format!(
        "{}{separator}options=-c%20search_path%3D{schema}",
        args.postgres_url
    );
    let outcome = async {
        let dir = tempfile::tempdir()?;
        let upstream = ws_upstream().await?;
        let a = Replica::start(&args, dir.path(), "stream_bench_a", &store, &upstream).await?;
        let b = Replica::start(&args, dir.path(), "stream_bench_b", &store, &upstream).await?;
        let http = reqwest::Client::new();
        for _ in 0..3 {
            measure(&args, &http, &a, &b).await?; // warm-up, untimed
        }
        let mut after_204 = Vec::new();
        let mut after_send = Vec::new();
        for _ in 0..args.iterations {
            let (from_204, from_send) = measure(&args, &http, &a, &b).await?;
            after_204.push(from_204);
            after_send.push(from_send);
        }
        report("A's 204 -> close frame on B", after_204);
        report("revocation sent to A -> close frame on B", after_send);
        Ok::<_, anyhow::Error>(())
    }
    .await;
    sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
        .execute(&mut admin)
        .await?;
    outcome
}
