//! Benchmark: how long a revocation on one replica takes to be enforced by another (SPEC §8:
//! under 1 s guaranteed, under 100 ms targeted, pushed by PostgreSQL `LISTEN`/`NOTIFY`).
//!
//! Starts two real `sessiongate serve` processes (replicas A and B) on a fresh schema of one
//! PostgreSQL database, in front of the `data_api` example upstream. Then, per iteration:
//!
//! 1. log in anonymously on A;
//! 2. `GET /whoami` on B with the access token (200: B has verified and cached it);
//! 3. revoke through A, alternating between the admin user logout
//!    (`PUT .../users/{id}/logout`) and the client session logout (`DELETE /auth/session`);
//! 4. repeat `GET /whoami` on B with the same token, back to back, until it answers 401.
//!
//! The figure recorded is the time from A's 204 arriving to B's first 401 arriving, measured by
//! this client: it includes one HTTP round trip to B (through B's token check only; a 200
//! before it also went to the upstream).
//!
//! Normally run through `bench/propagation.sh`, which builds everything in release mode:
//!
//! ```text
//! propagation --sessiongate target/release/sessiongate \
//!     --data-api target/release/examples/data_api --iterations 200
//! ```
//!
//! The database is `SESSIONGATE_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`); the schema is dropped at the end.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail, ensure};
use clap::Parser;
use sqlx::Connection;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const APP_ID: &str = "bench-app";
const ADMIN_KEY: &str = "bench-admin-key-0123456789";
const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// Revocation propagation between two sessiongate replicas sharing PostgreSQL.
#[derive(Parser, Debug)]
struct Args {
    /// The `sessiongate` binary to start twice.
    #[arg(long, default_value = "target/release/sessiongate")]
    sessiongate: PathBuf,
    /// The `data_api` example binary, started once as the upstream of both replicas.
    #[arg(long, default_value = "target/release/examples/data_api")]
    data_api: PathBuf,
    /// How many revocations to measure (at least 1; use 100 or more for a p99).
    #[arg(long, default_value_t = 200)]
    iterations: usize,
    /// Give up on one revocation if B still accepts the token after this long.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    limit: Duration,
    /// PostgreSQL to use; a fresh schema is created in it and dropped afterwards.
    #[arg(long, env = "SESSIONGATE_TEST_POSTGRES_URL", default_value = DEFAULT_POSTGRES_URL)]
    postgres_url: String,
}

/// A child process started by this benchmark; its output is collected for error reports.
struct Process {
    name: String,
    child: Child,
    output: Arc<Mutex<String>>,
}

impl Process {
    /// Starts `command` and returns it with the first stdout line that starts with `ready`.
    async fn start(name: &str, mut command: Command, ready: &str) -> Result<(Self, String)> {
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = command
            .spawn()
            .with_context(|| format!("cannot start {name}"))?;
        let output = Arc::new(Mutex::new(String::new()));
        let mut stderr = BufReader::new(child.stderr.take().expect("piped stderr")).lines();
        let sink = output.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = stderr.next_line().await {
                let mut text = sink.lock().expect("output lock");
                text.push_str(&line);
                text.push('\n');
            }
        });
        let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
        let mut process = Self {
            name: name.to_owned(),
            child,
            output,
        };
        let line = loop {
            let next = tokio::time::timeout(Duration::from_secs(60), stdout.next_line()).await;
            match next {
                Ok(Ok(Some(line))) if line.starts_with(ready) => break line,
                Ok(Ok(Some(line))) => process.note(&line),
                Ok(Ok(None)) | Ok(Err(_)) => {
                    let status = process.child.wait().await.ok();
                    bail!(
                        "{name} exited ({status:?}) before it was ready:\n{}",
                        process.output_text()
                    )
                }
                Err(_) => bail!(
                    "{name} did not print {ready:?} within 60s:\n{}",
                    process.output_text()
                ),
            }
        };
        // Keep draining stdout so a later write never blocks or fails.
        let sink = process.output.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = stdout.next_line().await {
                let mut text = sink.lock().expect("output lock");
                text.push_str(&line);
                text.push('\n');
            }
        });
        Ok((process, line))
    }

    fn note(&self, line: &str) {
        let mut text = self.output.lock().expect("output lock");
        text.push_str(line);
        text.push('\n');
    }

    fn output_text(&self) -> String {
        self.output.lock().expect("output lock").clone()
    }

    /// Fails if the process has exited.
    fn check_alive(&mut self) -> Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!(
                "{} exited unexpectedly ({status}):\n{}",
                self.name,
                self.output_text()
            );
        }
        Ok(())
    }

    /// SIGTERM (graceful shutdown), then SIGKILL if it has not exited within 5 s.
    async fn stop(mut self) {
        if let Some(pid) = self.child.id() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(pid.to_string())
                .status()
                .await;
            if tokio::time::timeout(Duration::from_secs(5), self.child.wait())
                .await
                .is_ok()
            {
                return;
            }
        }
        let _ = self.child.kill().await;
    }
}

/// A replica's addresses, read from its ready line.
struct Replica {
    process: Process,
    client_url: String,
    admin_url: String,
}

impl Replica {
    async fn start(
        args: &Args,
        dir: &Path,
        name: &str,
        store_url: &str,
        upstream: &str,
    ) -> Result<Self> {
        let config = dir.join(format!("{name}.toml"));
        let text = format!(
            r#"
[server]
listen = "127.0.0.1:0"
admin_listen = "127.0.0.1:0"
shutdown_grace = "1s"

[app]
id = "{APP_ID}"

[store]
url = "{store_url}&application_name={name}"

[upstream]
url = "{upstream}"
"#
        );
        std::fs::write(&config, text).with_context(|| format!("write {}", config.display()))?;
        let mut command = Command::new(&args.sessiongate);
        command
            .arg("serve")
            .arg("--config")
            .arg(&config)
            // No signing key: the replicas share the one the first generates into the store.
            .env_remove("SESSIONGATE_TOKENS__SIGNING_KEY")
            .env("SESSIONGATE_ADMIN__API_KEY", ADMIN_KEY)
            .env("SESSIONGATE_LOG", "warn");
        let (process, ready) = Process::start(name, command, "sessiongate ready ").await?;
        let field = |prefix: &str| {
            ready
                .split_whitespace()
                .find_map(|word| word.strip_prefix(prefix))
                .map(str::to_owned)
                .ok_or_else(|| anyhow!("no {prefix} in {ready:?}"))
        };
        Ok(Self {
            client_url: field("client=")?,
            admin_url: field("admin=")?,
            process,
        })
    }
}

#[derive(serde::Deserialize)]
struct Login {
    access_token: String,
    refresh_token: String,
    user_id: String,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Revoke {
    /// `PUT /api/admin/v3.0/groups/{g}/apps/{app}/users/{id}/logout` (every session of the user).
    AdminUserLogout,
    /// `DELETE /api/client/v2.0/auth/session` with the refresh token (this session).
    ClientLogout,
}

/// One measured revocation.
struct Sample {
    kind: Revoke,
    /// A's 204 arrived → B's first 401 arrived.
    propagation: Duration,
    /// Requests made to B after the revocation, the refused one included.
    polls: u32,
    /// The round trip of the refused request alone (part of `propagation`).
    refused_round_trip: Duration,
}

async fn measure_one(
    http: &reqwest::Client,
    a: &Replica,
    b: &Replica,
    kind: Revoke,
    limit: Duration,
) -> Result<Sample> {
    let response = http
        .post(format!(
            "{}/api/client/v2.0/app/{APP_ID}/auth/providers/anon-user/login",
            a.client_url
        ))
        .send()
        .await
        .context("login on A")?;
    ensure!(
        response.status() == 200,
        "login on A answered {}",
        response.status()
    );
    let login: Login = response.json().await.context("login answer")?;
    let whoami = format!("{}/whoami", b.client_url);

    let warm = http
        .get(&whoami)
        .bearer_auth(&login.access_token)
        .send()
        .await
        .context("GET /whoami on B")?;
    ensure!(
        warm.status() == 200,
        "B did not accept A's token before the revocation: {}",
        warm.status()
    );
    let body: serde_json::Value = warm.json().await.context("/whoami answer")?;
    ensure!(
        body.to_string().contains(&login.user_id),
        "B's upstream did not see the caller's id: {body}"
    );

    let revoke = match kind {
        Revoke::AdminUserLogout => http
            .put(format!(
                "{}/api/admin/v3.0/groups/bench-group/apps/{APP_ID}/users/{}/logout",
                a.admin_url, login.user_id
            ))
            .bearer_auth(ADMIN_KEY),
        Revoke::ClientLogout => http
            .delete(format!("{}/api/client/v2.0/auth/session", a.client_url))
            .bearer_auth(&login.refresh_token),
    };
    let answer = revoke.send().await.context("revoke on A")?;
    let revoked = Instant::now();
    ensure!(
        answer.status() == 204,
        "{kind:?} on A answered {}",
        answer.status()
    );

    let mut polls = 0u32;
    loop {
        let sent = Instant::now();
        let status = http
            .get(&whoami)
            .bearer_auth(&login.access_token)
            .send()
            .await
            .context("GET /whoami on B after the revocation")?
            .status();
        let elapsed = revoked.elapsed();
        polls += 1;
        match status.as_u16() {
            401 => {
                return Ok(Sample {
                    kind,
                    propagation: elapsed,
                    polls,
                    refused_round_trip: sent.elapsed(),
                });
            }
            200 => ensure!(
                elapsed < limit,
                "B still accepted a token revoked {elapsed:?} ago ({kind:?})"
            ),
            other => bail!("B answered {other} while the revocation propagated"),
        }
    }
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn report(title: &str, samples: &[&Sample]) {
    if samples.is_empty() {
        return;
    }
    let mut times: Vec<Duration> = samples.iter().map(|s| s.propagation).collect();
    times.sort();
    let mean = times.iter().sum::<Duration>() / u32::try_from(times.len()).unwrap_or(u32::MAX);
    let polls: u32 = samples.iter().map(|s| s.polls).sum();
    println!(
        "{title:<22} {:>5} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>8.1}",
        times.len(),
        millis(percentile(&times, 50.0)),
        millis(percentile(&times, 90.0)),
        millis(percentile(&times, 99.0)),
        millis(times[times.len() - 1]),
        millis(mean),
        f64::from(polls) / samples.len() as f64,
    );
}

async fn run(args: &Args, store_url: &str, children: &mut Vec<Process>) -> Result<()> {
    let dir = tempfile::tempdir().context("temp dir")?;
    let mut upstream_command = Command::new(&args.data_api);
    upstream_command.arg("127.0.0.1:0");
    let (upstream, line) =
        Process::start("data_api", upstream_command, "data_api listening on ").await?;
    children.push(upstream);
    let upstream = line
        .strip_prefix("data_api listening on ")
        .expect("checked prefix")
        .to_owned();

    // A first: it creates the tables and the signing key B then shares.
    let a = Replica::start(args, dir.path(), "bench_replica_a", store_url, &upstream).await?;
    let b = Replica::start(args, dir.path(), "bench_replica_b", store_url, &upstream).await?;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()?;

    let result = async {
        // Untimed warm-up: connections, pools, the listeners' first notifications.
        for i in 0..5 {
            let kind = if i % 2 == 0 {
                Revoke::AdminUserLogout
            } else {
                Revoke::ClientLogout
            };
            measure_one(&http, &a, &b, kind, args.limit).await?;
        }
        let mut samples = Vec::with_capacity(args.iterations);
        for i in 0..args.iterations {
            let kind = if i % 2 == 0 {
                Revoke::AdminUserLogout
            } else {
                Revoke::ClientLogout
            };
            let sample = measure_one(&http, &a, &b, kind, args.limit)
                .await
                .with_context(|| format!("iteration {i}"))?;
            samples.push(sample);
        }
        anyhow::Ok(samples)
    }
    .await;
    let mut a = a;
    let mut b = b;
    let result = result.and_then(|samples| {
        a.process.check_alive()?;
        b.process.check_alive()?;
        Ok(samples)
    });
    children.push(a.process);
    children.push(b.process);
    let samples = result?;

    println!(
        "revocation propagation, replica A -> replica B ({} revocations after 5 untimed)",
        samples.len()
    );
    println!("time from A's 204 (revoke answered) to B's first 401, in ms, seen by this client");
    println!(
        "{:<22} {:>5} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8}",
        "", "count", "p50", "p90", "p99", "max", "mean", "polls"
    );
    report("all", &samples.iter().collect::<Vec<_>>());
    for (title, kind) in [
        ("admin user logout", Revoke::AdminUserLogout),
        ("client logout", Revoke::ClientLogout),
    ] {
        report(
            title,
            &samples
                .iter()
                .filter(|s| s.kind == kind)
                .collect::<Vec<_>>(),
        );
    }
    println!("(polls: mean requests to B per revocation, the refused one included)");
    let first = samples.iter().filter(|s| s.polls == 1).count();
    let mut round_trips: Vec<Duration> = samples.iter().map(|s| s.refused_round_trip).collect();
    round_trips.sort();
    println!(
        "refused by the first request to B after the 204: {first} of {}; round trip of the refused request alone: p50 {:.2} ms, p99 {:.2} ms",
        samples.len(),
        millis(percentile(&round_trips, 50.0)),
        millis(percentile(&round_trips, 99.0)),
    );
    let over_target = samples
        .iter()
        .filter(|s| s.propagation >= Duration::from_millis(100))
        .count();
    let over_bound = samples
        .iter()
        .filter(|s| s.propagation >= Duration::from_secs(1))
        .count();
    println!(
        "at or over 100 ms (SPEC §8 target): {over_target}; at or over 1 s (SPEC §8 bound): {over_bound}"
    );
    Ok(())
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    ensure!(args.iterations > 0, "--iterations must be at least 1");
    for binary in [&args.sessiongate, &args.data_api] {
        ensure!(
            binary.is_file(),
            "{} not found (build it first: bench/propagation.sh does)",
            binary.display()
        );
    }

    let base = args.postgres_url.clone();
    let schema = format!("sg_bench_propagation_{}", sessiongate::ids::object_id());
    let mut admin = sqlx::PgConnection::connect(&base)
        .await
        .with_context(|| format!("connect to PostgreSQL at {base}"))?;
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&mut admin)
        .await
        .context("create schema")?;
    let separator = if base.contains('?') { '&' } else { '?' };
    let store_url = format!("{base}{separator}options=-c%20search_path%3D{schema}");

    let mut children = Vec::new();
    let result = tokio::select! {
        result = run(&args, &store_url, &mut children) => result,
        _ = tokio::signal::ctrl_c() => Err(anyhow!("interrupted")),
    };

    for child in children.into_iter().rev() {
        child.stop().await;
    }
    let dropped = sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
        .execute(&mut admin)
        .await;
    if let Err(err) = dropped {
        eprintln!("warning: could not drop schema {schema}: {err}");
    }
    result
}
