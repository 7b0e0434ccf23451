//! Oracles shared by the property tests (`tests/properties.rs`) and the cargo-fuzz targets
//! (`fuzz/fuzz_targets/`): each runs one input through the gateway's pure request-path code
//! and panics when a security property does not hold.
//!
//! The fuzzers feed raw bytes, the property tests feed structured inputs, and both replay the
//! minimized inputs kept in `fuzz/regressions/`. Nothing here starts a server or touches a store.
#![allow(dead_code)]

use std::sync::OnceLock;
use std::time::Duration;

use http::header::{AUTHORIZATION, CONNECTION, TE, TRAILER, TRANSFER_ENCODING, UPGRADE};
use http::{HeaderMap, HeaderName, HeaderValue};
use sessiongate::config::{AuthMode, IdentityHeaders, SigningAlgorithm};
use sessiongate::proxy::credential::{self, Credential};
use sessiongate::proxy::hop_by_hop;
use sessiongate::proxy::identity::Identity;
use sessiongate::proxy::path;
use sessiongate::proxy::routes::RouteTable;
use sessiongate::tokens::{KeySet, MintRequest, Tokens, Verified};

pub const SECRET: &[u8] = b"properties-signing-secret-0123456789abcdef";
pub const ISSUER: &str = "properties-app";
pub const IDENTITY_NAMES: [&str; 3] = ["x-user-id", "x-session-id", "x-user-provider"];

// --- tokens -------------------------------------------------------------------------------

/// One verifier for the whole process (HS256, the secret above).
pub fn tokens() -> &'static Tokens {
    static TOKENS: OnceLock<Tokens> = OnceLock::new();
    TOKENS.get_or_init(|| {
        Tokens::new(
            KeySet::from_secret(SigningAlgorithm::HS256, SECRET),
            ISSUER.to_owned(),
            Duration::from_secs(1800),
            1000,
        )
    })
}

/// A token the verifier accepts (minted once, valid for 30 minutes).
pub fn valid_token() -> &'static str {
    static TOKEN: OnceLock<String> = OnceLock::new();
    TOKEN.get_or_init(|| {
        let data = serde_json::json!({});
        let request = MintRequest {
            user_id: "user-1",
            session_id: "session-1",
            provider: "anon-user",
            device_id: "device-1",
            user_data: &data,
        };
        let token = tokens()
            .mint(&request, sessiongate::ids::now())
            .expect("minting with a valid key works");
        tokens()
            .authenticate(&token, sessiongate::ids::now())
            .expect("a freshly minted token verifies");
        token
    })
}

/// Nothing but a token we minted verifies: any other string is refused (never a panic).
pub fn check_foreign_token(token: &str) {
    if token == valid_token() {
        return;
    }
    let now = sessiongate::ids::now();
    assert!(
        tokens().authenticate(token, now).is_err(),
        "a token we never minted was accepted: {token:?}"
    );
    assert!(tokens().decode(token).is_err(), "decode accepted {token:?}");
}

/// A valid token with one byte replaced (`position` modulo its length) is refused.
pub fn check_mutated_token(position: usize, byte: u8) {
    let token = valid_token().as_bytes();
    let mut mutated = token.to_vec();
    let position = position % mutated.len();
    if mutated[position] == byte {
        return;
    }
    mutated[position] = byte;
    // The header value cannot carry anything but a string; non-UTF-8 never reaches verify.
    if let Ok(mutated) = std::str::from_utf8(&mutated) {
        check_foreign_token(mutated);
    }
}

// --- credential extraction -------------------------------------------------------------------

/// A header map from `name: value` lines; lines that are not a valid header are skipped.
pub fn header_map(data: &[u8]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for line in data.split(|&b| b == b'\n') {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let (name, value) = (&line[..colon], &line[colon + 1..]);
        let value = value.strip_prefix(b" ").unwrap_or(value);
        if let (Ok(name), Ok(value)) =
            (HeaderName::from_bytes(name), HeaderValue::from_bytes(value))
        {
            headers.append(name, value);
        }
    }
    headers
}

/// A header's text: `None` when absent, `Some(None)` when not visible ASCII.
fn usable(value: Option<&HeaderValue>) -> Option<Option<&str>> {
    value.map(|v| v.to_str().ok())
}

/// What `extract` may answer, from the first `Authorization` and `Session` values only.
pub fn check_credential(headers: &HeaderMap) {
    let got = credential::extract(headers);
    let bearer = usable(headers.get(AUTHORIZATION)).map(|v| {
        v.map(|v| match v.split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => Some(token.trim()),
            _ => None,
        })
    });
    let session = usable(headers.get(credential::SESSION)).map(|v| v.map(str::trim));
    match &got {
        Credential::Absent => {
            assert!(
                session.is_none() && bearer.flatten().flatten().is_none(),
                "a credential was ignored: {headers:?}"
            );
        }
        Credential::Token(token) => {
            assert!(!token.is_empty(), "empty token from {headers:?}");
            assert_eq!(token.trim(), *token, "untrimmed token from {headers:?}");
            for candidate in [bearer.flatten().flatten(), session.flatten()]
                .into_iter()
                .flatten()
            {
                assert_eq!(candidate, *token, "two different tokens were not refused");
            }
            check_foreign_token(token);
        }
        Credential::Malformed => {}
    }
}

/// Stricter than `check_credential`: every `Authorization: Bearer` and `Session` value counts,
/// so a request that carries two different tokens (in repeated headers) is `Malformed`, as the
/// `Credential` docs promise, and an upstream that reads the last copy sees the verified one.
pub fn check_credential_repeated(headers: &HeaderMap) {
    let mut seen: Vec<&str> = Vec::new();
    for value in headers.get_all(AUTHORIZATION) {
        let Ok(text) = value.to_str() else { return };
        if let Some((scheme, token)) = text.split_once(' ')
            && scheme.eq_ignore_ascii_case("bearer")
            && !seen.contains(&token.trim())
        {
            seen.push(token.trim());
        }
    }
    for value in headers.get_all(credential::SESSION) {
        let Ok(text) = value.to_str() else { return };
        if !seen.contains(&text.trim()) {
            seen.push(text.trim());
        }
    }
    if seen.len() > 1 {
        assert_eq!(
            credential::extract(headers),
            Credential::Malformed,
            "two different tokens in one request were not refused: {headers:?}"
        );
    }
}

/// The credential fuzz target: headers, then every token shape the extractor can hand on.
pub fn check_credential_bytes(data: &[u8]) {
    match data.split_first() {
        Some((0, rest)) => check_foreign_token(&String::from_utf8_lossy(rest)),
        Some((1, [a, b, byte, ..])) => {
            check_mutated_token(usize::from(*a) << 8 | usize::from(*b), *byte)
        }
        Some((_, rest)) => {
            let headers = header_map(rest);
            check_credential(&headers);
            check_credential_repeated(&headers);
        }
        None => {}
    }
}

// --- path normalization ----------------------------------------------------------------------

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// `normalize` never panics; what it returns is canonical and a fixed point.
pub fn check_normalize(raw: &str) {
    let Ok(out) = path::normalize(raw) else {
        return;
    };
    assert!(out.starts_with('/'), "{raw:?} -> {out:?}: not absolute");
    assert_eq!(
        path::normalize(&out).as_ref(),
        Ok(&out),
        "{raw:?} -> {out:?}: normalize is not idempotent"
    );
    assert!(!out.contains("//"), "{raw:?} -> {out:?}: empty segment");
    assert!(
        !out.contains(['\\', '\0']),
        "{raw:?} -> {out:?}: backslash or NUL"
    );
    for segment in out.split('/').skip(1) {
        let bare = segment.split(';').next().unwrap_or_default();
        let bare = bare.split("%3B").next().unwrap_or_default();
        assert!(
            bare != "." && bare != "..",
            "{raw:?} -> {out:?}: dot segment {segment:?}"
        );
    }
    let bytes = out.as_bytes();
    for (i, _) in out.match_indices('%') {
        let hex = bytes.get(i + 1..i + 3).unwrap_or_default();
        assert!(
            hex.len() == 2 && hex.iter().all(|b| matches!(b, b'0'..=b'9' | b'A'..=b'F')),
            "{raw:?} -> {out:?}: escape at {i} is not two upper-case hex digits"
        );
        let text = std::str::from_utf8(hex).unwrap_or_default();
        let value = u8::from_str_radix(text, 16).unwrap_or(b'%');
        assert!(
            !is_unreserved(value) && !matches!(value, b'/' | b'\\' | 0),
            "{raw:?} -> {out:?}: escape %{text} must be decoded or refused"
        );
    }
    let decoded: Vec<u8> = percent_encoding::percent_decode_str(&out).collect();
    assert!(
        std::str::from_utf8(&decoded).is_ok(),
        "{raw:?} -> {out:?}: escapes decode to invalid or overlong UTF-8"
    );
}

// --- route matching: the bypass oracle -------------------------------------------------------

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
        let gateway = table.find(&forwarded).auth;
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

// --- header rewrite --------------------------------------------------------------------------

pub fn identity() -> Identity {
    Identity::new(IdentityHeaders {
        user_id: HeaderName::from_static(IDENTITY_NAMES[0]),
        session_id: HeaderName::from_static(IDENTITY_NAMES[1]),
        provider: HeaderName::from_static(IDENTITY_NAMES[2]),
    })
}

pub fn caller() -> Verified {
    Verified {
        user_id: "verified-user".into(),
        session_id: "verified-session".into(),
        provider: "anon-user".into(),
        device_id: "device".into(),
        iat: 0,
        exp: i64::MAX,
    }
}

/// Whether a header name is an identity header once case and `_` are folded.
pub fn folds_to_identity(name: &str) -> bool {
    let folded = name.to_ascii_lowercase().replace('_', "-");
    IDENTITY_NAMES.contains(&folded.as_str())
}

/// The public half of the proxy's header rewrite (hop-by-hop strip, identity strip, identity
/// set) on client headers: only the verified identity and no hop-by-hop header survive.
pub fn check_header_rewrite(client: &HeaderMap, authenticated: bool) {
    let named: Vec<HeaderName> = client
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|t| HeaderName::from_bytes(t.trim().as_bytes()).ok())
        .collect();
    let mut headers = client.clone();
    let identity = identity();
    let caller = caller();
    let upgrade = hop_by_hop::strip(&mut headers);
    identity.strip_client_copies(&mut headers);
    if authenticated {
        identity.set(&mut headers, &caller);
    }
    let expected = [&caller.user_id, &caller.session_id, &caller.provider];
    for (name, value) in &headers {
        if folds_to_identity(name.as_str()) {
            let index = IDENTITY_NAMES
                .iter()
                .position(|n| *n == name.as_str())
                .unwrap_or_else(|| panic!("client spelling {name} survived: {headers:?}"));
            assert!(authenticated, "identity header {name} without a caller");
            assert_eq!(value, expected[index].as_str(), "forged {name}");
        }
    }
    for name in IDENTITY_NAMES {
        let count = headers.get_all(name).iter().count();
        assert_eq!(count, usize::from(authenticated), "{name}: {headers:?}");
    }
    for name in &named {
        assert!(
            folds_to_identity(name.as_str()) || !headers.contains_key(name),
            "{name} is named in Connection and was kept: {headers:?}"
        );
    }
    for name in [CONNECTION, TE, TRAILER, TRANSFER_ENCODING, UPGRADE] {
        assert!(!headers.contains_key(&name), "hop-by-hop {name} kept");
    }
    for name in ["keep-alive", "proxy-connection", "proxy-authorization"] {
        assert!(!headers.contains_key(name), "hop-by-hop {name} kept");
    }
    if upgrade.is_some() {
        assert!(
            named.contains(&UPGRADE),
            "Upgrade passed without Connection: upgrade"
        );
    }
}

/// The header fuzz target: first byte says whether a caller was authenticated.
pub fn check_header_bytes(data: &[u8]) {
    if let Some((first, rest)) = data.split_first() {
        check_header_rewrite(&header_map(rest), first & 1 == 1);
    }
}
