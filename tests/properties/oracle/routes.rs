//! The bypass oracle: a model of how lenient upstreams read a path, and the rule that the
//! gateway's route is never less strict than the route the upstream serves the path from.

use std::sync::OnceLock;

use sessiongate::config::AuthMode;
use sessiongate::proxy::path;
use sessiongate::proxy::routes::RouteTable;

use super::check_normalize;

/// How a lenient upstream reads a path, one switch per parsing habit.
#[derive(Debug, Clone, Copy)]
pub struct Lenience {
    /// Tomcat / Spring / Jetty: `;params` cut from every segment, also when sent as `%3B`.
    pub matrix_params: bool,
    /// Case-insensitive routing (IIS, Express/Spring with the option on), ASCII folding.
    pub ascii_case: bool,
    /// Windows / IIS: trailing dots and spaces of a segment are ignored.
    pub trailing_dots_spaces: bool,
    /// Lenient UTF-8 decoders (old IIS, Java's modified UTF-8): overlong forms decode.
    pub overlong_utf8: bool,
    /// Java's `equalsIgnoreCase` and Unicode-aware folding: `ı` (U+0131) reads as `i`,
    /// `ſ` (U+017F) as `s`, the Kelvin sign (U+212A) as `k`.
    pub unicode_case: bool,
}

impl Lenience {
    pub const NONE: Self = Self {
        matrix_params: false,
        ascii_case: false,
        trailing_dots_spaces: false,
        overlong_utf8: false,
        unicode_case: false,
    };
    /// The habits issue 8 names: what the gateway must withstand.
    pub const COMMON: Self = Self {
        matrix_params: true,
        ascii_case: true,
        trailing_dots_spaces: true,
        overlong_utf8: true,
        unicode_case: false,
    };
}

/// The path a lenient upstream routes on: decoded once, backslash as separator, dot segments
/// resolved, plus the habits `lenience` switches on.
pub fn lenient_view(path: &str, lenience: Lenience) -> String {
    let bytes: Vec<u8> = percent_encoding::percent_decode_str(path).collect();
    let decoded = if lenience.overlong_utf8 {
        decode_utf8_leniently(&bytes)
    } else {
        String::from_utf8_lossy(&bytes).into_owned()
    };
    let mut segments: Vec<String> = Vec::new();
    for segment in decoded.split(['/', '\\']) {
        let mut segment = segment.to_owned();
        if lenience.matrix_params {
            segment.truncate(segment.find(';').unwrap_or(segment.len()));
        }
        if lenience.unicode_case {
            segment = segment
                .chars()
                .map(|c| match c {
                    '\u{131}' => 'i',
                    '\u{17F}' => 's',
                    '\u{212A}' => 'k',
                    c => c,
                })
                .flat_map(char::to_lowercase)
                .collect();
        } else if lenience.ascii_case {
            segment.make_ascii_lowercase();
        }
        if lenience.trailing_dots_spaces {
            let spaces_cut = segment.trim_end_matches(' ');
            let trimmed = segment.trim_end_matches(['.', ' ']);
            if matches!(spaces_cut, "." | "..") {
                segment = spaces_cut.to_owned();
            } else if !trimmed.is_empty() {
                segment = trimmed.to_owned();
            }
        }
        match segment.as_str() {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            _ => segments.push(segment),
        }
    }
    format!("/{}", segments.join("/"))
}

/// UTF-8 without the overlong and surrogate checks, as lenient decoders read it.
fn decode_utf8_leniently(bytes: &[u8]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let (len, init) = match b {
            0x00..=0x7F => (1, u32::from(b)),
            0xC0..=0xDF => (2, u32::from(b & 0x1F)),
            0xE0..=0xEF => (3, u32::from(b & 0x0F)),
            0xF0..=0xF7 => (4, u32::from(b & 0x07)),
            _ => (0, 0),
        };
        let tail = bytes.get(i + 1..i + len.max(1)).unwrap_or_default();
        if len == 0 || tail.len() + 1 != len || tail.iter().any(|t| t & 0xC0 != 0x80) {
            out.push(char::REPLACEMENT_CHARACTER);
            i += 1;
            continue;
        }
        let code = tail
            .iter()
            .fold(init, |acc, t| (acc << 6) | u32::from(t & 0x3F));
        out.push(char::from_u32(code).unwrap_or(char::REPLACEMENT_CHARACTER));
        i += len;
    }
    out
}

/// A route table as configured: `(prefix, auth)`; `/` is required unless listed.
pub type TableSpec = &'static [(&'static str, AuthMode)];

/// Route tables that protect a prefix in the ways deployments do.
pub const TABLES: [TableSpec; 3] = [
    &[("/", AuthMode::None), ("/admin", AuthMode::Required)],
    &[("/public", AuthMode::None), ("/maybe", AuthMode::Optional)],
    &[
        ("/", AuthMode::None),
        ("/api", AuthMode::Optional),
        ("/api/admin", AuthMode::Required),
    ],
];

/// The gateway's table for `spec`, built the way `serve` builds it: from configuration text,
/// so the routes pass the same validation and get the same defaults.
fn route_table(spec: TableSpec) -> RouteTable {
    let mut text = String::from(
        "[app]\nid = \"properties\"\n[store]\nurl = \"sqlite::memory:\"\n\
         [upstream]\nurl = \"http://upstream.invalid:9000\"\n",
    );
    for (prefix, auth) in spec {
        let auth = match auth {
            AuthMode::None => "none",
            AuthMode::Optional => "optional",
            AuthMode::Required => "required",
        };
        text.push_str(&format!(
            "[[routes]]\nprefix = \"{prefix}\"\nauth = \"{auth}\"\n"
        ));
    }
    let env = [
        (
            "SESSIONGATE_ADMIN__API_KEY",
            "properties-admin-key-5f0c3a9e81d24b7c",
        ),
        (
            "SESSIONGATE_TOKENS__SIGNING_KEY",
            "9c4f1e7a2b8d3065f1a9e4c7b2d8036a5e1f9c4b7a2d8e30",
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let config = sessiongate::config::from_toml_str(&text, &env, std::path::Path::new("."))
        .unwrap_or_else(|err| panic!("route table {spec:?} is a valid configuration: {err}"));
    RouteTable::new(&config.routes, &config.upstream.url)
}

fn strictness(auth: AuthMode) -> u8 {
    match auth {
        AuthMode::None => 0,
        AuthMode::Optional => 1,
        AuthMode::Required => 2,
    }
}

/// The auth rule the upstream's reading of `path` falls under (prefixes are lower case).
fn model_auth(spec: TableSpec, path: &str) -> AuthMode {
    let default =
        (!spec.iter().any(|&(prefix, _)| prefix == "/")).then_some(("/", AuthMode::Required));
    spec.iter()
        .copied()
        .chain(default)
        .filter(|&(prefix, _)| {
            prefix == "/"
                || path
                    .strip_prefix(prefix)
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        })
        .max_by_key(|&(prefix, _)| prefix.len())
        .map_or(AuthMode::Required, |(_, auth)| auth)
}

/// The bypass oracle: for a request path `raw` (as hyper hands it over), the route the gateway
/// applies is at least as strict as the route a lenient upstream would serve the forwarded path
/// from. A refused path (400) is always fine.
pub fn check_route(raw: &str, lenience: Lenience) {
    let Ok(forwarded) = path::normalize(raw) else {
        return;
    };
    let tables = route_tables();
    for (spec, table) in TABLES.iter().zip(tables) {
        // An ambiguous path is refused (400): fine, whatever the upstream would make of it.
        let Ok(route) = table.find(&forwarded) else {
            continue;
        };
        let gateway = route.auth;
        let upstream_view = lenient_view(&forwarded, lenience);
        let upstream = model_auth(spec, &upstream_view);
        assert!(
            strictness(gateway) >= strictness(upstream),
            "bypass: {raw:?} is forwarded as {forwarded:?} under auth {gateway:?}, \
             but an upstream reads {upstream_view:?}, which is {upstream:?} (routes {spec:?})"
        );
    }
}

fn route_tables() -> &'static [RouteTable] {
    static TABLE: OnceLock<Vec<RouteTable>> = OnceLock::new();
    TABLE.get_or_init(|| TABLES.iter().map(|&spec| route_table(spec)).collect())
}

/// The path fuzz target: any path hyper would accept, normalized and routed.
pub fn check_path_bytes(data: &[u8]) {
    let Ok(path_and_query) = http::uri::PathAndQuery::try_from(data) else {
        return;
    };
    let raw = path_and_query.path();
    check_normalize(raw);
    check_route(raw, Lenience::COMMON);
}
