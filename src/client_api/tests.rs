use super::*;

const APP: &str = "myapp-abcde";

/// The row name and the methods a path routes to, `None` where the proxy takes it.
fn routed(path: &str) -> Option<(&'static str, Option<&'static str>)> {
    let route = route(path)?;
    Some((route_name(&route, APP), allowed_methods(path, APP)))
}

#[test]
fn our_paths_are_routed_and_others_left_to_the_proxy() {
    let v2 = |rest: &str| format!("{BASE}{rest}");
    assert_eq!(
        routed(&v2("/app/myapp-abcde/location")),
        Some(("location", Some("GET")))
    );
    assert_eq!(
        routed(&v2("/app/myapp-abcde/auth/providers/anon-user/login")),
        Some(("login", Some("POST")))
    );
    assert_eq!(
        routed(&v2("/app/myapp-abcde/auth/providers/oauth2-google/login")),
        Some(("login", Some("GET, POST")))
    );
    assert_eq!(
        routed(&v2(
            "/app/myapp-abcde/auth/providers/local-userpass/register"
        )),
        Some(("register", Some("POST")))
    );
    // A static segment does not hide the provider parameter beside it.
    assert_eq!(
        routed(&v2("/app/myapp-abcde/auth/providers/local-userpass/login")),
        Some(("login", Some("POST")))
    );
    assert_eq!(
        routed(&v2(
            "/app/myapp-abcde/auth/providers/local-userpass/reset/call"
        )),
        Some(("userpass", Some("POST")))
    );
    assert_eq!(
        routed(&v2("/auth/session")),
        Some(("session", Some("POST, DELETE")))
    );
    assert_eq!(
        routed(&v2("/app/other/location")),
        Some(("app_not_found", None))
    );
    assert_eq!(routed(&v2("/app/myapp-abcde/functions/call")), None);
    assert_eq!(
        routed(&v2("/app/myapp-abcde/auth/providers/local-userpass/other")),
        None
    );
    assert_eq!(routed("/data/items"), None);
    assert_eq!(routed(JWKS_PATH), Some(("jwks", Some("GET"))));
    assert_eq!(
        routed(&v2("/auth/sessions")),
        Some(("sessions", Some("GET, DELETE")))
    );
    assert_eq!(
        routed(&v2("/auth/sessions/current")),
        Some(("sessions", Some("GET, DELETE")))
    );
    assert_eq!(
        routed(&v2("/auth/sessions/others")),
        Some(("sessions", Some("DELETE")))
    );
    assert_eq!(
        routed(&v2("/auth/sessions/s1")),
        Some(("sessions", Some("GET, DELETE")))
    );
    // The rest of sessions/ and api_keys/ is ours, answered 404, never proxied.
    assert_eq!(
        routed(&v2("/auth/sessions/s1/x/y")),
        Some(("sessions", None))
    );
    assert_eq!(
        routed(&v2("/auth/api_keys/k1/enable")),
        Some(("api_keys", Some("PUT")))
    );
    assert_eq!(
        routed(&v2("/auth/api_keys/k1/other")),
        Some(("api_keys", None))
    );
}

#[test]
fn every_row_of_the_table_builds() {
    // A pattern matchit refuses panics at first use: walk the table once here.
    assert!(TABLE.resources().count() > 20);
    for resource in TABLE.resources() {
        assert!(resource.pattern().starts_with(BASE) || resource.pattern() == JWKS_PATH);
    }
}
