//! Path normalization: what `normalize` returns is canonical and a fixed point.

use sessiongate::proxy::path;

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
