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
mod tests {
    use std::sync::OnceLock;

    use super::*;

    /// Built once for the whole test binary: compiling the rules is the slow part.
    fn parser() -> &'static UserAgentParser {
        static PARSER: OnceLock<UserAgentParser> = OnceLock::new();
        PARSER.get_or_init(|| UserAgentParser::new().expect("vendored regexes.yaml compiles"))
    }

    fn families(header: &str) -> (String, String) {
        let parsed = parser().parse(header);
        (parsed.family, parsed.os.family)
    }

    #[test]
    fn parser_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<UserAgentParser>();
    }

    #[test]
    fn chrome_on_mac_serializes_in_agnost_shape() {
        let parsed = parser().parse(
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like \
             Gecko) Chrome/99.0.4844.51 Safari/537.36",
        );
        let json = serde_json::to_value(&parsed).expect("serializes");
        assert_eq!(
            json,
            serde_json::json!({
                "family": "Chrome", "major": "99", "minor": "0", "patch": "4844",
                "device": {"family": "Mac", "brand": "Apple", "model": "Mac"},
                "os": {"family": "Mac OS X", "major": "10", "minor": "15", "patch": "7"},
            })
        );
        let back: UserAgent = serde_json::from_value(json).expect("deserializes");
        assert_eq!(back, parsed);
    }

    #[test]
    fn desktop_chrome_on_windows_is_chrome_on_windows() {
        let parsed = parser().parse(
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) \
             Chrome/124.0.0.0 Safari/537.36",
        );
        assert_eq!(parsed.family, "Chrome");
        assert_eq!(parsed.major.as_deref(), Some("124"));
        assert_eq!(parsed.os.family, "Windows");
        assert_eq!(parsed.os.major.as_deref(), Some("10"));
        assert_eq!(parsed.device.family, "Other");
    }

    #[test]
    fn firefox_on_linux_and_windows_is_firefox() {
        assert_eq!(
            families("Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0"),
            ("Firefox".to_owned(), "Linux".to_owned())
        );
        assert_eq!(
            families(
                "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0"
            ),
            ("Firefox".to_owned(), "Ubuntu".to_owned())
        );
        let parsed = parser().parse(
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0",
        );
        assert_eq!(parsed.family, "Firefox");
        assert_eq!(parsed.major.as_deref(), Some("125"));
        assert_eq!(parsed.minor.as_deref(), Some("0"));
        assert_eq!(parsed.os.family, "Windows");
    }

    #[test]
    fn safari_on_macos_is_safari_on_mac_os_x() {
        let parsed = parser().parse(
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like \
             Gecko) Version/17.4.1 Safari/605.1.15",
        );
        assert_eq!(parsed.family, "Safari");
        assert_eq!(parsed.major.as_deref(), Some("17"));
        assert_eq!(parsed.minor.as_deref(), Some("4"));
        assert_eq!(parsed.patch.as_deref(), Some("1"));
        assert_eq!(parsed.os.family, "Mac OS X");
    }

    #[test]
    fn edge_on_windows_is_edge_not_chrome() {
        let parsed = parser().parse(
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) \
             Chrome/124.0.0.0 Safari/537.36 Edg/124.0.2478.51",
        );
        assert_eq!(parsed.family, "Edge");
        assert_eq!(parsed.major.as_deref(), Some("124"));
        assert_eq!(parsed.patch.as_deref(), Some("2478"));
        assert_eq!(parsed.os.family, "Windows");
    }

    #[test]
    fn safari_on_iphone_is_mobile_safari_on_ios() {
        let parsed = parser().parse(
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15 \
             (KHTML, like Gecko) Version/17.4.1 Mobile/15E148 Safari/604.1",
        );
        assert_eq!(parsed.family, "Mobile Safari");
        assert_eq!(parsed.major.as_deref(), Some("17"));
        assert_eq!(parsed.os.family, "iOS");
        assert_eq!(parsed.os.major.as_deref(), Some("17"));
        assert_eq!(parsed.os.minor.as_deref(), Some("4"));
        assert_eq!(parsed.os.patch.as_deref(), Some("1"));
        assert_eq!(parsed.device.family, "iPhone");
        assert_eq!(parsed.device.brand.as_deref(), Some("Apple"));
        assert_eq!(parsed.device.model.as_deref(), Some("iPhone"));
    }

    #[test]
    fn chrome_on_android_phones_is_chrome_mobile_on_android() {
        let pixel = parser().parse(
            "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) \
             Chrome/124.0.6367.82 Mobile Safari/537.36",
        );
        assert_eq!(pixel.family, "Chrome Mobile");
        assert_eq!(pixel.major.as_deref(), Some("124"));
        assert_eq!(pixel.os.family, "Android");
        assert_eq!(pixel.os.major.as_deref(), Some("14"));
        assert_eq!(pixel.device.family, "Pixel 8");
        assert_eq!(pixel.device.brand.as_deref(), Some("Google"));
        assert_eq!(pixel.device.model.as_deref(), Some("Pixel 8"));

        let samsung = parser().parse(
            "Mozilla/5.0 (Linux; Android 13; SM-S911B) AppleWebKit/537.36 (KHTML, like Gecko) \
             Chrome/112.0.0.0 Mobile Safari/537.36",
        );
        assert_eq!(samsung.family, "Chrome Mobile");
        assert_eq!(samsung.os.family, "Android");
        assert_eq!(samsung.device.brand.as_deref(), Some("Samsung"));
        assert_eq!(samsung.device.model.as_deref(), Some("SM-S911B"));
    }

    #[test]
    fn curl_is_curl_on_other() {
        let parsed = parser().parse("curl/8.5.0");
        assert_eq!(parsed.family, "curl");
        assert_eq!(parsed.major.as_deref(), Some("8"));
        assert_eq!(parsed.minor.as_deref(), Some("5"));
        assert_eq!(parsed.patch.as_deref(), Some("0"));
        assert_eq!(parsed.os.family, "Other");
        assert_eq!(parsed.device.family, "Other");
    }

    #[test]
    fn empty_or_blank_header_is_all_other() {
        assert_eq!(parser().parse(""), UserAgent::other());
        assert_eq!(parser().parse("   "), UserAgent::other());
        let json = serde_json::to_value(UserAgent::other()).expect("serializes");
        assert_eq!(
            json,
            serde_json::json!({
                "family": "Other", "major": null, "minor": null, "patch": null,
                "device": {"family": "Other", "brand": null, "model": null},
                "os": {"family": "Other", "major": null, "minor": null, "patch": null},
            })
        );
    }

    #[test]
    fn unknown_client_is_other() {
        assert_eq!(
            parser().parse("definitely not a browser"),
            UserAgent::other()
        );
    }

    #[test]
    fn crafted_8_kb_user_agent_parses_to_other_without_panicking() {
        let crafted = format!("Mozilla/5.0 ({})", "a;".repeat(4000));
        assert!(crafted.len() > 8000);
        assert_eq!(parser().parse(&crafted), UserAgent::other());
    }

    #[test]
    fn only_the_first_512_bytes_are_parsed() {
        // A real browser followed by padding still parses as that browser …
        let chrome = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like \
                      Gecko) Chrome/124.0.0.0 Safari/537.36";
        let padded = format!("{chrome} {}", "x".repeat(8000));
        assert_eq!(parser().parse(&padded), parser().parse(chrome));
        // … and a browser token past the bound is not seen.
        let late = format!("{} curl/8.5.0", "x".repeat(MAX_PARSED_LEN));
        assert_eq!(parser().parse(&late).family, "Other");
    }

    #[test]
    fn bound_cuts_on_a_char_boundary() {
        // 'é' is 2 bytes: 511 ASCII bytes + 'é' would straddle byte 512.
        let header = format!("{}é tail", "a".repeat(MAX_PARSED_LEN - 1));
        let cut = bounded(&header);
        assert_eq!(cut.len(), MAX_PARSED_LEN - 1);
        assert!(cut.bytes().all(|b| b == b'a'));
        assert_eq!(bounded("short"), "short");
        let exact = "b".repeat(MAX_PARSED_LEN);
        assert_eq!(bounded(&exact), exact);
        // A multi-byte header of any length never panics.
        let emoji = "🦀".repeat(1000);
        assert!(bounded(&emoji).len() <= MAX_PARSED_LEN);
        let _ = parser().parse(&emoji);
    }
}
