//! Session lifecycle events (`[events]`) against a real receiver: every event arrives, signed,
//! in order per user; retries through failures, slowness and downtime; nothing lost to
//! `kill -9`; two replicas on one PostgreSQL deliver every event at least once, in order per
//! user (needs `SESSIONGATE_TEST_POSTGRES_URL`; fails without it under `CI=true`).

mod common;
#[path = "events/processes.rs"]
mod processes;
#[path = "events/receiver.rs"]
mod receiver;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use common::*;
use receiver::{Hit, Mode, Receiver, attempts_per_user, expected_signature};
use reqwest::Method;

const SECRET: &str = "events-test-secret-0123456789";
/// Generous: a loaded CI machine, several retries with backoff.
const WAIT: Duration = Duration::from_secs(60);

/// `[events]` with a short timeout and backoff, so retries happen within a test.
fn events_toml(url: &str) -> String {
    format!(
        "[events]\nurl = \"{url}\"\ntimeout = \"300ms\"\nbackoff_initial = \"50ms\"\n\
         backoff_max = \"200ms\"\n"
    )
}

async fn gateway(receiver: &Receiver) -> TestGateway {
    TestGateway::start_with(
        Options::default()
            .toml(&events_toml(&receiver.url()))
            .env("SESSIONGATE_EVENTS__SECRET", SECRET),
    )
    .await
}

/// The types of the delivered events of each user, first delivery of each id only.
fn delivered_types(hits: &[Hit]) -> BTreeMap<String, Vec<String>> {
    let mut seen = BTreeSet::new();
    let mut per_user: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for hit in hits.iter().filter(|h| h.mode == Mode::Ok) {
        if seen.insert(hit.id()) {
            let mut kind = hit.kind();
            if let Some(reason) = hit.json["reason"].as_str() {
                kind = format!("{kind}:{reason}");
            }
            per_user.entry(hit.user()).or_default().push(kind);
        }
    }
    per_user
}

fn distinct_delivered(receiver: &Receiver) -> usize {
    receiver
        .delivered()
        .iter()
        .map(Hit::id)
        .collect::<BTreeSet<_>>()
        .len()
}

fn assert_signed(hit: &Hit) {
    let header = |name: &str| {
        hit.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    assert_eq!(
        header("x-sessiongate-signature"),
        expected_signature(SECRET, &hit.body),
        "signature of {}",
        hit.json
    );
    assert_ne!(
        header("x-sessiongate-signature"),
        expected_signature("another-secret-0123456789", &hit.body)
    );
    assert_eq!(header("x-sessiongate-event-id"), hit.id());
    assert_eq!(header("x-sessiongate-event-type"), hit.kind());
    assert_eq!(header("content-type"), "application/json");
    assert!(hit.json["occurred_at"].as_str().is_some(), "{}", hit.json);
}

#[tokio::test]
async fn every_lifecycle_event_arrives_signed_and_in_order_per_user() {
    let receiver = Receiver::start(Mode::Ok).await;
    let gw = gateway(&receiver).await;

    gw.register("events@example.com", "Pa55w0rd!").await;
    let first = gw.login_userpass("events@example.com", "Pa55w0rd!").await;
    assert_eq!(gw.refresh(&first.refresh_token).await.status(), 201);
    assert_eq!(gw.logout(&first.refresh_token).await.status(), 204);
    let second = gw.login_userpass("events@example.com", "Pa55w0rd!").await;
    let third = gw.login_userpass("events@example.com", "Pa55w0rd!").await;
    let response = gw
        .http
        .delete(gw.client_api("/auth/sessions/others"))
        .bearer_auth(&third.access_token)
        .send()
        .await
        .expect("sign out others");
    assert_eq!(response.status(), 204);
    let user = &first.user_id;
    let disable = gw
        .admin(Method::PUT, &format!("/users/{user}/disable"))
        .send()
        .await
        .expect("disable");
    assert_eq!(disable.status(), 204);
    let delete = gw
        .admin(Method::DELETE, &format!("/users/{user}"))
        .send()
        .await
        .expect("delete");
    assert_eq!(delete.status(), 204);

    let anon = gw.login_anon().await;
    let response = gw
        .admin(
            Method::DELETE,
            &format!("/users/{}/sessions/{}", anon.user_id, session_of(&anon)),
        )
        .send()
        .await
        .expect("admin revoke");
    assert_eq!(response.status(), 204);

    let expected_user = [
        "user.created",
        "session.created",
        "session.refreshed",
        "session.revoked:logout",
        "session.created",
        "session.created",
        "session.revoked:sign_out",
        "session.revoked:user_disabled",
        "user.disabled",
        "user.deleted",
    ];
    let expected_anon = ["user.created", "session.created", "session.revoked:admin"];
    let total = expected_user.len() + expected_anon.len();
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
    let delivered = receiver.delivered();
    let per_user = delivered_types(&delivered);
    assert_eq!(per_user[user.as_str()], expected_user, "{per_user:#?}");
    assert_eq!(per_user[anon.user_id.as_str()], expected_anon);
    assert_eq!(distinct_delivered(&receiver), total, "no event but these");
    for hit in &delivered {
        assert_signed(hit);
    }
    // The sign-out event names the session that ended, not the caller's.
    let sign_out = delivered
        .iter()
        .find(|h| h.json["reason"] == "sign_out")
        .expect("sign_out event");
    assert_eq!(sign_out.json["session_id"], session_of(&second));
    let created = delivered
        .iter()
        .find(|h| h.kind() == "session.created")
        .expect("session.created");
    assert_eq!(created.json["data"]["provider"], "local-userpass");
    assert_eq!(created.json["session_id"], session_of(&first));

    let metrics = gw
        .http
        .get(format!("{}/metrics", gw.admin_url))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text");
    let sent = metric(
        &metrics,
        "sessiongate_events_sent_total{type=\"user.deleted\"}",
    );
    assert!(sent >= 1.0, "{metrics}");
    assert!(
        metrics.contains("# TYPE sessiongate_events_pending gauge"),
        "{metrics}"
    );
    assert!(
        metric(
            &metrics,
            "sessiongate_events_delivery_seconds_count{outcome=\"sent\"}"
        ) >= 13.0,
        "{metrics}"
    );
    gw.stop().await;
}

/// The value of one series in a Prometheus text exposition (0 when absent).
fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0.0)
}

/// The session id inside an access token.
fn session_of(login: &Login) -> String {
    let claims = jwt_payload(&login.access_token);
    claims["sid"]
        .as_str()
        .unwrap_or_else(|| panic!("no session id claim in {claims}"))
        .to_owned()
}

#[tokio::test]
async fn a_failing_slow_then_down_receiver_gets_every_event_in_order_after_retries() {
    let mut receiver = Receiver::start(Mode::Fail).await;
    let gw = gateway(&receiver).await;
    let a = gw.login_anon().await;
    let b = gw.login_anon().await;
    assert_eq!(gw.refresh(&a.refresh_token).await.status(), 201);
    assert_eq!(gw.logout(&a.refresh_token).await.status(), 204);

    receiver
        .wait_until(WAIT, "a user's first event retried", |hits| {
            hits.iter().filter(|h| h.user() == a.user_id).count() >= 3
        })
        .await;
    receiver.set_mode(Mode::Slow);
    receiver
        .wait_until(WAIT, "attempts cut by the timeout", |hits| {
            hits.iter().filter(|h| h.mode == Mode::Slow).count() >= 2
        })
        .await;
    receiver.down().await;
    let unreachable_before = unreachable_attempts(&gw).await;
    // Attempts against a closed port fail and are counted; nothing is lost meanwhile.
    let deadline = tokio::time::Instant::now() + WAIT;
    while unreachable_attempts(&gw).await < unreachable_before + 2.0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no attempt while down"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(receiver.delivered().is_empty(), "nothing answered 200 yet");
    receiver.set_mode(Mode::Ok);
    receiver.up().await;

    receiver
        .wait_until(WAIT, "all six events delivered", |hits| {
            hits.iter()
                .filter(|h| h.mode == Mode::Ok)
                .map(Hit::id)
                .collect::<BTreeSet<_>>()
                .len()
                >= 6
        })
        .await;
    let per_user = delivered_types(&receiver.hits());
    assert_eq!(
        per_user[a.user_id.as_str()],
        [
            "user.created",
            "session.created",
            "session.refreshed",
            "session.revoked:logout"
        ]
    );
    assert_eq!(
        per_user[b.user_id.as_str()],
        ["user.created", "session.created"]
    );
    // While a user's first event failed, their later ones were never attempted: the
    // attempts, repeats collapsed, are exactly the events in order.
    let attempts = attempts_per_user(&receiver.hits());
    assert_eq!(attempts[a.user_id.as_str()].len(), 4, "{attempts:#?}");
    assert_eq!(attempts[b.user_id.as_str()].len(), 2, "{attempts:#?}");
    for hit in &receiver.hits() {
        assert_signed(hit);
    }
    // The receiver records before it answers: the outbox notes delivery just after.
    let deadline = tokio::time::Instant::now() + WAIT;
    while sqlx_count(
        &gw,
        "SELECT COUNT(*) FROM event_outbox WHERE done_at IS NULL",
    )
    .await
        > 0
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "events still pending"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    gw.stop().await;
}

async fn unreachable_attempts(gw: &TestGateway) -> f64 {
    let text = gw
        .http
        .get(format!("{}/metrics", gw.admin_url))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text");
    metric(
        &text,
        "sessiongate_events_failed_attempts_total{reason=\"unreachable\"}",
    )
}

async fn sqlx_count(gw: &TestGateway, sql: &str) -> i64 {
    use sqlx::Connection;
    let url = format!("sqlite://{}", gw.db_path().display());
    let mut conn = sqlx::SqliteConnection::connect(&url)
        .await
        .expect("open db");
    sqlx::query_scalar(sql)
        .fetch_one(&mut conn)
        .await
        .expect("count")
}

#[tokio::test]
async fn without_a_url_nothing_is_recorded() {
    let gw = TestGateway::start().await;
    assert!(!gw.state.events.enabled());
    let login = gw.login_anon().await;
    assert_eq!(gw.logout(&login.refresh_token).await.status(), 204);
    assert_eq!(
        sqlx_count(&gw, "SELECT COUNT(*) FROM event_outbox").await,
        0
    );
    gw.stop().await;
}
