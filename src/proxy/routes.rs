//! `RouteTable`: path prefixes (on segment boundaries) to auth mode and upstream, longest
//! prefix first, sorted once at start-up.
//!
//! Does not normalize paths; it is handed the one normalized path.
//!
//! # Security
//! Upstreams disagree on what a path means: Tomcat and Spring cut `;jsessionid=…` matrix
//! parameters from every segment, IIS trims trailing dots and spaces, case-insensitive routers
//! (IIS, ASP.NET, Express with default options) read `/ADMIN` as `/admin`. A path is therefore
//! matched twice: as written, and by its *lenient key* (per segment: cut at `;` or `%3B`, trailing
//! `.`, space, `%20` and other encoded whitespace trimmed, ASCII lowercased). When the two
//! readings land on different routes, the request is refused (400) instead of guessing which
//! reading the upstream will take — so `/admin;x/secret`, `/ADMIN/secret` or `/admin./secret`
//! can never reach a route that the literal `/admin/secret` would not.

use std::sync::Arc;

use url::Url;

use crate::config::{AuthMode, RouteConfig, RouteCors};

#[derive(Debug, Clone)]
pub struct Route {
    /// Shared, so the access line names the route without copying it.
    pub prefix: Arc<str>,
    /// `lenient_key(prefix)`: what the lenient reading of a path is matched against (config
    /// validation keeps prefixes to the form whose lenient key is the prefix itself).
    key: String,
    pub auth: AuthMode,
    pub strip_prefix: bool,
    /// Index into the forwarder's upstream list.
    pub upstream: usize,
    /// Atlas Data API credential headers are accepted on this route.
    pub data_api_credentials: bool,
    /// Who answers CORS here (`[[routes]] cors`).
    pub cors: RouteCors,
    /// The token may come as a `Sec-WebSocket-Protocol` entry (see `proxy::browser_token`).
    pub websocket_token_protocol: bool,
    /// The token may come in this query parameter.
    pub token_query_param: Option<Arc<str>>,
    /// `aud` of the identity assertions sent on this route: `[[routes]] audience`, else the
    /// route's upstream URL (see `audience_of`).
    pub audience: Arc<str>,
    /// Streams opened here close when their access token expires.
    pub close_streams_at_expiry: bool,
}

/// The default audience of a route: its upstream URL without a trailing `/`
/// (`http://orders.internal:9000`), so that an assertion for one upstream is refused by
/// another unless routes name a shared audience.
fn audience_of(upstream: &Url) -> Arc<str> {
    upstream.as_str().trim_end_matches('/').into()
}

/// The two readings of a path fall on different routes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "path is ambiguous: read with ;parameters cut, trailing dots or spaces trimmed or case \
     ignored, it falls under another route"
)]
pub struct AmbiguousPath;

#[derive(Debug)]
pub struct RouteTable {
    routes: Vec<Route>,
    upstreams: Vec<Url>,
}

impl RouteTable {
    /// Builds the table; unless a route for `/` is configured, everything else needs a token
    /// and goes to `default_upstream`.
    pub fn new(configs: &[RouteConfig], default_upstream: &Url) -> Self {
        let mut upstreams = vec![default_upstream.clone()];
        let mut routes: Vec<Route> = configs
            .iter()
            .map(|config| {
                let upstream = match &config.upstream {
                    None => 0,
                    Some(url) => upstreams.iter().position(|u| u == url).unwrap_or_else(|| {
                        upstreams.push(url.clone());
                        upstreams.len() - 1
                    }),
                };
                Route {
                    key: lenient_key(&config.prefix).unwrap_or_else(|| config.prefix.clone()),
                    prefix: config.prefix.as_str().into(),
                    auth: config.auth,
                    strip_prefix: config.strip_prefix,
                    upstream,
                    data_api_credentials: config.data_api_credentials,
                    cors: config.cors,
                    websocket_token_protocol: config.websocket_token_protocol,
                    token_query_param: config.token_query_param.as_deref().map(Arc::from),
                    audience: config
                        .audience
                        .as_deref()
                        .map_or_else(|| audience_of(&upstreams[upstream]), Arc::from),
                    close_streams_at_expiry: config.close_streams_at_expiry,
                }
            })
            .collect();
        if !routes.iter().any(|r| &*r.prefix == "/") {
            routes.push(Route {
                key: "/".to_owned(),
                prefix: "/".into(),
                auth: AuthMode::Required,
                strip_prefix: false,
                upstream: 0,
                data_api_credentials: false,
                cors: RouteCors::Gateway,
                websocket_token_protocol: false,
                token_query_param: None,
                audience: audience_of(default_upstream),
                close_streams_at_expiry: true,
            });
        }
        // Longest prefix wins; the sort is stable so the first of equal prefixes stays first.
        routes.sort_by_key(|r| std::cmp::Reverse(r.prefix.len()));
        Self { routes, upstreams }
    }

    pub fn upstreams(&self) -> &[Url] {
        &self.upstreams
    }

    /// The route for a normalized path, or `AmbiguousPath` when its lenient reading falls on
    /// another route (see the module docs). There is always a route (`/` matches everything).
    pub fn find(&self, path: &str) -> Result<&Route, AmbiguousPath> {
        let literal = self.find_by(path, |route| &*route.prefix);
        if is_plain(path) {
            return Ok(literal);
        }
        let key = lenient_key(path).ok_or(AmbiguousPath)?;
        let lenient = self.find_by(&key, |route| &route.key);
        if std::ptr::eq(literal, lenient) {
            Ok(literal)
        } else {
            Err(AmbiguousPath)
        }
    }

    fn find_by(&self, path: &str, prefix: impl Fn(&Route) -> &str) -> &Route {
        self.routes
            .iter()
            .find(|route| matches(prefix(route), path))
            .expect("the table always holds a route for /")
    }
}

/// A path whose lenient key is itself: no `;`, no escape, no upper case, no segment ending in
/// a dot or space. The common case, decided without allocating.
fn is_plain(path: &str) -> bool {
    let bytes = path.as_bytes();
    bytes.iter().enumerate().all(|(i, &b)| {
        !(b == b';' || b == b'%' || b.is_ascii_uppercase() || !b.is_ascii())
            && !((b == b'.' || b == b' ') && bytes.get(i + 1).is_none_or(|&next| next == b'/'))
    })
}

/// The path as lenient upstreams read it: each segment percent-decoded, cut at `;` (matrix
/// parameters), trailing dots and whitespace trimmed and case-folded (Unicode letters that
/// Java's `equalsIgnoreCase` equates with an ASCII letter — `ı`, `ſ`, the Kelvin sign — become
/// that letter). `None` when a segment is nothing but parameters, dots or whitespace
/// (`/;/admin`, `/..%20/admin`, `/.../x`): upstreams read those as nothing, `.` or `..`, and no
/// one reading is safe to assume.
pub fn lenient_key(path: &str) -> Option<String> {
    let mut key = String::with_capacity(path.len());
    for segment in path.split('/').skip(1) {
        key.push('/');
        if segment.is_empty() {
            // Only the trailing slash of a normalized path.
            continue;
        }
        let decoded = percent_encoding::percent_decode_str(segment).decode_utf8_lossy();
        let bare = decoded.split(';').next().unwrap_or_default();
        let bare = bare.trim_end_matches(|c: char| c == '.' || c.is_whitespace());
        if bare.is_empty() {
            return None;
        }
        key.extend(bare.chars().map(fold_case));
    }
    if key.is_empty() {
        key.push('/');
    }
    Some(key)
}

/// Lower case, with the non-ASCII letters whose upper case is an ASCII letter mapped to it.
fn fold_case(c: char) -> char {
    if c.is_ascii() {
        return c.to_ascii_lowercase();
    }
    let mut upper = c.to_uppercase();
    if let (Some(u), None) = (upper.next(), upper.next()) {
        if u.is_ascii_alphabetic() {
            return u.to_ascii_lowercase();
        }
    }
    let mut lower = c.to_lowercase();
    match (lower.next(), lower.next()) {
        (Some(l), None) => l,
        _ => c,
    }
}

fn matches(prefix: &str, path: &str) -> bool {
    prefix == "/"
        || path
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

impl Route {
    /// The path the upstream receives under `base` (the upstream URL's own path).
    pub fn upstream_path(&self, base: &str, path: &str) -> String {
        let rest = if self.strip_prefix && &*self.prefix != "/" {
            let rest = &path[self.prefix.len()..];
            if rest.is_empty() { "/" } else { rest }
        } else {
            path
        };
        let base = base.trim_end_matches('/');
        // Room for a query, which the caller appends (`forward::upstream_target`).
        let mut target = String::with_capacity(base.len() + rest.len() + 64);
        target.push_str(base);
        target.push_str(rest);
        target
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(routes: &[(&str, AuthMode, bool)]) -> RouteTable {
        let configs: Vec<RouteConfig> = routes
            .iter()
            .map(|&(prefix, auth, strip_prefix)| RouteConfig {
                prefix: prefix.to_owned(),
                auth,
                strip_prefix,
                upstream: None,
                data_api_credentials: false,
                cors: RouteCors::Gateway,
                websocket_token_protocol: false,
                token_query_param: None,
                audience: None,
                close_streams_at_expiry: true,
            })
            .collect();
        RouteTable::new(&configs, &Url::parse("http://upstream:9000").unwrap())
    }

    #[test]
    fn prefixes_match_on_segment_boundaries_only() {
        let t = table(&[("/public", AuthMode::None, false)]);
        assert_eq!(auth(&t, "/public"), Ok(AuthMode::None));
        assert_eq!(auth(&t, "/public/x"), Ok(AuthMode::None));
        assert_eq!(auth(&t, "/publicity"), Ok(AuthMode::Required));
        assert_eq!(auth(&t, "/private"), Ok(AuthMode::Required));
    }

    #[test]
    fn longest_prefix_wins() {
        let t = table(&[
            ("/api", AuthMode::Optional, false),
            ("/api/admin", AuthMode::Required, false),
            ("/", AuthMode::None, false),
        ]);
        assert_eq!(auth(&t, "/api/admin/x"), Ok(AuthMode::Required));
        assert_eq!(auth(&t, "/api/other"), Ok(AuthMode::Optional));
        assert_eq!(auth(&t, "/else"), Ok(AuthMode::None));
    }

    fn auth(t: &RouteTable, path: &str) -> Result<AuthMode, AmbiguousPath> {
        t.find(path).map(|route| route.auth)
    }

    #[test]
    fn readings_that_upstreams_differ_on_cannot_leave_a_protected_prefix() {
        let t = table(&[
            ("/", AuthMode::None, false),
            ("/admin", AuthMode::Required, false),
        ]);
        for path in [
            "/admin;jsessionid=x/secret",
            "/admin%3Bx/secret",
            "/ADMIN/secret",
            "/Admin",
            "/admin%20/secret",
            "/admin./secret",
            "/admin.../secret",
            "/admin%20./secret",
            "/admin%09/secret",
            "/admin;/secret",
            "/;/admin/secret",
            "/;.;/admin",
            "/.%20/admin",
            "/x/..%20/admin",
            "/adm\u{131}n/secret",
            "/adm%C4%B1n/secret",
        ] {
            assert_eq!(auth(&t, path), Err(AmbiguousPath), "{path}");
        }
        assert_eq!(auth(&t, "/admin/secret"), Ok(AuthMode::Required));
        assert_eq!(auth(&t, "/admin/secret;v=1"), Ok(AuthMode::Required));
        assert_eq!(auth(&t, "/admin/Report.PDF"), Ok(AuthMode::Required));
        assert_eq!(auth(&t, "/administrator"), Ok(AuthMode::None));
        assert_eq!(auth(&t, "/public/File."), Ok(AuthMode::None));
    }

    #[test]
    fn a_protected_root_is_not_left_by_case_or_parameters_either() {
        let t = table(&[("/public", AuthMode::None, false)]);
        assert_eq!(auth(&t, "/PUBLIC/x"), Err(AmbiguousPath));
        assert_eq!(auth(&t, "/public;x/y"), Err(AmbiguousPath));
        assert_eq!(auth(&t, "/public/x;y"), Ok(AuthMode::None));
        assert_eq!(auth(&t, "/private;x/y"), Ok(AuthMode::Required));
    }

    #[test]
    fn lenient_key_cuts_parameters_trims_dots_and_spaces_and_lowercases() {
        let key = |path| lenient_key(path).unwrap_or_default();
        assert_eq!(key("/Admin;a=b/X%3Bc/y.%20/z"), "/admin/x/y/z");
        assert_eq!(key("/a%3bq/"), "/a/");
        assert_eq!(key("/adm%C4%B1n/\u{17f}ecret"), "/admin/secret");
        assert_eq!(key("/\u{212a}ey"), "/key");
        assert_eq!(key("/"), "/");
        for blank in ["/;/admin", "/x/..%20/admin", "/.../x", "/%20/x", "/a/;v=1"] {
            assert_eq!(lenient_key(blank), None, "{blank}");
        }
        assert!(is_plain("/admin/x.y/z"));
        assert!(!is_plain("/admin./x"));
        assert!(!is_plain("/admin/x."));
        assert!(!is_plain("/a b /x"));
    }

    #[test]
    fn strip_prefix_and_upstream_base_path() {
        let t = table(&[("/svc", AuthMode::Required, true)]);
        let route = t.find("/svc/items").unwrap();
        assert_eq!(route.upstream_path("/", "/svc/items"), "/items");
        assert_eq!(route.upstream_path("/base/", "/svc"), "/base/");
        assert_eq!(
            t.find("/x").unwrap().upstream_path("/base", "/x"),
            "/base/x"
        );
    }
}
