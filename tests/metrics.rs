//! `/metrics` on the admin listener (Prometheus text) and parsed user agents on sessions.

mod common;

use common::*;

/// Checks the Prometheus text exposition format line by line; returns (series, value) pairs.
fn parse_prometheus(text: &str) -> Vec<(String, f64)> {
    let mut samples = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        if let Some(comment) = line.strip_prefix('#') {
            let words: Vec<&str> = comment.split_whitespace().collect();
            if words.first() == Some(&"TYPE") {
                assert!(
                    matches!(
                        words.get(2),
                        Some(&("counter" | "gauge" | "histogram" | "summary" | "untyped"))
                    ),
                    "bad TYPE line: {line}"
                );
            }
            continue;
        }
        let (series, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("no value: {line}"));
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v.parse().unwrap_or_else(|_| panic!("bad value in {line}")),
        };
        let name_end = series.find('{').unwrap_or(series.len());
        let name = &series[..name_end];
        assert!(
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "bad metric name in {line}"
        );
        if name_end < series.len() {
            assert!(series.ends_with('}'), "unclosed labels in {line}");
        }
        samples.push((series.to_owned(), value));
    }
    samples
}

fn value(samples: &[(String, f64)], series_prefix: &str, labels: &[&str]) -> f64 {
    samples
        .iter()
        .filter(|(series, _)| {
            series.starts_with(series_prefix) && labels.iter().all(|l| series.contains(l))
        })
        .map(|(_, v)| *v)
        .sum()
}

async fn scrape(gw: &TestGateway) -> Vec<(String, f64)> {
    let response = gw
        .http
        .get(format!("{}/metrics", gw.admin_url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    parse_prometheus(&response.text().await.unwrap())
}

#[tokio::test]
async fn metrics_parse_as_prometheus_text_and_count_what_happened() {
    let gw = TestGateway::start().await;
    let before = scrape(&gw).await;
    let login = gw.login_anon().await;
    gw.echo("/data", &login.access_token).await;
    gw.echo("/data", &login.access_token).await;
    let bad = gw
        .http
        .post(gw.app_api("/auth/providers/local-userpass/login"))
        .json(&serde_json::json!({"username": "nobody@example.com", "password": "wrong-password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 401);
    assert_eq!(gw.logout(&login.refresh_token).await.status(), 204);
    let after = scrape(&gw).await;

    let grew = |prefix: &str, labels: &[&str]| {
        value(&after, prefix, labels) - value(&before, prefix, labels)
    };
    assert!(
        grew(
            "sessiongate_requests_total",
            &["class=\"proxy\"", "status=\"200\""]
        ) >= 2.0
    );
    assert!(
        grew(
            "sessiongate_logins_total",
            &["provider=\"anon-user\"", "outcome=\"success\""]
        ) >= 1.0
    );
    assert!(
        grew(
            "sessiongate_logins_total",
            &[
                "provider=\"local-userpass\"",
                "outcome=\"invalid_credentials\""
            ]
        ) >= 1.0
    );
    assert!(grew("sessiongate_revocations_total", &["source=\"local\""]) >= 1.0);
    assert!(value(&after, "sessiongate_token_cache_hits_total", &[]) >= 1.0);
    assert!(
        value(
            &after,
            "sessiongate_request_duration_seconds_bucket",
            &["class=\"proxy\""]
        ) >= 2.0
    );
}

#[tokio::test]
async fn metrics_are_not_served_on_the_client_listener() {
    let gw = TestGateway::start().await;
    let response = gw.http.get(gw.url("/metrics")).send().await.unwrap();
    assert_error(response, 401, "InvalidSession").await;
    assert_eq!(
        gw.upstream.request_count(),
        0,
        "not even proxied without a token"
    );
}

const AGENTS: &[(&str, &str, &str)] = &[
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
        "Chrome",
        "Windows",
    ),
    (
        "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
        "Firefox",
        "Ubuntu",
    ),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
        "Safari",
        "Mac OS X",
    ),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
        "Edge",
        "Windows",
    ),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
        "Mobile Safari",
        "iOS",
    ),
    (
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
        "Chrome Mobile",
        "Android",
    ),
    ("curl/8.5.0", "curl", "Other"),
];

#[tokio::test]
async fn sessions_show_user_agents_parsed_into_families() {
    let gw = TestGateway::start().await;
    gw.register("ua@example.com", "Pa55w0rd!").await;
    let mut last = None;
    for (agent, _, _) in AGENTS {
        let response = gw
            .http
            .post(gw.app_api("/auth/providers/local-userpass/login"))
            .header("user-agent", *agent)
            .json(&serde_json::json!({"username": "ua@example.com", "password": "Pa55w0rd!"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        last = Some(response.json::<Login>().await.unwrap());
    }
    let token = last.unwrap().access_token;
    let listed: serde_json::Value = gw
        .http
        .get(gw.client_api("/auth/sessions"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let sessions = listed["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), AGENTS.len());
    for (agent, family, os) in AGENTS {
        let session = sessions
            .iter()
            .find(|s| s["user_agent_raw"] == *agent)
            .expect("session for agent");
        assert_eq!(session["user_agent"]["family"], *family, "{agent}");
        assert_eq!(session["user_agent"]["os"]["family"], *os, "{agent}");
        assert!(session["user_agent"]["device"]["family"].is_string());
    }
}

#[tokio::test]
async fn crafted_8_kb_user_agent_is_bounded_and_parsed() {
    let gw = TestGateway::start().await;
    let crafted = format!("Mozilla/5.0 ({})", "a;".repeat(4000));
    let response = gw
        .http
        .post(gw.app_api("/auth/providers/anon-user/login"))
        .header("user-agent", &crafted)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let login: Login = response.json().await.unwrap();
    let listed: serde_json::Value = gw
        .http
        .get(gw.client_api("/auth/sessions/current"))
        .bearer_auth(&login.access_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(listed["user_agent_raw"].as_str().unwrap().len() <= 512);
    assert!(listed["user_agent"]["family"].is_string());
}
