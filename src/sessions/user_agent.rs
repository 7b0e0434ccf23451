//! User-Agent parsing into the Agnost shape (`family`, versions, `device`, `os`) with the uap-core
//! rules compiled into the binary.
//!
//! Does not store, log or trust the header: it only describes a session for display. The rules
//! are `regexes.yaml` from the npm package `uap-core` (Apache-2.0; version and checksum at the top
//! of `src/sessions/regexes.yaml`), matched by the `ua-parser` crate.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

/// The uap-core rules, vendored so a build needs no network and every replica parses alike.
const REGEXES_YAML: &str = include_str!("regexes.yaml");

/// Longest prefix of a header that is parsed, in bytes.
///
/// # Security
/// Matching runs uap-core's ~1,200 regexes (after a prefilter) over the input. Rust's `regex`
/// is linear in the input, but the constant is large, so the cost of one parse grows with the
/// header: a crafted 8 KB User-Agent must not make a login slower than a real one. Real browser
/// User-Agents are 100–300 bytes and everything the rules look at is near the start, so 512 bytes
/// loses nothing (the store keeps the same 512-byte prefix). `benches/user_agent.rs` shows the
/// difference: a crafted 8 KB header costs ~12 µs bounded, ~160 µs unbounded (Chrome: ~8 µs).
pub const MAX_PARSED_LEN: usize = 512;

/// What goes wrong building the parser: only possible if the vendored rules are broken.
#[derive(Debug, thiserror::Error)]
pub enum UserAgentParserError {
    #[error("user agent rules: regexes.yaml does not deserialize")]
    Rules(#[source] serde_norway::Error),
    #[error("user agent rules: a regex in regexes.yaml does not compile")]
    Compile(#[source] ua_parser::Error),
}

/// A parsed User-Agent, serialized as Agnost shows it:
/// `{"family":"Chrome","major":"99","minor":"0","patch":"4844","device":{…},"os":{…}}`.
///
/// Unknown parts are `"Other"` (families) or `null` (versions, brand, model).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserAgent {
    /// Browser or client family: `Chrome`, `Mobile Safari`, `curl`, … or `Other`.
    pub family: String,
    pub major: Option<String>,
    pub minor: Option<String>,
    pub patch: Option<String>,
    pub device: Device,
    pub os: Os,
}

/// The device part of a [`UserAgent`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Device {
    /// `iPhone`, `Pixel 7`, `Samsung SM-S911B`, … or `Other` (desktops are `Other`).
    pub family: String,
    pub brand: Option<String>,
    pub model: Option<String>,
}

/// The operating-system part of a [`UserAgent`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Os {
    /// `Windows`, `Mac OS X`, `iOS`, `Android`, `Linux`, `Ubuntu`, … or `Other`.
    pub family: String,
    pub major: Option<String>,
    pub minor: Option<String>,
    pub patch: Option<String>,
}

const OTHER: &str = "Other";

impl UserAgent {
    /// The result for an empty or unrecognised header: every family `Other`, everything else null.
    pub fn other() -> Self {
        Self {
            family: OTHER.to_owned(),
            major: None,
            minor: None,
            patch: None,
            device: Device {
                family: OTHER.to_owned(),
                brand: None,
                model: None,
            },
            os: Os {
                family: OTHER.to_owned(),
                major: None,
                minor: None,
                patch: None,
            },
        }
    }
}

/// The compiled uap-core rules. Build it once at start-up (it compiles ~1,200 regexes, see
/// [`UserAgentParser::new`]) and share it: it is `Send + Sync` and [`parse`](Self::parse) takes
/// `&self`.
/// The process-wide parser, built on first use (about 0.2 s: ~1,200 regexes compiled once).
/// `None` if the vendored rules failed to load, which tests rule out.
pub fn shared() -> Option<&'static UserAgentParser> {
    static PARSER: std::sync::OnceLock<Option<UserAgentParser>> = std::sync::OnceLock::new();
    PARSER
        .get_or_init(|| match UserAgentParser::new() {
            Ok(parser) => Some(parser),
            Err(err) => {
                tracing::error!(error = %err, "user agent rules failed to load; sessions show raw user agents only");
                None
            }
        })
        .as_ref()
}

pub struct UserAgentParser {
    extractor: ua_parser::Extractor<'static>,
}

impl std::fmt::Debug for UserAgentParser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserAgentParser").finish_non_exhaustive()
    }
}

impl UserAgentParser {
    /// Deserializes and compiles the vendored rules. Expensive (~170 ms in a release build,
    /// `benches/user_agent.rs`): call once at start-up, not per request.
    ///
    /// Fails only if the vendored `regexes.yaml` is broken, which a unit test rules out.
    pub fn new() -> Result<Self, UserAgentParserError> {
        let regexes: ua_parser::Regexes<'static> =
            serde_norway::from_str(REGEXES_YAML).map_err(UserAgentParserError::Rules)?;
        let extractor =
            ua_parser::Extractor::try_from(regexes).map_err(UserAgentParserError::Compile)?;
        Ok(Self { extractor })
    }

    /// Parses a User-Agent header value. Never fails: what the rules do not recognise is
    /// `Other` / null. Only the first [`MAX_PARSED_LEN`] bytes are looked at.
    pub fn parse(&self, header: &str) -> UserAgent {
        let header = bounded(header);
        if header.trim().is_empty() {
            return UserAgent::other();
        }
        let (ua, os, device) = self.extractor.extract(header);
        let mut parsed = UserAgent::other();
        if let Some(ua) = ua {
            parsed.family = family(ua.family);
            parsed.major = version(ua.major);
            parsed.minor = version(ua.minor);
            parsed.patch = version(ua.patch);
        }
        if let Some(os) = os {
            parsed.os = Os {
                family: family(os.os),
                major: version(os.major),
                minor: version(os.minor),
                patch: version(os.patch),
            };
        }
        if let Some(device) = device {
            parsed.device = Device {
                family: family(device.device),
                brand: version(device.brand),
                model: version(device.model),
            };
        }
        parsed
    }
}

/// The longest prefix of `header` that is at most [`MAX_PARSED_LEN`] bytes and ends on a char
/// boundary (`str::floor_char_boundary` is newer than our MSRV).
fn bounded(header: &str) -> &str {
    if header.len() <= MAX_PARSED_LEN {
        return header;
    }
    let mut end = MAX_PARSED_LEN;
    while !header.is_char_boundary(end) {
        end -= 1;
    }
    &header[..end]
}

/// A family as shown: a rule whose replacement resolves to nothing counts as unrecognised.
fn family<'a>(value: impl Into<Cow<'a, str>>) -> String {
    let value = value.into();
    let value = value.trim();
    if value.is_empty() {
        OTHER.to_owned()
    } else {
        value.to_owned()
    }
}

/// A version part (or brand / model) as shown: empty captures are null.
fn version<'a, V: Into<Cow<'a, str>>>(value: Option<V>) -> Option<String> {
    let value = value?.into();
    let value = value.trim();
    (!value.is_empty()).then(|| value.to_owned())
}

#[cfg(test)]
mod tests;
