//! A stalled PostgreSQL: every store call has a deadline.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stalled_postgres_answers_503_within_the_store_timeout() {
    let Some(base) = postgres_url() else { return };
    let (url, schema) = fresh_schema(&base).await;
    let relay = Relay::start(server_addr(&base).await).await;
    let gw = TestGateway::start_with(
        Options::default()
            .env("SESSIONGATE_STORE__URL", &relay.url_for(&url))
            .env("SESSIONGATE_STORE__TIMEOUT", "1s"),
    )
    .await;
    let login = gw.login_anon().await;
    // Logins in a loop, so that some are mid-query (a connection already taken, a statement
    // sent) when the stall begins: those are the ones no pool timeout covers.
    let running = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let logins = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let loops: Vec<_> = (0..8)
        .map(|_| {
            let http = gw.http.clone();
            let url = anon_login_url(&gw.client_url);
            let running = running.clone();
            let logins = logins.clone();
            tokio::spawn(async move {
                let mut statuses = Vec::new();
                while running.load(std::sync::atomic::Ordering::SeqCst) {
                    let response = tokio::time::timeout(GUARD, http.post(&url).send())
                        .await
                        .expect("a login in flight during the stall was answered in time")
                        .expect("login");
                    statuses.push(response.status().as_u16());
                    logins.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                }
                statuses
            })
        })
        .collect();
    let warmed = tokio::time::timeout(GUARD, async {
        while logins.load(std::sync::atomic::Ordering::SeqCst) < 16 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(warmed.is_ok(), "the login loops run");

    relay.stall();
    let started = Instant::now();
    let response = answered(
        "anonymous login during a stall",
        gw.http.post(anon_login_url(&gw.client_url)).send(),
    )
    .await;
    assert_error(response, 503, "ServiceUnavailable").await;
    let refresh = gw
        .http
        .post(gw.client_api("/auth/session"))
        .bearer_auth(&login.refresh_token)
        .send();
    let response = answered("refresh during a stall", refresh).await;
    assert_error(response, 503, "ServiceUnavailable").await;
    running.store(false, std::sync::atomic::Ordering::SeqCst);
    for task in loops {
        let statuses = task.await.expect("login loop");
        assert!(
            statuses.iter().all(|s| *s == 200 || *s == 503),
            "only success before the stall, 503 during it: {statuses:?}"
        );
    }
    println!("answers during the stall took {:?}", started.elapsed());

    relay.resume();
    // The gateway recovers once bytes flow again.
    let recovered = tokio::time::timeout(GUARD, async {
        loop {
            let response = gw.refresh(&login.refresh_token).await;
            if response.status().is_success() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    assert!(recovered.is_ok(), "refresh works again after the stall");
    gw.stop().await;
    drop_schema(&base, &schema).await;
}
