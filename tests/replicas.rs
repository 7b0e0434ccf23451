//! Scale-out: several gateways on one PostgreSQL. Needs `SESSIONGATE_TEST_POSTGRES_URL`
//! (`.ci/run` sets it); without it every test here says it was skipped.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use sqlx::Connection;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Mutex;

fn postgres_url() -> Option<String> {
    let url = std::env::var("SESSIONGATE_TEST_POSTGRES_URL").ok();
    if url.is_none() {
        common::skip_without("PostgreSQL (SESSIONGATE_TEST_POSTGRES_URL)", "replicas");
    }
    url
}

async fn login_anon(http: &reqwest::Client, gateway: &GatewayProcess) -> Login {
    let response = http
        .post(gateway.app_api("/auth/providers/anon-user/login"))
        .send()
        .await
        .expect("login");
    assert_eq!(response.status(), 200);
    response.json().await.expect("login json")
}

async fn proxied_status(http: &reqwest::Client, gateway: &GatewayProcess, token: &str) -> u16 {
    let response = http
        .get(format!("{}/data", gateway.client_url))
        .bearer_auth(token)
        .send()
        .await
        .expect("proxied");
    response.status().as_u16()
}

/// Repeats a proxied request until it is refused; returns how long that took.
async fn time_until_refused(
    http: &reqwest::Client,
    gateway: &GatewayProcess,
    token: &str,
    limit: Duration,
) -> Duration {
    let started = Instant::now();
    loop {
        let status = proxied_status(http, gateway, token).await;
        if status == 401 {
            return started.elapsed();
        }
        assert_eq!(status, 200, "only 200 or 401 are acceptable while waiting");
        assert!(started.elapsed() < limit, "still accepted after {limit:?}");
        tokio::task::yield_now().await;
    }
}

#[tokio::test]
async fn tokens_refreshes_and_revocations_hold_across_replicas() {
    let Some(base) = postgres_url() else { return };
    let store_url = common::fresh_pg_schema(&base).await.0;
    let dir = tempfile::tempdir().expect("temp dir");
    let upstream = EchoUpstream::start().await;
    let a = common::spawn_replica(dir.path(), "replica_a", &store_url, &upstream.url()).await;
    let b = common::spawn_replica(dir.path(), "replica_b", &store_url, &upstream.url()).await;
    let http = reqwest::Client::new();

    let login = login_anon(&http, &a).await;
    assert_eq!(
        proxied_status(&http, &b, &login.access_token).await,
        200,
        "A's token works on B"
    );

    let refreshed = http
        .post(b.client_api("/auth/session"))
        .bearer_auth(&login.refresh_token)
        .send()
        .await
        .unwrap();
    assert_eq!(refreshed.status(), 201, "B refreshes A's session");
    let access_from_b = refreshed.json::<serde_json::Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        proxied_status(&http, &a, &access_from_b).await,
        200,
        "B's token works on A"
    );

    let revoke = http
        .put(a.admin_api(&format!("/users/{}/logout", login.user_id)))
        .bearer_auth(ADMIN_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(revoke.status(), 204);
    let took = time_until_refused(&http, &b, &login.access_token, Duration::from_secs(1)).await;
    println!("revocation through A refused by B after {took:?}");
    assert_eq!(proxied_status(&http, &b, &access_from_b).await, 401);
    let refresh = http
        .post(b.client_api("/auth/session"))
        .bearer_auth(&login.refresh_token)
        .send()
        .await
        .unwrap();
    assert_eq!(refresh.status(), 401);
}

#[tokio::test]
async fn revocation_made_while_a_listener_was_down_is_enforced_after_it_reconnects() {
    let Some(base) = postgres_url() else { return };
    let store_url = common::fresh_pg_schema(&base).await.0;
    let dir = tempfile::tempdir().expect("temp dir");
    let upstream = EchoUpstream::start().await;
    let name_b = format!("replica_b_{}", sessiongate::ids::object_id());
    let a = common::spawn_replica(dir.path(), "replica_a", &store_url, &upstream.url()).await;
    let b = common::spawn_replica(dir.path(), &name_b, &store_url, &upstream.url()).await;
    let http = reqwest::Client::new();
    let login = login_anon(&http, &a).await;
    assert_eq!(proxied_status(&http, &b, &login.access_token).await, 200);

    let mut admin = sqlx::PgConnection::connect(&base).await.unwrap();
    let listening =
        "SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND query ILIKE 'LISTEN%'";
    // B's listener may still be starting; wait for it to appear.
    let deadline = Instant::now() + Duration::from_secs(10);
    let pids: Vec<i32> = loop {
        let pids: Vec<i32> = sqlx::query_scalar(listening)
            .bind(&name_b)
            .fetch_all(&mut admin)
            .await
            .unwrap();
        if !pids.is_empty() || Instant::now() > deadline {
            break pids;
        }
        tokio::task::yield_now().await;
    };
    assert!(!pids.is_empty(), "B has a LISTEN connection");
    for pid in &pids {
        let killed: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1)")
            .bind(pid)
            .fetch_one(&mut admin)
            .await
            .unwrap();
        assert!(killed);
    }
    let revoke = http
        .put(a.admin_api(&format!("/users/{}/logout", login.user_id)))
        .bearer_auth(ADMIN_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(revoke.status(), 204);
    time_until_refused(&http, &b, &login.access_token, Duration::from_secs(5)).await;

    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let reconnected: Vec<i32> = sqlx::query_scalar(listening)
            .bind(&name_b)
            .fetch_all(&mut admin)
            .await
            .unwrap();
        if reconnected.iter().any(|pid| !pids.contains(pid)) {
            break;
        }
        assert!(Instant::now() < deadline, "B's listener did not reconnect");
        tokio::task::yield_now().await;
    }
}

#[tokio::test]
async fn concurrent_refreshes_and_a_logout_across_replicas_end_consistent() {
    let Some(base) = postgres_url() else { return };
    let store_url = common::fresh_pg_schema(&base).await.0;
    let dir = tempfile::tempdir().expect("temp dir");
    let upstream = EchoUpstream::start().await;
    let a =
        Arc::new(common::spawn_replica(dir.path(), "replica_a", &store_url, &upstream.url()).await);
    let b =
        Arc::new(common::spawn_replica(dir.path(), "replica_b", &store_url, &upstream.url()).await);
    let http = reqwest::Client::new();
    let login = login_anon(&http, &a).await;
    assert_eq!(proxied_status(&http, &b, &login.access_token).await, 200);

    let mut tasks = Vec::new();
    for i in 0..20 {
        let (gateway, http, token) = (
            if i % 2 == 0 { a.clone() } else { b.clone() },
            http.clone(),
            login.refresh_token.clone(),
        );
        let logout = i == 7;
        tasks.push(tokio::spawn(async move {
            let request = if logout {
                http.delete(gateway.client_api("/auth/session"))
            } else {
                http.post(gateway.client_api("/auth/session"))
            };
            let response = request.bearer_auth(token).send().await.expect("request");
            (logout, response.status().as_u16())
        }));
    }
    for task in tasks {
        let (logout, status) = task.await.unwrap();
        if logout {
            assert_eq!(status, 204, "the logout succeeds");
        } else {
            assert!(status == 201 || status == 401, "refresh answered {status}");
        }
    }
    for gateway in [&a, &b] {
        let refresh = http
            .post(gateway.client_api("/auth/session"))
            .bearer_auth(&login.refresh_token)
            .send()
            .await
            .unwrap();
        assert_eq!(
            refresh.status(),
            401,
            "the logged-out session is dead on every replica"
        );
        time_until_refused(&http, gateway, &login.access_token, Duration::from_secs(1)).await;
    }
}

/// A TCP forwarder to PostgreSQL that the test can cut and restore: a real network fault.
struct Faulty {
    addr: std::net::SocketAddr,
    up: Arc<Mutex<bool>>,
    connections: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl Faulty {
    async fn start(target: std::net::SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let up = Arc::new(Mutex::new(true));
        let connections: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>> = Arc::default();
        let (up2, conns2) = (up.clone(), connections.clone());
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if !*up2.lock().await {
                    continue; // dropped: the client sees the connection closed
                }
                let task = tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                conns2.lock().await.push(task);
            }
        });
        Self {
            addr,
            up,
            connections,
        }
    }

    async fn cut(&self) {
        *self.up.lock().await = false;
        for task in self.connections.lock().await.drain(..) {
            task.abort();
        }
    }

    async fn restore(&self) {
        *self.up.lock().await = true;
    }
}

#[tokio::test]
async fn database_outage_answers_503_keeps_verified_tokens_and_recovers_by_itself() {
    let Some(base) = postgres_url() else { return };
    let store_url = common::fresh_pg_schema(&base).await.0;
    let parsed = url::Url::parse(&base).unwrap();
    let target = format!(
        "{}:{}",
        parsed.host_str().unwrap(),
        parsed.port().unwrap_or(5432)
    );
    let faulty = Faulty::start(
        tokio::net::lookup_host(target)
            .await
            .unwrap()
            .next()
            .unwrap(),
    )
    .await;
    let mut via_faulty = url::Url::parse(&store_url).unwrap();
    via_faulty.set_host(Some("127.0.0.1")).unwrap();
    via_faulty.set_port(Some(faulty.addr.port())).unwrap();

    let gateway = TestGateway::start_with(
        Options::default()
            .env("SESSIONGATE_STORE__URL", via_faulty.as_str())
            .env("SESSIONGATE_STORE__FAIL_OPEN_FOR", "5m"),
    )
    .await;
    let login = gateway.login_anon().await;
    gateway.echo("/data", &login.access_token).await;

    faulty.cut().await;
    let login_down = gateway
        .http
        .post(gateway.app_api("/auth/providers/anon-user/login"))
        .send()
        .await
        .unwrap();
    assert_error(login_down, 503, "ServiceUnavailable").await;
    assert_error(
        gateway.refresh(&login.refresh_token).await,
        503,
        "ServiceUnavailable",
    )
    .await;
    let ready = gateway
        .http
        .get(format!("{}/readyz", gateway.admin_url))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 503);
    // Documented rule: inside store.fail_open_for, already-verified tokens keep working.
    gateway.echo("/data", &login.access_token).await;

    faulty.restore().await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let response = gateway.refresh(&login.refresh_token).await;
        if response.status() == 201 {
            break;
        }
        assert_eq!(
            response.status(),
            503,
            "while recovering the answer is 503, never 500"
        );
        assert!(
            Instant::now() < deadline,
            "did not recover after the database returned"
        );
    }
    let ready = gateway
        .http
        .get(format!("{}/readyz", gateway.admin_url))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    gateway.login_anon().await;
}
