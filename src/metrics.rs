//! Prometheus metrics: one process-wide recorder, a typed function per thing we count (every label
//! drawn from a closed set), and the text the admin listener serves at `/metrics`.
//!
//! Does not serve HTTP or push anywhere: `admin` renders [`Metrics::render`] itself. Before
//! [`install`] runs, the recording functions are no-ops (the `metrics` facade's default).
//!
//! Series:
//! - `sessiongate_requests_total{class,status}` counter, `sessiongate_request_duration_seconds{class}`
//!   histogram ([`record_request`])
//! - `sessiongate_logins_total{provider,outcome}` counter ([`record_login`])
//! - `sessiongate_revocations_total{source}` counter ([`record_revocations`])
//! - `sessiongate_upstream_errors_total{kind}` counter ([`record_upstream_error`])
//! - `sessiongate_token_cache_hits_total`, `sessiongate_token_cache_misses_total` counters and
//!   `sessiongate_token_cache_entries` gauge ([`set_token_cache`])
//! - `sessiongate_revocation_list_staleness_seconds` gauge ([`set_revocation_staleness`])
//! - `sessiongate_upstream_duration_seconds{outcome}` histogram ([`record_upstream_duration`])
//! - `sessiongate_hash_pool_queue_depth` gauge and `sessiongate_hash_pool_wait_seconds`
//!   histogram ([`hash_pool_queued`])
//! - `sessiongate_config_reloads_total{result}` counter ([`record_reload`])
//! - the login limits' and storm shedding's series (`metrics/throttle.rs`)
//! - `sessiongate_build_info{version,config_hash}` gauge, always 1 ([`set_build_info`])
//! - refresh-token rotation and the session cap: see [`sessions`]
//! - `sessiongate_events_*`: the lifecycle-event outbox and its delivery (`metrics/events.rs`)
//! - live streams and revocation propagation: see [`streams`]
//! - `process_cpu_seconds_total`, `process_resident_memory_bytes`, `process_open_fds`,
//!   `process_max_fds`, `process_threads`, … (the `metrics-process` collector, read at each
//!   [`Metrics::render`])
//!
//! The request, login, revocation, token-cache and reload series are here; the other groups live
//! in submodules (`upstream`, `connections`, `hash_pool`, `build_info`, `throttle`, `events`,
//! `sessions`, `streams`), their functions re-exported here.

pub mod streams;

use std::sync::OnceLock;
use std::time::Duration;

use ::metrics::{
    Counter, Histogram, Unit, counter, describe_counter, describe_gauge, describe_histogram, gauge,
    histogram,
};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

pub mod sessions;
mod throttle;
pub use sessions::{CapAction, RotationOutcome, record_refresh_rotation, record_session_cap};
pub use throttle::{record_login_shed, record_login_throttled, record_throttle_trip};
mod events;
pub use events::{
    EventFailure, record_event_attempt_failed, record_event_dropped, record_event_emit_error,
    record_event_sent, set_events_pending,
};
mod upstream;
pub use upstream::{
    UpstreamErrorKind, record_upstream_duration, record_upstream_error, record_upstream_retry,
};
mod connections;
pub use connections::{record_client_fault, record_connection_shed, record_connection_timed_out};
mod hash_pool;
use hash_pool::HASH_POOL_QUEUE_DEPTH;
pub use hash_pool::{HashPoolQueued, hash_pool_admitted_at_once, hash_pool_queued};
mod build_info;
use build_info::render_build_info;
pub use build_info::set_build_info;

const REQUESTS_TOTAL: &str = "sessiongate_requests_total";
const REQUEST_DURATION: &str = "sessiongate_request_duration_seconds";
const LOGINS_TOTAL: &str = "sessiongate_logins_total";
const REVOCATIONS_TOTAL: &str = "sessiongate_revocations_total";
const TOKEN_CACHE_HITS: &str = "sessiongate_token_cache_hits_total";
const TOKEN_CACHE_MISSES: &str = "sessiongate_token_cache_misses_total";
const TOKEN_CACHE_ENTRIES: &str = "sessiongate_token_cache_entries";
const REVOCATION_STALENESS: &str = "sessiongate_revocation_list_staleness_seconds";
const CONFIG_RELOADS: &str = "sessiongate_config_reloads_total";

/// Upper bounds of the latency histogram buckets, in seconds: a cache-hit proxy check is well
/// under a millisecond, an argon2 login ~100 ms, an upstream call may take seconds.
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// How often histogram samples are folded into their buckets when nobody scrapes. A scrape does
/// the same; without either, samples would pile up in memory (one `f64` per request).
const UPKEEP_PERIOD: Duration = Duration::from_secs(5);

/// The provider names that are their own `provider` label: App Services' five plus our `grant`.
const KNOWN_PROVIDERS: [&str; 8] = [
    "anon-user",
    "local-userpass",
    "api-key",
    "custom-token",
    "custom-function",
    "grant",
    "oauth2-google",
    "oauth2-apple",
];

/// The one recorder of this process. Tests start several gateways in one process; they all
/// share it, so counts add up across them.
static METRICS: OnceLock<Metrics> = OnceLock::new();

/// Status slots per class in [`REQUEST_COUNTERS`]: 100..=599, then `other`.
const STATUS_SLOTS: usize = 501;

/// `sessiongate_requests_total` by class and status, registered on first use (see
/// [`with_series`]).
static REQUEST_COUNTERS: [OnceLock<Counter>; 3 * STATUS_SLOTS] =
    [const { OnceLock::new() }; 3 * STATUS_SLOTS];

/// `sessiongate_request_duration_seconds` by class.
static REQUEST_DURATIONS: [OnceLock<Histogram>; 3] = [const { OnceLock::new() }; 3];

/// Uses the series that `register` names, registered once per `slot` after [`install`].
///
/// `counter!` and `histogram!` build the series' key (its labels) and look it up in the
/// recorder on every call; for the series written on every request that cost several thousand
/// instructions. A handle registered before [`install`] would stay bound to the no-op recorder,
/// so until then the series is registered on each call, as the macros do.
fn with_series<T>(
    slot: &'static OnceLock<T>,
    register: impl FnOnce() -> T,
    write: impl FnOnce(&T),
) {
    if METRICS.get().is_some() {
        write(slot.get_or_init(register));
    } else {
        write(&register());
    }
}

/// A handle to the installed recorder; cheap to clone (an `Arc` inside).
#[derive(Clone, Debug)]
pub struct Metrics {
    handle: PrometheusHandle,
    process: metrics_process::Collector,
}

impl Metrics {
    /// The Prometheus text exposition (format 0.0.4) of every series recorded so far in this
    /// process, with the process metrics read now. Serve with
    /// `Content-Type: text/plain; version=0.0.4`. Call [`set_token_cache`] just before, so the
    /// cache numbers are current.
    pub fn render(&self) -> String {
        self.process.collect();
        let mut text = self.handle.render();
        render_build_info(&mut text);
        text
    }
}

/// Installs the Prometheus recorder as the process-wide `metrics` recorder and returns a handle
/// to render it. Idempotent: the first call installs, every later call (another gateway in the
/// same test process) returns a handle to the same recorder.
///
/// The first call also starts a small named thread, `metrics-upkeep`, that folds histogram
/// samples into buckets every few seconds, so memory stays bounded when `/metrics` is not scraped.
///
/// If something else installed a global `metrics` recorder first, ours is not installed, a
/// warning is logged, and [`Metrics::render`] shows nothing.
pub fn install() -> Metrics {
    METRICS.get_or_init(build_and_install).clone()
}

fn build_and_install() -> Metrics {
    let recorder = PrometheusBuilder::new()
        .set_buckets(LATENCY_BUCKETS)
        .expect("LATENCY_BUCKETS is not empty")
        .build_recorder();
    let handle = recorder.handle();
    if let Err(err) = ::metrics::set_global_recorder(recorder) {
        tracing::warn!(error = %err, "another metrics recorder is installed; /metrics stays empty");
    }
    describe();
    let process = metrics_process::Collector::default();
    process.describe();
    // Shown at 0 from the start, so a dashboard sees the series before the first event.
    for result in ["ok", "failed"] {
        counter!(CONFIG_RELOADS, "result" => result).increment(0);
    }
    gauge!(HASH_POOL_QUEUE_DEPTH).increment(0.0);
    let upkeep = handle.clone();
    let spawned = std::thread::Builder::new()
        .name("metrics-upkeep".to_owned())
        .spawn(move || {
            loop {
                std::thread::sleep(UPKEEP_PERIOD);
                upkeep.run_upkeep();
            }
        });
    if let Err(err) = spawned {
        // Scrapes still fold samples; only an unscraped gateway would grow.
        tracing::warn!(error = %err, "metrics upkeep thread did not start");
    }
    Metrics { handle, process }
}

/// The `# HELP` lines (and units) of every series.
fn describe() {
    sessions::describe();
    events::describe();
    describe_counter!(
        REQUESTS_TOTAL,
        "Requests answered, by listener class and HTTP status"
    );
    describe_histogram!(
        REQUEST_DURATION,
        Unit::Seconds,
        "Time from request head received to response head sent, by listener class"
    );
    describe_counter!(LOGINS_TOTAL, "Login attempts, by provider and outcome");
    describe_counter!(
        REVOCATIONS_TOTAL,
        "Sessions revoked, by where the revocation came from"
    );
    upstream::describe();
    connections::describe();
    describe_counter!(
        TOKEN_CACHE_HITS,
        "Access tokens accepted from the verified-token cache"
    );
    describe_counter!(
        TOKEN_CACHE_MISSES,
        "Access tokens that needed a full verification"
    );
    describe_gauge!(TOKEN_CACHE_ENTRIES, "Entries in the verified-token cache");
    describe_gauge!(
        REVOCATION_STALENESS,
        Unit::Seconds,
        "Age of the revocation list: time since it was last synced with the store"
    );
    hash_pool::describe();
    describe_counter!(
        CONFIG_RELOADS,
        "Configuration reloads, by result: ok (applied) or failed (refused, old config kept)"
    );
    throttle::describe();
    streams::describe();
}

/// Which listener / part of the gateway answered a request: the `class` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteClass {
    /// App Services client API (`/api/client/v2.0/…`) and session routes.
    ClientApi,
    /// Authenticated requests forwarded to the upstream.
    Proxy,
    /// The admin listener.
    Admin,
}

impl RouteClass {
    /// The label value: `client_api`, `proxy`, `admin`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClientApi => "client_api",
            Self::Proxy => "proxy",
            Self::Admin => "admin",
        }
    }

    /// A slot per class, `0..3`.
    fn index(self) -> usize {
        match self {
            Self::ClientApi => 0,
            Self::Proxy => 1,
            Self::Admin => 2,
        }
    }
}

/// How a login attempt ended: the `outcome` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginResult {
    /// A session was created.
    Success,
    /// The client's fault: wrong password, unknown or disabled user, bad token (4xx).
    InvalidCredentials,
    /// Our or a dependency's fault: store down, webhook failed (5xx).
    Error,
}

impl LoginResult {
    /// The label value: `success`, `invalid_credentials`, `error`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::InvalidCredentials => "invalid_credentials",
            Self::Error => "error",
        }
    }
}

/// Where a revocation came from: the `source` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevocationSource {
    /// Revoked by a request to this gateway (sign-out, admin).
    Local,
    /// Learnt from the store: another replica revoked it.
    Replicated,
}

impl RevocationSource {
    /// The label value: `local`, `replicated`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Local => "local",
            Self::Replicated => "replicated",
        }
    }
}

/// Counts one answered request and records its latency. Call once per request, when the
/// response head is ready: `record_request(RouteClass::Proxy, status.as_u16(), started.elapsed())`.
///
/// A status outside 100–599 is labelled `other`, so the label set stays bounded.
pub fn record_request(class: RouteClass, status: u16, latency: Duration) {
    let status_slot = if (100..=599).contains(&status) {
        usize::from(status - 100)
    } else {
        STATUS_SLOTS - 1
    };
    with_series(
        &REQUEST_COUNTERS[class.index() * STATUS_SLOTS + status_slot],
        || counter!(REQUESTS_TOTAL, "class" => class.as_str(), "status" => status_label(status)),
        |requests| requests.increment(1),
    );
    with_series(
        &REQUEST_DURATIONS[class.index()],
        || histogram!(REQUEST_DURATION, "class" => class.as_str()),
        |durations| durations.record(latency.as_secs_f64()),
    );
}

/// Counts one login attempt through `provider` (the wire name, e.g. `local-userpass`).
///
/// # Security
/// The provider comes from the request path. Only App Services' five names and `grant` become
/// labels; anything else is `other`, so a client cannot grow the series set without bound.
pub fn record_login(provider: &str, outcome: LoginResult) {
    counter!(LOGINS_TOTAL, "provider" => provider_label(provider), "outcome" => outcome.as_str())
        .increment(1);
}

/// Adds `count` revoked sessions (a sign-out-all revokes several at once).
pub fn record_revocations(count: u64, source: RevocationSource) {
    counter!(REVOCATIONS_TOTAL, "source" => source.as_str()).increment(count);
}

/// Publishes the verified-token cache's own totals: `hits` and `misses` since start-up (set as
/// absolute counter values, so they must only grow) and the current number of `entries`. Call
/// right before [`Metrics::render`].
pub fn set_token_cache(hits: u64, misses: u64, entries: u64) {
    counter!(TOKEN_CACHE_HITS).absolute(hits);
    counter!(TOKEN_CACHE_MISSES).absolute(misses);
    gauge!(TOKEN_CACHE_ENTRIES).set(entries as f64);
}

/// Publishes how old the revocation list is, in seconds since its last successful sync.
pub fn set_revocation_staleness(seconds: f64) {
    gauge!(REVOCATION_STALENESS).set(seconds);
}

/// Counts one configuration reload: `ok` when the new config was applied, `failed` when it
/// was refused and the old one kept serving.
pub fn record_reload(ok: bool) {
    let result = if ok { "ok" } else { "failed" };
    counter!(CONFIG_RELOADS, "result" => result).increment(1);
}

fn status_label(status: u16) -> String {
    if (100..=599).contains(&status) {
        status.to_string()
    } else {
        "other".to_owned()
    }
}

fn provider_label(provider: &str) -> &'static str {
    KNOWN_PROVIDERS
        .iter()
        .copied()
        .find(|known| *known == provider)
        // Every `[[providers.oidc]]` is one series: their names come from config, not clients.
        .unwrap_or(if provider.starts_with("oidc-") {
            "oidc"
        } else {
            "other"
        })
}

#[cfg(test)]
mod tests;
