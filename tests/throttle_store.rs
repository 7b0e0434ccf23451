//! The login-throttle counters in the store (`Store::throttle_*`), with explicit clocks:
//! windows, blocks, escalation and its cap, forgetting, known clients and the purge — on a real
//! SQLite file, and on PostgreSQL (fresh schema) when `SESSIONGATE_TEST_POSTGRES_URL` is set.

mod common;

use std::sync::Arc;

use sessiongate::store::{self, Store, ThrottleHit, ThrottleRules, ThrottleState};

const RULES: ThrottleRules = ThrottleRules {
    window: 10,
    block: 5,
    max_block: 20,
    forget_after: 100,
};

fn hit(key: &str, limit: i64) -> ThrottleHit {
    ThrottleHit {
        key: key.to_owned(),
        limit,
    }
}

/// Counts one failure of `key` (limit 3) at `now`; `None` when the key was blocked.
async fn fail(store: &dyn Store, key: &str, now: i64) -> Option<ThrottleState> {
    let mut counted = store
        .throttle_failures(&[hit(key, 3)], &RULES, now)
        .await
        .expect("count");
    assert!(counted.len() <= 1);
    counted.pop()
}

async fn the_counters_story(store: Arc<dyn Store>) {
    let store = store.as_ref();
    // Two failures count; the third reaches the limit and blocks for `block`.
    assert_eq!(fail(store, "k", 1000).await.expect("counted").failures, 1);
    assert_eq!(fail(store, "k", 1001).await.expect("counted").failures, 2);
    let tripped = fail(store, "k", 1002).await.expect("counted");
    assert_eq!(
        (tripped.failures, tripped.trips, tripped.blocked_until),
        (0, 1, 1007)
    );
    // While blocked nothing is counted (failures in flight do not lengthen the block).
    assert_eq!(fail(store, "k", 1003).await, None);
    let read = store
        .throttle_states(&["k".to_owned(), "absent".to_owned()])
        .await
        .expect("read");
    assert_eq!(read.len(), 1);
    assert_eq!(read[0].blocked_until, 1007);

    // After the block a fresh window; the next trip blocks twice as long.
    assert_eq!(fail(store, "k", 1008).await.expect("counted").failures, 1);
    fail(store, "k", 1009).await.expect("counted");
    let second = fail(store, "k", 1010).await.expect("counted");
    assert_eq!((second.trips, second.blocked_until), (2, 1020));

    // A window that is over starts again: two failures 15 s apart never reach three.
    assert_eq!(fail(store, "k", 1021).await.expect("counted").failures, 1);
    assert_eq!(fail(store, "k", 1022).await.expect("counted").failures, 2);
    assert_eq!(fail(store, "k", 1040).await.expect("counted").failures, 1);

    // Escalation stops at `max_block`.
    fail(store, "k", 1041).await.expect("counted");
    let third = fail(store, "k", 1042).await.expect("counted");
    assert_eq!((third.trips, third.blocked_until), (3, 1062));
    for now in [1063, 1064, 1065] {
        fail(store, "k", now).await.expect("counted");
    }
    let capped = store
        .throttle_states(&["k".to_owned()])
        .await
        .expect("read");
    assert_eq!((capped[0].trips, capped[0].blocked_until), (4, 1085));

    // `forget_after` without a failure: the escalation starts over.
    for now in [1200, 1201] {
        fail(store, "k", now).await.expect("counted");
    }
    let forgotten = fail(store, "k", 1202).await.expect("counted");
    assert_eq!((forgotten.trips, forgotten.blocked_until), (1, 1207));

    // One statement counts several keys; a blocked one is left out of the answer.
    let counted = store
        .throttle_failures(
            &[hit("k", 3), hit("other", 3), hit("once", 1)],
            &RULES,
            1203,
        )
        .await
        .expect("count");
    let mut keys: Vec<_> = counted.iter().map(|s| s.key.as_str()).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["once", "other"]);
    let once = counted.iter().find(|s| s.key == "once").expect("once");
    assert_eq!(
        (once.trips, once.blocked_until),
        (1, 1208),
        "a limit of 1 blocks at once"
    );

    // A successful login clears the pair and makes the client known.
    store
        .throttle_known("other", &RULES, 1210)
        .await
        .expect("known");
    let other = store
        .throttle_states(&["other".to_owned()])
        .await
        .expect("read");
    assert_eq!((other[0].failures, other[0].known_at), (0, Some(1210)));

    // The purge keeps blocked rows and known clients, and deletes idle ones.
    let purged = store.purge_throttle(1300, 1300, 1000).await.expect("purge");
    assert_eq!(purged, 2, "k and once were idle and no longer blocked");
    let left = store
        .throttle_states(&["k".to_owned(), "once".to_owned(), "other".to_owned()])
        .await
        .expect("read");
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].key, "other");
    assert_eq!(
        store.purge_throttle(1300, 1300, 1211).await.expect("purge"),
        1
    );
}

#[tokio::test]
async fn counters_window_block_escalate_and_purge_on_sqlite() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("store.db").display());
    let store = store::connect(&url).await.expect("sqlite store opens");
    the_counters_story(store.clone()).await;
    store.close().await;
}

#[tokio::test]
async fn counters_window_block_escalate_and_purge_on_postgres() {
    let Some(base) = common::postgres_url_or_skip() else {
        return;
    };
    let (url, schema) = common::fresh_pg_schema(&base).await;
    let store = store::connect(&url).await.expect("postgres store opens");
    the_counters_story(store.clone()).await;
    store.close().await;
    common::drop_pg_schema(&base, &schema).await;
}

#[tokio::test]
async fn concurrent_failures_are_each_counted_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("store.db").display());
    let store = store::connect(&url).await.expect("sqlite store opens");
    let limit = 1000;
    let tasks: Vec<_> = (0..40)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .throttle_failures(&[hit("shared", limit)], &RULES, 5000)
                    .await
                    .expect("count")
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("task");
    }
    let read = store
        .throttle_states(&["shared".to_owned()])
        .await
        .expect("read");
    assert_eq!(read[0].failures, 40);
    store.close().await;
}
