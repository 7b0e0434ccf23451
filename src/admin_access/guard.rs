//! The console cookie and the cross-site checks on every cookie-authenticated request.
//!
//! Does not decide whether a session is live (`sessions.rs`) nor check the admin key
//! (`auth.rs`).
//!
//! # Security
//! `SameSite=Strict` keeps the cookie off requests started by other *sites*, but every port of
//! a host is the same site: a page on the client listener (or anything proxied through it)
//! could otherwise drive the admin listener with the operator's cookie. So a cookie request
//! must also come from the console's own *origin*: `Sec-Fetch-Site`, when the browser sends it,
//! must be `same-origin`; `Origin`, when sent, must be this listener's; and a state-changing
//! method must carry [`CSRF_HEADER`], which a form cannot send and a cross-origin script can
//! send only after a CORS preflight that the admin listener never grants.

use http::header::{COOKIE, HOST, ORIGIN};
use http::{HeaderMap, Method};

use crate::error::ApiError;
use crate::web::RequestContext;

/// The header every state-changing console request carries (value `1`).
pub const CSRF_HEADER: &str = "x-sessiongate-console";

/// The cookie's name: `__Host-` prefixed (Secure, host-only, `Path=/` enforced by the browser)
/// on a TLS listener.
pub fn cookie_name(ctx: &RequestContext) -> &'static str {
    if ctx.scheme == "https" {
        "__Host-sessiongate_console"
    } else {
        "sessiongate_console"
    }
}

/// The console session id from the `Cookie` header(s), if any.
pub fn session_cookie<'a>(headers: &'a HeaderMap, ctx: &RequestContext) -> Option<&'a str> {
    let name = cookie_name(ctx);
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.trim())
        .filter(|value| !value.is_empty())
}

/// `Set-Cookie` for a new session.
pub fn set_cookie(ctx: &RequestContext, id: &str, max_age: i64) -> String {
    let secure = if ctx.scheme == "https" {
        "; Secure"
    } else {
        ""
    };
    format!(
        "{}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}",
        cookie_name(ctx)
    )
}

/// `Set-Cookie` that makes the browser drop the cookie.
pub fn clear_cookie(ctx: &RequestContext) -> String {
    set_cookie(ctx, "", 0)
}

/// Refuses a cookie-authenticated request that did not come from the console's own origin
/// (403 `Forbidden`).
pub fn same_origin(
    method: &Method,
    headers: &HeaderMap,
    ctx: &RequestContext,
) -> Result<(), ApiError> {
    if let Some(site) = headers.get("sec-fetch-site") {
        if site.as_bytes() != b"same-origin" {
            return Err(cross_site("request is not from the console's origin"));
        }
    }
    if let Some(origin) = headers.get(ORIGIN) {
        let host = headers
            .get(HOST)
            .and_then(|v| v.to_str().ok())
            .or(ctx.authority.as_deref());
        let ours = host.map(|host| format!("{}://{host}", ctx.scheme));
        let matches = origin
            .to_str()
            .ok()
            .zip(ours.as_deref())
            .is_some_and(|(theirs, ours)| theirs.eq_ignore_ascii_case(ours));
        if !matches {
            return Err(cross_site("request is not from the console's origin"));
        }
    }
    let safe = method == Method::GET || method == Method::HEAD;
    if !safe
        && headers
            .get(CSRF_HEADER)
            .is_none_or(|v| v.as_bytes() != b"1")
    {
        return Err(cross_site(
            "console requests must carry X-Sessiongate-Console: 1",
        ));
    }
    Ok(())
}

fn cross_site(message: &str) -> ApiError {
    ApiError::forbidden(message).with_reason("cross_site")
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::{HeaderValue, StatusCode};

    fn ctx() -> RequestContext {
        RequestContext {
            remote: "127.0.0.1:5000".parse().unwrap(),
            local: "127.0.0.1:8081".parse().unwrap(),
            scheme: "http",
            path: "/".to_owned(),
            authority: None,
            client: crate::web::ClientInfo::default(),
            peer_trusted: false,
            now: 0,
        }
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn the_console_cookie_is_found_among_others() {
        let map = headers(&[("cookie", "a=b; sessiongate_console=abc ; c=d")]);
        assert_eq!(session_cookie(&map, &ctx()), Some("abc"));
        let map = headers(&[("cookie", "sessiongate_console_x=abc"), ("cookie", "x=1")]);
        assert_eq!(session_cookie(&map, &ctx()), None);
    }

    #[test]
    fn same_origin_fetch_with_the_header_passes() {
        let map = headers(&[
            ("host", "127.0.0.1:8081"),
            ("origin", "http://127.0.0.1:8081"),
            ("sec-fetch-site", "same-origin"),
            ("x-sessiongate-console", "1"),
        ]);
        assert!(same_origin(&Method::PUT, &map, &ctx()).is_ok());
    }

    #[test]
    fn cross_site_and_same_site_other_port_requests_are_refused() {
        for site in ["cross-site", "same-site", "none"] {
            let map = headers(&[("sec-fetch-site", site), ("x-sessiongate-console", "1")]);
            let err = same_origin(&Method::POST, &map, &ctx()).unwrap_err();
            assert_eq!(err.status, StatusCode::FORBIDDEN, "{site}");
        }
        let map = headers(&[
            ("host", "127.0.0.1:8081"),
            ("origin", "http://127.0.0.1:8080"),
            ("x-sessiongate-console", "1"),
        ]);
        assert!(same_origin(&Method::DELETE, &map, &ctx()).is_err());
        let map = headers(&[("host", "127.0.0.1:8081"), ("origin", "null")]);
        assert!(same_origin(&Method::GET, &map, &ctx()).is_err());
    }

    #[test]
    fn a_state_change_without_the_console_header_is_refused() {
        let map = headers(&[
            ("host", "127.0.0.1:8081"),
            ("sec-fetch-site", "same-origin"),
        ]);
        assert!(same_origin(&Method::POST, &map, &ctx()).is_err());
        assert!(same_origin(&Method::GET, &map, &ctx()).is_ok());
    }

    #[test]
    fn the_cookie_is_secure_and_host_only_under_tls() {
        let mut tls = ctx();
        tls.scheme = "https";
        let cookie = set_cookie(&tls, "id", 60);
        assert!(
            cookie.starts_with("__Host-sessiongate_console=id; Path=/; HttpOnly; SameSite=Strict")
        );
        assert!(cookie.ends_with("; Secure"));
        assert!(!set_cookie(&ctx(), "id", 60).contains("Secure"));
    }
}
