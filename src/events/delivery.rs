//! The delivery task: claims recorded events from the outbox, POSTs them to `events.url`
//! (signed), and marks them delivered or schedules a retry. One per process, spawned by
//! `App::run` and stopped with it.
//!
//! # Guarantees
//! - **At least once.** A recorded event stays in the store until a 2xx answer was received
//!   and noted. A restart, a crash or `kill -9` loses nothing: a row leased by a process that
//!   died becomes claimable again when its lease expires (`2 × events.timeout + 5s`). A
//!   receiver may therefore see an event twice (an answer lost, a lease that expired during a
//!   very slow answer, a crash between the answer and the note); it de-duplicates by the
//!   `X-Sessiongate-Event-Id` header (= the body's `id`).
//! - **In order per user.** Only the oldest pending event of a user is ever claimed, by one
//!   process at a time (a lease); the next waits until it is delivered or given up. Events of
//!   different users go out concurrently (`events.concurrency` per process). The order is
//!   the order in which the events were recorded; two changes to one user that race each
//!   other are recorded in either order.
//! - **Retries.** A failed attempt (not 2xx, no answer within `events.timeout`, unreachable)
//!   is retried after `events.backoff_initial`, doubling up to `events.backoff_max` (plus up
//!   to 10% jitter), for as long as the event is younger than `events.max_age`; then it is
//!   given up (`error` log, `sessiongate_events_dropped_total`) so the user's next event can
//!   go. Meanwhile the user's later events wait.
//! - **Retention.** Done rows (delivered or given up) are purged `events.retention` after.
//!
//! Does not record events (`Events::emit` does) or decide what they say.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{CONTENT_TYPE, USER_AGENT};
use http::{HeaderValue, Request};
use http_body_util::Full;
use tokio::sync::watch;

use super::{EventName, Events, SIGNATURE_HEADER, now_ms, sign};
use crate::config::EventsConfig;
use crate::metrics::{self, EventFailure};
use crate::outbound::{FetchError, Fetcher};
use crate::store::ClaimedEvent;

/// What the task reads from the running config at each round (a reload applies at once).
pub struct Source {
    pub config: EventsConfig,
    /// The shared outbound client (`crate::outbound`): trust roots from `[outbound]`.
    pub fetcher: Fetcher,
}

/// The event id header (de-duplication).
pub const EVENT_ID_HEADER: &str = "x-sessiongate-event-id";
/// The event name header (routing without parsing the body).
pub const EVENT_TYPE_HEADER: &str = "x-sessiongate-event-type";
/// Which attempt this is (1 on the first).
pub const ATTEMPT_HEADER: &str = "x-sessiongate-attempt";

/// Longest wait between two looks at the outbox (events recorded by other replicas, retries
/// scheduled by them).
const POLL: Duration = Duration::from_secs(1);
/// How often the pending gauge is read from the store.
const GAUGE_EVERY: Duration = Duration::from_secs(5);
/// How often done rows past their retention are purged, and how many per statement.
const PURGE_EVERY: Duration = Duration::from_secs(60);
const PURGE_BATCH: i64 = 1000;
/// A lease lasts twice the attempt timeout plus this (the store writes after the answer).
const LEASE_MARGIN: Duration = Duration::from_secs(5);
/// Largest answer body read (and ignored) from the receiver.
const ANSWER_LIMIT: usize = 64 * 1024;
/// Bound of the lease release at shutdown.
const RELEASE_BOUND: Duration = Duration::from_secs(1);

/// Delivers until `stop` changes. `source` gives the running `[events]` and outbound client;
/// while `events.url` is empty the task only waits.
pub async fn deliver(
    events: Arc<Events>,
    source: impl Fn() -> Source,
    mut stop: watch::Receiver<bool>,
) {
    let mut next_due: Option<Instant> = None;
    let mut gauge_at = Instant::now();
    let mut purge_at = Instant::now();
    loop {
        let Source { config, fetcher } = source();
        let mut busy = false;
        if config.enabled() {
            let round = async {
                let busy = round(&events, &config, &fetcher, &mut next_due).await;
                housekeeping(&events, &config, &mut gauge_at, &mut purge_at).await;
                busy
            };
            tokio::select! {
                biased;
                _ = stop.changed() => return release(&events).await,
                claimed = round => busy = claimed,
            }
        }
        if busy {
            // A user's next event may be due now that the previous one went.
            tokio::task::yield_now().await;
            continue;
        }
        let now = Instant::now();
        let wait = next_due
            .filter(|due| *due > now)
            .map_or(POLL, |due| (due - now).min(POLL));
        if next_due.is_some_and(|due| due <= now + wait) {
            next_due = None;
        }
        tokio::select! {
            biased;
            _ = stop.changed() => return release(&events).await,
            () = events.wake.notified() => {}
            () = tokio::time::sleep(wait) => {}
        }
    }
}

/// Claims what is due and attempts it; `true` if anything was claimed.
async fn round(
    events: &Events,
    config: &EventsConfig,
    fetcher: &Fetcher,
    next_due: &mut Option<Instant>,
) -> bool {
    let now = now_ms();
    let lease = config
        .timeout
        .saturating_mul(2)
        .saturating_add(LEASE_MARGIN);
    let lease_until = now.saturating_add(millis(lease));
    let limit = i64::try_from(config.concurrency).unwrap_or(1);
    let claimed = match events
        .store
        .claim_events(&events.owner, now, lease_until, limit)
        .await
    {
        Ok(claimed) => claimed,
        Err(err) => {
            tracing::warn!(error = %err, "event outbox not readable; retrying");
            return false;
        }
    };
    if claimed.is_empty() {
        return false;
    }
    let attempts = claimed
        .iter()
        .map(|event| attempt(events, config, fetcher, event));
    for retry_at in futures_util::future::join_all(attempts)
        .await
        .into_iter()
        .flatten()
    {
        *next_due = Some(next_due.map_or(retry_at, |due| due.min(retry_at)));
    }
    true
}

/// One delivery attempt of `event`; the time of its retry, if one was scheduled.
async fn attempt(
    events: &Events,
    config: &EventsConfig,
    fetcher: &Fetcher,
    event: &ClaimedEvent,
) -> Option<Instant> {
    let event_type = EventName::parse(&event.event_type).map_or("other", EventName::as_str);
    let started = Instant::now();
    let failure = match request(config, event) {
        Some(request) => match fetcher.send(request, config.timeout, ANSWER_LIMIT).await {
            Ok(answer) if answer.status.is_success() => None,
            Ok(answer) => Some((EventFailure::Status, format!("answered {}", answer.status))),
            Err(FetchError::Timeout(_)) => Some((
                EventFailure::Timeout,
                format!("no answer within {:?}", config.timeout),
            )),
            Err(FetchError::TooLarge(limit)) => Some((
                EventFailure::Status,
                format!("answer larger than {limit} bytes"),
            )),
            Err(err) => Some((
                EventFailure::Unreachable,
                crate::config::mask_urls(&err.to_string()).into_owned(),
            )),
        },
        None => Some((EventFailure::Status, "cannot build the request".to_owned())),
    };
    let elapsed = started.elapsed();
    let store = &events.store;
    let now = now_ms();
    let Some((reason, error)) = failure else {
        metrics::record_event_sent(event_type, elapsed);
        tracing::debug!(event = event_type, event_id = %event.id, attempts = event.attempts, "event delivered");
        if let Err(err) = store.finish_event(event.seq, now, false).await {
            // Sent but not noted: it will be sent again when the lease expires.
            tracing::warn!(event_id = %event.id, error = %err, "delivered event not marked; it may be sent twice");
        }
        return None;
    };
    metrics::record_event_attempt_failed(reason, elapsed);
    let delay = backoff(config, event.attempts);
    let age = Duration::from_millis(u64::try_from(now - event.created_at).unwrap_or(0));
    if age.saturating_add(delay) > config.max_age {
        metrics::record_event_dropped(event_type);
        tracing::error!(
            event = event_type,
            event_id = %event.id,
            attempts = event.attempts,
            error = %error,
            "event given up after events.max_age: it will not be delivered"
        );
        if let Err(err) = store.finish_event(event.seq, now, true).await {
            tracing::warn!(event_id = %event.id, error = %err, "given-up event not marked; retrying later");
        }
        return None;
    }
    tracing::warn!(
        event = event_type,
        event_id = %event.id,
        attempts = event.attempts,
        retry_in_ms = millis(delay),
        error = %error,
        "event delivery failed; retrying"
    );
    let next_attempt_at = now.saturating_add(millis(delay));
    match store
        .retry_event(event.seq, &events.owner, next_attempt_at, &error)
        .await
    {
        Ok(_) => Some(Instant::now() + delay),
        Err(err) => {
            // The lease expires instead; the event is retried then.
            tracing::warn!(event_id = %event.id, error = %err, "event retry not scheduled; the lease will expire");
            None
        }
    }
}

/// The signed POST of `event`; `None` if a stored value cannot be a header (a corrupt row).
fn request(config: &EventsConfig, event: &ClaimedEvent) -> Option<Request<Full<Bytes>>> {
    let url = config.url.as_ref()?;
    let secret = config.secret.as_ref()?;
    let signature = sign(secret.expose(), event.body.as_bytes());
    Request::post(url.as_str())
        .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
        .header(
            USER_AGENT,
            HeaderValue::from_static(concat!("sessiongate/", env!("CARGO_PKG_VERSION"))),
        )
        .header(EVENT_ID_HEADER, HeaderValue::from_str(&event.id).ok()?)
        .header(
            EVENT_TYPE_HEADER,
            HeaderValue::from_str(&event.event_type).ok()?,
        )
        .header(ATTEMPT_HEADER, event.attempts)
        .header(SIGNATURE_HEADER, HeaderValue::from_str(&signature).ok()?)
        .body(Full::new(Bytes::from(event.body.clone())))
        .ok()
}

/// The wait after the `attempts`-th failure: `backoff_initial × 2^(attempts-1)`, capped at
/// `backoff_max`, plus up to 10% jitter (so replicas' retries do not arrive in step).
fn backoff(config: &EventsConfig, attempts: i64) -> Duration {
    let doublings = u32::try_from(attempts.saturating_sub(1).clamp(0, 32)).unwrap_or(32);
    let base = config
        .backoff_initial
        .saturating_mul(2u32.saturating_pow(doublings))
        .min(config.backoff_max);
    let jitter = f64::from(u16::from_be_bytes(crate::ids::random_bytes())) / f64::from(u16::MAX);
    base + base.mul_f64(jitter / 10.0)
}

/// Reads the pending gauge and purges old done rows, each at its own pace.
async fn housekeeping(
    events: &Events,
    config: &EventsConfig,
    gauge_at: &mut Instant,
    purge_at: &mut Instant,
) {
    let now = Instant::now();
    if now >= *gauge_at {
        *gauge_at = now + GAUGE_EVERY;
        match events.store.pending_events().await {
            Ok(count) => metrics::set_events_pending(count),
            Err(err) => tracing::debug!(error = %err, "pending events not counted"),
        }
    }
    if now >= *purge_at {
        *purge_at = now + PURGE_EVERY;
        let before = now_ms().saturating_sub(millis(config.retention));
        match events.store.purge_events(before, PURGE_BATCH).await {
            Ok(0) => {}
            Ok(purged) => tracing::debug!(purged, "delivered events purged"),
            Err(err) => tracing::warn!(error = %err, "delivered events not purged; retrying later"),
        }
    }
}

/// Hands this process's leases back at shutdown, so another process (or this one restarted)
/// need not wait for them to expire. Bounded: a down store does not hold the exit.
async fn release(events: &Events) {
    let released = tokio::time::timeout(RELEASE_BOUND, events.store.release_events(&events.owner));
    match released.await {
        Ok(Ok(0)) => {}
        Ok(Ok(count)) => tracing::debug!(count, "event leases released"),
        Ok(Err(err)) => tracing::debug!(error = %err, "event leases not released; they expire"),
        Err(_) => tracing::debug!("event leases not released in time; they expire"),
    }
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(initial: u64, max: u64) -> EventsConfig {
        EventsConfig {
            url: None,
            secret: None,
            secret_file: None,
            timeout: Duration::from_secs(1),
            backoff_initial: Duration::from_millis(initial),
            backoff_max: Duration::from_millis(max),
            max_age: Duration::from_secs(3600),
            retention: Duration::from_secs(60),
            concurrency: 4,
        }
    }

    #[test]
    fn backoff_doubles_up_to_its_cap_with_at_most_ten_percent_jitter() {
        let config = config(100, 1000);
        for (attempts, base) in [
            (1, 100),
            (2, 200),
            (3, 400),
            (4, 800),
            (5, 1000),
            (60, 1000),
        ] {
            let delay = backoff(&config, attempts);
            let base = Duration::from_millis(base);
            assert!(
                delay >= base && delay <= base + base / 10,
                "attempt {attempts}: {delay:?}"
            );
        }
        assert!(backoff(&config, 0) >= Duration::from_millis(100));
        assert!(backoff(&config, i64::MAX) <= Duration::from_millis(1100));
    }
}
