//! The header rewrite, generated requests through a real gateway to the echo upstream (the
//! oracle: it answers with the headers it received), over a raw socket so that spellings,
//! duplicates and `Connection:` lists arrive exactly as generated. Plus the pure rewrite on
//! arbitrary header maps.

use std::net::SocketAddr;

use proptest::prelude::*;
use proptest::test_runner::{TestCaseError, TestRunner};
use serde_json::Value;

use crate::common::{Login, TestGateway, jwt_payload};
use crate::oracle;

/// Names a client may send: identity headers in any case and underscore spelling, the
/// forwarding headers the gateway sets, hop-by-hop headers, and plain ones.
const NAMES: [&str; 20] = [
    "X-User-Id",
    "x-user-id",
    "X_USER_ID",
    "x_user_id",
    "X-Session-Id",
    "x_Session_id",
    "X-User-Provider",
    "X_user_PROVIDER",
    "X-Forwarded-For",
    "X-Forwarded-Proto",
    "X-Forwarded-Host",
    "Forwarded",
    "X-Real-IP",
    "Keep-Alive",
    "Proxy-Authorization",
    "Proxy-Connection",
    "TE",
    "X-Custom",
    "X-Secret-Thing",
    "x-custom",
];

/// What a `Connection:` header may list: any of the above, `Host`, credentials, options.
const CONNECTION_TOKENS: [&str; 12] = [
    "Host",
    "host",
    "close",
    "keep-alive",
    "Authorization",
    "Session",
    "X-Forwarded-Host",
    "x-forwarded-for",
    "X-Forwarded-Proto",
    "X-User-Id",
    "x_session_id",
    "X-Custom",
];

#[derive(Debug, Clone)]
struct Case {
    host: String,
    headers: Vec<(&'static str, String)>,
    connection: Vec<&'static str>,
    authenticated: bool,
}

fn case() -> impl Strategy<Value = Case> {
    let header = (
        prop::sample::select(NAMES.to_vec()),
        "forged-[a-z0-9.=]{0,8}",
    );
    let connection_token = prop_oneof![
        prop::sample::select(CONNECTION_TOKENS.to_vec()),
        prop::sample::select(NAMES.to_vec()),
    ];
    (
        "[a-z]{1,8}\\.example(:[1-9][0-9]{1,3})?",
        prop::collection::vec(header, 0..8),
        prop::collection::vec(connection_token, 0..5),
        any::<bool>(),
    )
        .prop_map(|(host, headers, connection, authenticated)| Case {
            host,
            headers,
            connection,
            authenticated,
        })
}

#[test]
fn client_headers_never_forge_identity_drop_forwarding_or_pass_hop_by_hop() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let (gateway, login) = runtime.block_on(async {
        let gateway = TestGateway::start().await;
        let login = gateway.login_anon().await;
        (gateway, login)
    });
    let addr: SocketAddr = gateway
        .client_url
        .trim_start_matches("http://")
        .parse()
        .expect("gateway address");
    let mut runner = TestRunner::new(crate::cases(48));
    let result = runner.run(&case(), |case| {
        runtime.block_on(check_case(addr, &login, &case))
    });
    runtime.block_on(gateway.stop());
    if let Err(failure) = result {
        panic!("{failure}");
    }
}

async fn check_case(addr: SocketAddr, login: &Login, case: &Case) -> Result<(), TestCaseError> {
    let mut request = format!("GET /maybe/echo HTTP/1.1\r\nHost: {}\r\n", case.host);
    if case.authenticated {
        request.push_str(&format!("Authorization: Bearer {}\r\n", login.access_token));
    }
    for (name, value) in &case.headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    if !case.connection.is_empty() {
        request.push_str(&format!("Connection: {}\r\n", case.connection.join(", ")));
    }
    request.push_str("\r\n");
    let response = crate::raw_http::exchange(addr, request.as_bytes()).await;
    prop_assert_eq!(response.status, 200, "{}", response.body);
    let echo = response.json();
    let seen = echo["headers"].as_object().expect("echo headers");
    let get = |name: &str| seen.get(name).and_then(Value::as_str);

    let sid = jwt_payload(&login.access_token)["sid"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let verified = [login.user_id.as_str(), sid.as_str(), "anon-user"];
    for (name, value) in oracle::IDENTITY_NAMES.iter().zip(verified) {
        let expected = case.authenticated.then_some(value);
        prop_assert_eq!(get(name), expected, "{} upstream saw {:?}", name, seen);
    }
    for name in seen.keys() {
        prop_assert!(
            !oracle::folds_to_identity(name) || oracle::IDENTITY_NAMES.contains(&name.as_str()),
            "client spelling {} reached the upstream",
            name
        );
    }
    prop_assert_eq!(get("x-forwarded-for"), Some("127.0.0.1"), "{:?}", seen);
    prop_assert_eq!(get("x-forwarded-proto"), Some("http"), "{:?}", seen);
    prop_assert_eq!(
        get("x-forwarded-host"),
        Some(case.host.as_str()),
        "X-Forwarded-Host lost or forged (Connection: {:?})",
        case.connection
    );
    let ours = [
        "host",
        "x-forwarded-for",
        "x-forwarded-proto",
        "x-forwarded-host",
    ];
    for token in &case.connection {
        let token = token.to_ascii_lowercase();
        if !ours.contains(&token.as_str()) && !oracle::folds_to_identity(&token) {
            prop_assert!(
                !seen.contains_key(&token),
                "{} is named in Connection and reached the upstream",
                token
            );
        }
    }
    for name in [
        "keep-alive",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "forwarded",
        "x-real-ip",
        "authorization",
        "session",
    ] {
        prop_assert!(!seen.contains_key(name), "{} reached the upstream", name);
    }
    Ok(())
}

proptest! {
    #![proptest_config(crate::cases(512))]

    #[test]
    fn pure_rewrite_keeps_only_the_verified_identity_and_no_hop_by_hop_header(
        lines in prop::collection::vec(
            (
                prop_oneof![
                    prop::sample::select(NAMES.to_vec()).prop_map(str::to_owned),
                    Just("Connection".to_owned()),
                    Just("Upgrade".to_owned()),
                    "[a-zA-Z_-]{1,12}",
                ],
                prop_oneof![
                    "[ -~]{0,16}",
                    prop::collection::vec(
                        prop::sample::select(
                            NAMES.iter().chain(CONNECTION_TOKENS.iter()).copied().collect::<Vec<_>>()
                        ),
                        1..4,
                    )
                    .prop_map(|names| names.join(", ")),
                ],
            ),
            0..10,
        ),
        authenticated in any::<bool>(),
    ) {
        let text: String = lines.iter().map(|(n, v)| format!("{n}: {v}\n")).collect();
        oracle::check_header_rewrite(&oracle::header_map(text.as_bytes()), authenticated);
    }
}
