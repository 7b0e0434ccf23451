//! What runs beside the listeners: revocation sync (catch-up at start, then a poll woken by
//! store pushes) with signing- and assertion-key reloads (`State::reload_keys`), and the
//! chores task (activity flushes, lifecycle purges), kept apart so no chore delays a
//! revocation.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::{Live, REVOCATION_POLL};
use crate::ids;
use crate::state::State;
use crate::store::{Store, StoreError};
use crate::tokens::Tokens;

/// Loads every revocation recorded since the last one applied, then marks the list current.
pub(super) async fn catch_up_revocations(
    store: &dyn Store,
    tokens: &Tokens,
) -> Result<usize, StoreError> {
    const PAGE: i64 = 1000;
    let started = ids::now();
    let mut applied = 0;
    loop {
        let page = store
            .revocations_since(tokens.revocations().last_seq(), PAGE)
            .await?;
        let new = tokens.revocations().apply(&page, ids::now());
        crate::metrics::record_revocations(
            u64::try_from(new).unwrap_or(u64::MAX),
            crate::metrics::RevocationSource::Replicated,
        );
        applied += new;
        if i64::try_from(page.len()).unwrap_or(PAGE) < PAGE {
            tokens.revocations().mark_synced(started);
            return Ok(applied);
        }
    }
}

/// Every this many polls, signing keys are re-read (rotation on another replica).
const KEY_RELOAD_EVERY: u32 = 5;

/// Reads revocations recorded by other processes sharing the store — at once when the store
/// pushes a signal (PostgreSQL `NOTIFY`), and every second in any case — and forgets expired
/// ones. Signing keys are re-read on every push (a key retirement notifies like a revocation)
/// and every `KEY_RELOAD_EVERY` polls. Nothing else runs here: chores that may take long live
/// in `run_chores`, so they never delay a revocation.
///
/// Shutdown wins every race: the `select!`s are biased toward it and a store call in flight is
/// abandoned when it comes, so a down or stalled store does not hold the exit.
pub(super) async fn poll_revocations(live: Arc<Live>, mut stop: watch::Receiver<bool>) {
    let mut interval = tokio::time::interval(REVOCATION_POLL);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let signal = live.current().store.revocation_signal();
    let mut polls: u32 = 0;
    loop {
        let pushed = async {
            match &signal {
                Some(signal) => signal.notified().await,
                None => std::future::pending().await,
            }
        };
        let woken = tokio::select! {
            biased;
            _ = stop.changed() => return,
            _ = interval.tick() => false,
            () = pushed => true,
        };
        let state = live.current();
        let round = async {
            let tokens = &state.tokens;
            if let Err(err) = catch_up_revocations(state.store.as_ref(), tokens).await {
                tracing::warn!(error = %err, staleness_s = tokens.revocations().staleness(ids::now()), "revocation catch-up failed; retrying");
            }
            tokens.revocations().purge(ids::now());
            // A push may announce a key retirement (`Store::delete_signing_key`): reload at once.
            if woken || polls % KEY_RELOAD_EVERY == 0 {
                state.reload_keys().await;
            }
        };
        tokio::select! {
            biased;
            _ = stop.changed() => return,
            () = round => {}
        }
        polls = polls.wrapping_add(1);
    }
}

/// How often noted session activity is written to the store.
const ACTIVITY_FLUSH_EVERY: Duration = Duration::from_secs(15);

/// How often (and at start) lifecycle chores run.
const LIFECYCLE_EVERY: Duration = Duration::from_secs(300);

/// The background chores, in their own task so that none delays revocation sync: activity
/// flushes and lifecycle purges, each with the config current when it starts. Abandoned
/// (mid-batch if need be) at shutdown.
pub(super) async fn run_chores(live: Arc<Live>, mut stop: watch::Receiver<bool>) {
    let mut flush = tokio::time::interval(ACTIVITY_FLUSH_EVERY);
    flush.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut lifecycle = tokio::time::interval(LIFECYCLE_EVERY);
    lifecycle.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The first flush tick is immediate and there is nothing to flush yet.
    flush.tick().await;
    loop {
        let chore = tokio::select! {
            biased;
            _ = stop.changed() => return,
            _ = flush.tick() => None,
            _ = lifecycle.tick() => Some(()),
        };
        let state = live.current();
        let work = async {
            match chore {
                None => flush_activity(&state).await,
                Some(()) => run_lifecycle(&state).await,
            }
        };
        tokio::select! {
            biased;
            _ = stop.changed() => return,
            () = work => {}
        }
    }
}

pub(super) async fn flush_activity(state: &State) {
    if let Err(err) = state.activity.flush(state.store.as_ref()).await {
        tracing::warn!(error = %err, "session activity flush failed; kept for the next one");
    }
}

/// Deletes anonymous users past `tokens.anon_user_ttl` (in bounded batches), rows no token
/// can use any more and login-limit counters nobody needs. Runs in the chores task; public so
/// tests can run it on demand.
pub async fn run_lifecycle(state: &State) {
    match state.throttle.purge().await {
        Ok(purged) => tracing::debug!(purged, "login_limits counters purged"),
        Err(err) => tracing::warn!(error = %err, "login_limits purge failed; retrying later"),
    }
    match state.auth.purge(state.config.tokens.anon_user_ttl).await {
        Ok((anonymous_sessions, purged)) => {
            tracing::debug!(anonymous_sessions, purged, "lifecycle chores done");
        }
        Err(err) => tracing::warn!(error = %err, "lifecycle chores failed; retrying later"),
    }
}
