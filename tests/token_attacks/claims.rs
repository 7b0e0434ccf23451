//! Claims and headers: lifetime cap, future `iat`/`nbf`, `crit`/`cty`, unsafe identities.

use serde_json::{Value, json};

use super::common::*;
use super::{assert_all_refused, now, with};

/// A gateway with an anonymous login: the login, its `kid` and its claims to forge from.
async fn logged_in() -> (TestGateway, Login, String, Value) {
    let gw = TestGateway::start().await;
    let login = gw.login_anon().await;
    let kid = jwt_kid(&login.access_token);
    let claims = jwt_payload(&login.access_token);
    (gw, login, kid, claims)
}

#[tokio::test]
async fn validly_signed_tokens_living_longer_than_the_access_ttl_are_refused() {
    let (gw, login, kid, claims) = logged_in().await;
    let secret = SIGNING_SECRET.as_bytes();
    let t = now();
    let forge = |iat: i64, exp: i64| {
        forge_hs256(
            &with(&claims, json!({"iat": iat, "exp": exp})),
            &kid,
            secret,
        )
    };

    // Control: the longest lifetime the cap allows (30 min + 60 s leeway) passes.
    let seen = gw
        .echo("/data/control", &forge(t - 5, t - 5 + 1800 + 60))
        .await;
    assert_eq!(seen["headers"]["x-user-id"], login.user_id.as_str());

    assert_all_refused(
        &gw,
        &[
            ("one second past the cap", forge(t - 5, t - 5 + 1800 + 61)),
            ("ten days", forge(t - 60, t + 10 * 86_400)),
            ("a hundred years", forge(t, t + 100 * 365 * 86_400)),
            ("exp = 2^53", forge(t, 1 << 53)),
            ("iat far in the past", forge(0, t + 600)),
        ],
    )
    .await;
    assert_eq!(
        gw.state.auth.tokens().cache_entries(),
        1,
        "only the control was cached"
    );
}

#[tokio::test]
async fn future_iat_or_nbf_and_crit_or_nested_jwt_headers_are_refused() {
    let (gw, _, kid, claims) = logged_in().await;
    let secret = SIGNING_SECRET.as_bytes();
    let t = now();
    let header = |extra: Value| with(&json!({"alg": "HS256", "typ": "JWT", "kid": kid}), extra);
    let fresh = with(&claims, json!({"iat": t, "exp": t + 600}));

    // Control: the raw forging helper makes a token the gateway accepts.
    gw.echo(
        "/data/control",
        &forge_hs256_raw(&header(json!({})), &fresh, secret),
    )
    .await;

    assert_all_refused(
        &gw,
        &[
            (
                "iat in the future",
                forge_hs256(
                    &with(&claims, json!({"iat": t + 600, "exp": t + 1200})),
                    &kid,
                    secret,
                ),
            ),
            (
                "nbf in the future",
                forge_hs256(&with(&fresh, json!({"nbf": t + 300})), &kid, secret),
            ),
            (
                "crit [exp]",
                forge_hs256_raw(&header(json!({"crit": ["exp"]})), &fresh, secret),
            ),
            (
                "crit []",
                forge_hs256_raw(&header(json!({"crit": []})), &fresh, secret),
            ),
            (
                "crit null",
                forge_hs256_raw(&header(json!({"crit": null})), &fresh, secret),
            ),
            (
                "crit b64",
                forge_hs256_raw(
                    &header(json!({"crit": ["b64"], "b64": false})),
                    &fresh,
                    secret,
                ),
            ),
            (
                "cty JWT",
                forge_hs256_raw(&header(json!({"cty": "JWT"})), &fresh, secret),
            ),
            (
                "cty application/jwt",
                forge_hs256_raw(&header(json!({"cty": "application/jwt"})), &fresh, secret),
            ),
        ],
    )
    .await;
}

#[tokio::test]
async fn identity_that_cannot_be_a_header_value_is_refused_not_forwarded_without_it() {
    let (gw, _, kid, claims) = logged_in().await;
    let t = now();
    let fresh = with(&claims, json!({"iat": t, "exp": t + 600}));
    let mut cases = Vec::new();
    for field in ["sub", "sid", "baas_provider"] {
        for (what, bad) in [
            ("CR LF", "x\r\nX-User-Id: admin"),
            ("LF", "x\n"),
            ("NUL", "x\u{0}"),
            ("DEL", "x\u{7f}"),
            ("non-ASCII", "adm\u{ed}n"),
        ] {
            let token = forge_hs256(
                &with(&fresh, json!({ field: bad })),
                &kid,
                SIGNING_SECRET.as_bytes(),
            );
            cases.push((format!("{field} with {what}"), token));
        }
    }
    let cases: Vec<(&str, String)> = cases.iter().map(|(n, t)| (n.as_str(), t.clone())).collect();
    assert_all_refused(&gw, &cases).await;
    assert_eq!(
        gw.state.auth.tokens().cache_entries(),
        0,
        "refused before caching"
    );
}
