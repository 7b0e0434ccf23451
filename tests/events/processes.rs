//! The real binary: `kill -9` with undelivered events on a SQLite file, and two replicas on
//! one PostgreSQL sharing the outbox.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use crate::common::*;
use crate::receiver::{Hit, Mode, Receiver};
use crate::{SECRET, WAIT, delivered_types, distinct_delivered, events_toml};

/// The real binary's config: SQLite file or PostgreSQL URL, events to `receiver`.
fn process_config(store_url: &str, receiver: &str, upstream: &str) -> String {
    format!(
        "[server]\nlisten = \"127.0.0.1:0\"\nadmin_listen = \"127.0.0.1:0\"\n\
         [app]\nid = \"{APP_ID}\"\n[store]\nurl = \"{store_url}\"\n\
         [upstream]\nurl = \"{upstream}\"\n{}",
        events_toml(receiver)
    )
}

async fn spawn(dir: &std::path::Path, name: &str, text: &str) -> GatewayProcess {
    let config = dir.join(format!("{name}.toml"));
    std::fs::write(&config, text).expect("write config");
    GatewayProcess::spawn(
        &config,
        &[
            ("SESSIONGATE_ADMIN__API_KEY", ADMIN_KEY),
            ("SESSIONGATE_EVENTS__SECRET", SECRET),
            ("SESSIONGATE_LOG", "warn"),
        ],
    )
    .await
}

async fn anon_login(http: &reqwest::Client, gateway: &GatewayProcess) -> Login {
    let response = http
        .post(gateway.app_api("/auth/providers/anon-user/login"))
        .send()
        .await
        .expect("login");
    assert_eq!(response.status(), 200);
    response.json().await.expect("login json")
}

#[tokio::test]
async fn kill_9_loses_no_recorded_event() {
    let receiver = Receiver::start(Mode::Fail).await;
    let upstream = EchoUpstream::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("sessiongate.db");
    let text = process_config(
        &format!("sqlite://{}", db.display()),
        &receiver.url(),
        &upstream.url(),
    );
    let mut first = spawn(dir.path(), "first", &text).await;
    let http = reqwest::Client::new();
    let mut users = Vec::new();
    for _ in 0..3 {
        users.push(anon_login(&http, &first).await.user_id);
    }
    // Every user's first event was tried (and refused): they are recorded and pending.
    receiver
        .wait_until(WAIT, "first attempts", |hits| {
            let tried: BTreeSet<String> = hits.iter().map(Hit::user).collect();
            users.iter().all(|u| tried.contains(u))
        })
        .await;
    first.child.kill().await.expect("kill -9");
    assert!(receiver.delivered().is_empty());

    receiver.set_mode(Mode::Ok);
    let second = spawn(dir.path(), "second", &text).await;
    receiver
        .wait_until(WAIT, "events of the killed process delivered", |hits| {
            let per_user = delivered_types(hits);
            users
                .iter()
                .all(|u| per_user.get(u).is_some_and(|types| types.len() == 2))
        })
        .await;
    let per_user = delivered_types(&receiver.hits());
    for user in &users {
        assert_eq!(per_user[user], ["user.created", "session.created"]);
    }
    drop(second);
}

#[tokio::test]
async fn two_replicas_on_postgres_deliver_every_event_in_order_per_user() {
    let Some(base) = postgres_url_or_skip() else {
        return;
    };
    let (store_url, schema) = fresh_pg_schema(&base).await;
    let receiver = Receiver::start(Mode::Ok).await;
    let upstream = EchoUpstream::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let replica = |name: &str| {
        process_config(
            &format!("{store_url}&application_name={name}"),
            &receiver.url(),
            &upstream.url(),
        )
    };
    let a = spawn(dir.path(), "events_a", &replica("events_a")).await;
    let b = spawn(dir.path(), "events_b", &replica("events_b")).await;
    let http = reqwest::Client::new();

    // Each user's events are made on both replicas in turn; both replicas deliver.
    let mut expected = BTreeMap::new();
    for round in 0..6 {
        let (one, other) = if round % 2 == 0 { (&a, &b) } else { (&b, &a) };
        let login = anon_login(&http, one).await;
        for _ in 0..2 {
            let refreshed = http
                .post(other.client_api("/auth/session"))
                .bearer_auth(&login.refresh_token)
                .send()
                .await
                .expect("refresh");
            assert_eq!(refreshed.status(), 201);
        }
        let logout = http
            .delete(one.client_api("/auth/session"))
            .bearer_auth(&login.refresh_token)
            .send()
            .await
            .expect("logout");
        assert_eq!(logout.status(), 204);
        expected.insert(
            login.user_id,
            vec![
                "user.created",
                "session.created",
                "session.refreshed",
                "session.refreshed",
                "session.revoked:logout",
            ],
        );
        if round == 2 {
            // Failures in the middle: retried, still in order.
            receiver.set_mode(Mode::Fail);
        }
    }
    receiver
        .wait_until(WAIT, "failed attempts", |hits| {
            hits.iter().filter(|h| h.mode == Mode::Fail).count() >= 4
        })
        .await;
    receiver.set_mode(Mode::Ok);
    let total: usize = expected.values().map(Vec::len).sum();
    receiver
        .wait_until(WAIT, "every event delivered", |hits| {
            hits.iter()
                .filter(|h| h.mode == Mode::Ok)
                .map(Hit::id)
                .collect::<BTreeSet<_>>()
                .len()
                >= total
        })
        .await;
    let per_user = delivered_types(&receiver.hits());
    for (user, types) in &expected {
        assert_eq!(&per_user[user], types, "user {user}");
    }
    assert_eq!(distinct_delivered(&receiver), total);
    let outbox = sqlx::PgPool::connect(&store_url).await.expect("pg");
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let pending: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM event_outbox WHERE done_at IS NULL")
                .fetch_one(&outbox)
                .await
                .expect("count");
        if pending == 0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{pending} events still pending"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    outbox.close().await;
    drop((a, b));
    drop_pg_schema(&base, &schema).await;
}
