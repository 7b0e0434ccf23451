//! Unit tests of the access line: which fields come from where.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use http::StatusCode;
use tower::ServiceExt;

use super::*;
use crate::config::RouteCors;
use crate::proxy::UpstreamCall;
use crate::tokens::Verified;

fn access(class: RouteClass, path: &str, user_agent: Option<&'static str>) -> Access {
    Access {
        class,
        method: Method::GET,
        path: path.to_owned(),
        client: "192.0.2.7".parse().expect("test ip"),
        user_agent: user_agent.map(HeaderValue::from_static),
        started: Instant::now(),
    }
}

fn response(status: StatusCode) -> Response<()> {
    let mut response = Response::new(());
    *response.status_mut() = status;
    response
}

fn proxied(caller: Option<Arc<Verified>>, error: Option<&str>) -> Proxied {
    Proxied {
        route: Arc::from("/data"),
        cors: RouteCors::Gateway,
        caller,
        upstream: Some(UpstreamCall {
            status: Some(StatusCode::BAD_GATEWAY),
            elapsed: Duration::from_millis(7),
        }),
        error: error.map(Arc::from),
    }
}

#[test]
fn a_proxied_line_names_route_caller_and_upstream() {
    let caller = Arc::new(Verified::new(
        "user-1",
        "session-1",
        "anon-user",
        "d",
        0,
        60,
    ));
    let access = access(RouteClass::ClientApi, "/data/x", Some("curl/8"));
    let mut response = response(StatusCode::BAD_GATEWAY);
    let refused = "upstream unavailable: connection refused";
    response
        .extensions_mut()
        .insert(proxied(Some(caller), Some(refused)));
    let line = Line::new(&access, &response);
    assert_eq!(line.class, RouteClass::Proxy);
    assert_eq!(line.route, "/data");
    assert_eq!(line.user_id, "user-1");
    assert_eq!(line.status, 502);
    assert_eq!(line.upstream_status, Some(502));
    assert_eq!(line.upstream_ms, Some(7));
    assert_eq!(line.error, Some(refused));
    assert_eq!(line.ua, "curl/8");
    assert_eq!(line.client.to_string(), "192.0.2.7");
}

#[test]
fn a_refused_proxied_request_has_no_user_and_no_upstream_fields() {
    let access = access(RouteClass::ClientApi, "/data/x", None);
    let mut response = response(StatusCode::UNAUTHORIZED);
    let mut refused = proxied(None, None);
    refused.upstream = None;
    response.extensions_mut().insert(refused);
    response.extensions_mut().insert(Refusal("token_expired"));
    let line = Line::new(&access, &response);
    assert_eq!(line.user_id, "-");
    assert_eq!(line.reason, "token_expired");
    assert_eq!((line.upstream_status, line.upstream_ms), (None, None));
    assert_eq!(line.ua, "-");
}

#[test]
fn an_endpoint_line_names_the_endpoint_and_the_user_it_acted_for() {
    let access = access(RouteClass::ClientApi, "/api/client/v2.0/auth/session", None);
    let mut response = response(StatusCode::CREATED);
    response.extensions_mut().insert(Endpoint {
        class: RouteClass::ClientApi,
        name: "session",
    });
    response
        .extensions_mut()
        .insert(ActingFor("user-2".to_owned()));
    let line = Line::new(&access, &response);
    assert_eq!((line.class, line.route), (RouteClass::ClientApi, "session"));
    assert_eq!(line.user_id, "user-2");
    assert_eq!(line.reason, "-");
}

#[test]
fn a_request_no_service_took_has_the_listener_s_class_and_no_route() {
    let long = format!("/{}", "p".repeat(400));
    let access = access(RouteClass::Admin, &long, None);
    let response = response(StatusCode::BAD_REQUEST);
    let line = Line::new(&access, &response);
    assert_eq!((line.class, line.route), (RouteClass::Admin, "-"));
    assert_eq!(line.path.len(), MAX_LOGGED_PATH);
}

#[tokio::test]
async fn the_layer_passes_the_response_through() {
    let inner = tower::service_fn(|_: Request<()>| async {
        Ok::<_, Infallible>(response(StatusCode::NO_CONTENT))
    });
    let conn = ConnInfo {
        remote: SocketAddr::from(([192, 0, 2, 7], 5000)),
        local: SocketAddr::from(([127, 0, 0, 1], 8080)),
        scheme: "http",
    };
    let trusted = TrustedProxies::new(Vec::new());
    let service = AccessLogLayer::new(&trusted, conn, RouteClass::ClientApi).layer(inner);
    let request = Request::get("/x").body(()).expect("test request");
    let response = service.oneshot(request).await.expect("infallible");
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
}

#[test]
fn user_agent_is_cut_on_a_char_boundary_without_control_characters() {
    assert_eq!(loggable_user_agent("curl/8.5.0"), "curl/8.5.0");
    assert!(matches!(loggable_user_agent("curl/8"), Cow::Borrowed(_)));
    let long = "a".repeat(127) + "é" + &"b".repeat(300);
    let cut = loggable_user_agent(&long);
    assert_eq!(cut, "a".repeat(127), "the two-byte é would end past 128");
    assert_eq!(
        loggable_user_agent("evil\tagent\r\n\u{1b}[31m"),
        "evilagent[31m"
    );
}

/// The line written by hand and the `tracing` event, through the plain text format, in a
/// request: the same bytes.
fn both_ways(line: &Line<'_>) -> (String, String) {
    let warn = line.error.is_some() && (500..600).contains(&line.status);
    let level = if warn { Level::WARN } else { Level::INFO };
    let id = HeaderValue::from_static("0123abcd");
    let in_request = |run: &dyn Fn() -> String| {
        crate::telemetry::testing::in_text_lines(|| {
            crate::web::REQUEST_ID.sync_scope(id.clone(), run)
        })
    };
    let (_, event) = in_request(&|| {
        line.event(warn);
        String::new()
    });
    let (direct, _) = in_request(&|| {
        let mut text = String::new();
        let open = DirectLine::open(&level, TARGET, MESSAGE).expect("the plain text format");
        line.fill(open)
            .write_to(|bytes| text.push_str(std::str::from_utf8(bytes).expect("UTF-8")));
        text
    });
    let strip = crate::telemetry::testing::without_time;
    (strip(&direct), strip(&event))
}

#[test]
fn the_line_written_by_hand_is_the_line_of_the_event() {
    let caller = Arc::new(Verified::new("user-1", "s-1", "anon-user", "d", 0, 60));
    let refused = "upstream unavailable: \"refused\" \u{1b}[31m";
    let mut failed = response(StatusCode::BAD_GATEWAY);
    failed
        .extensions_mut()
        .insert(proxied(Some(caller), Some(refused)));
    let mut denied = response(StatusCode::UNAUTHORIZED);
    let mut no_upstream = proxied(None, None);
    no_upstream.upstream = None;
    denied.extensions_mut().insert(no_upstream);
    denied.extensions_mut().insert(Refusal("token_expired"));
    let plain = response(StatusCode::OK);

    let mut v6 = access(
        RouteClass::Admin,
        "/p\"a\\th ünï",
        Some("ua \"quoted\" \\ \t"),
    );
    v6.client = "2001:db8::7".parse().expect("test ip");
    let mut odd_ua = access(RouteClass::ClientApi, "/x", None);
    odd_ua.user_agent = Some(HeaderValue::from_bytes("ünï".as_bytes()).expect("opaque bytes"));
    let cases = [
        (
            access(RouteClass::ClientApi, "/data/x", Some("curl/8")),
            &failed,
        ),
        (access(RouteClass::ClientApi, "/data/y", None), &denied),
        (v6, &plain),
        (odd_ua, &plain),
    ];
    for (access, response) in &cases {
        let line = Line::new(access, response);
        let (direct, event) = both_ways(&line);
        assert_eq!(direct, event);
        assert!(direct.contains(" request{id=0123abcd}: sessiongate::access: request class="));
    }
    let (warned, _) = both_ways(&Line::new(&cases[0].0, cases[0].1));
    assert!(warned.starts_with("<time>  WARN "), "{warned}");
    assert!(
        warned.contains(" upstream_status=502 upstream_ms=7 "),
        "{warned}"
    );
}
