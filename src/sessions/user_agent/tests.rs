//! Unit tests of User-Agent parsing with the vendored uap-core rules.

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
        families("Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0"),
        ("Firefox".to_owned(), "Ubuntu".to_owned())
    );
    let parsed = parser()
        .parse("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0");
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
