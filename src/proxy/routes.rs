//! `RouteTable`: path prefixes (on segment boundaries) to auth mode and upstream, longest
//! prefix first, sorted once at start-up.
//!
//! Does not normalize paths; it is handed the one normalized path.

use url::Url;

use crate::config::{AuthMode, RouteConfig};

#[derive(Debug, Clone)]
pub struct Route {
    pub prefix: String,
    pub auth: AuthMode,
    pub strip_prefix: bool,
    /// Index into the forwarder's upstream list.
    pub upstream: usize,
    /// Atlas Data API credential headers are accepted on this route.
    pub data_api_credentials: bool,
}

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
                    prefix: config.prefix.clone(),
                    auth: config.auth,
                    strip_prefix: config.strip_prefix,
                    upstream,
                    data_api_credentials: config.data_api_credentials,
                }
            })
            .collect();
        if !routes.iter().any(|r| r.prefix == "/") {
            routes.push(Route {
                prefix: "/".to_owned(),
                auth: AuthMode::Required,
                strip_prefix: false,
                upstream: 0,
                data_api_credentials: false,
            });
        }
        // Longest prefix wins; the sort is stable so the first of equal prefixes stays first.
        routes.sort_by_key(|r| std::cmp::Reverse(r.prefix.len()));
        Self { routes, upstreams }
    }

    pub fn upstreams(&self) -> &[Url] {
        &self.upstreams
    }

    /// The route for a normalized path. There is always one (`/` matches everything).
    pub fn find(&self, path: &str) -> &Route {
        self.routes
            .iter()
            .find(|route| matches(&route.prefix, path))
            .expect("the table always holds a route for /")
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
        let rest = if self.strip_prefix && self.prefix != "/" {
            let rest = &path[self.prefix.len()..];
            if rest.is_empty() { "/" } else { rest }
        } else {
            path
        };
        let base = base.trim_end_matches('/');
        format!("{base}{rest}")
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
            })
            .collect();
        RouteTable::new(&configs, &Url::parse("http://upstream:9000").unwrap())
    }

    #[test]
    fn prefixes_match_on_segment_boundaries_only() {
        let t = table(&[("/public", AuthMode::None, false)]);
        assert_eq!(t.find("/public").auth, AuthMode::None);
        assert_eq!(t.find("/public/x").auth, AuthMode::None);
        assert_eq!(t.find("/publicity").auth, AuthMode::Required);
        assert_eq!(t.find("/private").auth, AuthMode::Required);
    }

    #[test]
    fn longest_prefix_wins() {
        let t = table(&[
            ("/api", AuthMode::Optional, false),
            ("/api/admin", AuthMode::Required, false),
            ("/", AuthMode::None, false),
        ]);
        assert_eq!(t.find("/api/admin/x").auth, AuthMode::Required);
        assert_eq!(t.find("/api/other").auth, AuthMode::Optional);
        assert_eq!(t.find("/else").auth, AuthMode::None);
    }

    #[test]
    fn strip_prefix_and_upstream_base_path() {
        let t = table(&[("/svc", AuthMode::Required, true)]);
        let route = t.find("/svc/items");
        assert_eq!(route.upstream_path("/", "/svc/items"), "/items");
        assert_eq!(route.upstream_path("/base/", "/svc"), "/base/");
        assert_eq!(t.find("/x").upstream_path("/base", "/x"), "/base/x");
    }
}
