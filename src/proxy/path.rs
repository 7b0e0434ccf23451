//! One normalized path per request: what routes are matched on and exactly what the upstream
//! receives.
//!
//! # Security
//! A proxy that matches one spelling of a path and forwards another can be walked around
//! (`/public/../private`, `/public/%2e%2e/private`, `/priv%61te`, Tomcat's `..;`). So the path
//! is normalized once: percent-encoded unreserved characters are decoded, dot segments
//! resolved, duplicate slashes collapsed. Encoded `/`, `\`, NUL, `..;`-style segments and
//! double-encoded dots and separators (`%252e`, `%252f`) have no safe reading and are refused,
//! as are escapes that decode to invalid or overlong UTF-8
//! (`%c0%ae`, `%e0%80%ae`, `%ff`): some decoders read `%c0%ae` as `.`, so they would be dot
//! segments the normalizer did not see.

use std::fmt::Write;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("path must start with '/'")]
    NotAbsolute,
    #[error("path contains an invalid percent-encoding")]
    BadEncoding,
    #[error("path contains an encoded '/' or '\\', a backslash or a NUL")]
    Forbidden,
    #[error("path escapes do not decode to valid UTF-8")]
    InvalidUtf8,
}

/// Normalizes a request path (without query). See the module docs for the rules.
pub fn normalize(raw: &str) -> Result<String, PathError> {
    if is_normal(raw) {
        return Ok(raw.to_owned());
    }
    if !raw.starts_with('/') {
        return Err(PathError::NotAbsolute);
    }
    let decoded = decode_unreserved(raw)?;
    check_utf8(&decoded)?;
    let mut segments: Vec<&str> = Vec::new();
    let mut trailing_slash = false;
    for segment in decoded.split('/').skip(1) {
        // Path parameters start at `;` (or `%3B`, which some servers decode first).
        let cut = segment
            .find(';')
            .into_iter()
            .chain(segment.find("%3B"))
            .min()
            .unwrap_or(segment.len());
        let bare = &segment[..cut];
        if (bare == "." || bare == "..") && bare != segment {
            return Err(PathError::Forbidden);
        }
        trailing_slash = matches!(segment, "" | "." | "..");
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            other => segments.push(other),
        }
    }
    let mut path = String::with_capacity(decoded.len());
    for segment in &segments {
        path.push('/');
        path.push_str(segment);
    }
    if path.is_empty() || trailing_slash {
        path.push('/');
    }
    Ok(path)
}

/// Already normal, as most paths are: absolute, only unreserved characters and `/`, no empty
/// segment but a trailing one, no `.` or `..` segment. The rules above would rebuild the same
/// string; this decides it in one pass without allocating.
fn is_normal(raw: &str) -> bool {
    let Some(rest) = raw.strip_prefix('/') else {
        return false;
    };
    let mut segments = rest.split('/').peekable();
    while let Some(segment) = segments.next() {
        let last = segments.peek().is_none();
        let unreserved =
            |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~');
        if (segment.is_empty() && !last)
            || segment == "."
            || segment == ".."
            || !segment.bytes().all(unreserved)
        {
            return false;
        }
    }
    true
}

/// Whether `hex` (the two characters after an encoded `%`) encodes a dot, a separator, a
/// parameter start, a percent or NUL.
fn double_encoded_separator(hex: Option<&str>) -> bool {
    hex.and_then(|hex| u8::from_str_radix(hex, 16).ok())
        .is_some_and(|b| matches!(b, b'.' | b'/' | b'\\' | b';' | b'%' | 0))
}

/// Refuses a path whose percent-escapes, decoded, are not valid UTF-8 (std's decoder refuses
/// overlong forms and surrogates too).
fn check_utf8(path: &str) -> Result<(), PathError> {
    if !path.contains('%') {
        return Ok(());
    }
    let bytes: Vec<u8> = percent_encoding::percent_decode_str(path).collect();
    std::str::from_utf8(&bytes)
        .map(|_| ())
        .map_err(|_| PathError::InvalidUtf8)
}

/// Decodes `%XX` of unreserved characters, keeps other escapes (with upper-case hex), refuses
/// malformed escapes and the forbidden characters.
fn decode_unreserved(raw: &str) -> Result<String, PathError> {
    let bytes = raw.as_bytes();
    let mut out = String::with_capacity(raw.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = raw.get(i + 1..i + 3).ok_or(PathError::BadEncoding)?;
                let value = u8::from_str_radix(hex, 16).map_err(|_| PathError::BadEncoding)?;
                if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(PathError::BadEncoding);
                }
                match value {
                    b'/' | b'\\' | 0 => return Err(PathError::Forbidden),
                    // `%252e`, `%252f`: an upstream that decodes twice reads a dot or a
                    // separator the normalizer never saw.
                    b'%' if double_encoded_separator(raw.get(i + 3..i + 5)) => {
                        return Err(PathError::Forbidden);
                    }
                    b if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') => {
                        out.push(char::from(b))
                    }
                    b => write!(out, "%{b:02X}").expect("writing to a String cannot fail"),
                }
                i += 3;
            }
            b'\\' | 0 => return Err(PathError::Forbidden),
            _ => {
                // Copy the run up to the next escape unchanged (it may be multi-byte UTF-8).
                let end = raw[i..]
                    .find(['%', '\\', '\0'])
                    .map_or(raw.len(), |offset| i + offset);
                out.push_str(&raw[i..end]);
                i = end;
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_paths_are_taken_as_they_are_and_others_are_not() {
        for normal in [
            "/",
            "/a",
            "/a/",
            "/v1/file.json",
            "/.well-known/x",
            "/a/...",
            "/a..b/",
        ] {
            assert!(is_normal(normal), "{normal}");
        }
        for not in [
            "", "a", "//", "/a//b", "/.", "/..", "/a/./b", "/a/../", "/%41", "/a;b", "/A b",
        ] {
            assert!(!is_normal(not), "{not}");
        }
    }

    proptest::proptest! {
        /// The shortcut changes nothing: a path it takes is what the full rules make of it.
        #[test]
        fn the_shortcut_agrees_with_the_rules(raw in "/[a-z./~_%;-]{0,12}") {
            if is_normal(&raw) {
                let mut slow = raw.clone();
                slow.insert(0, '/');
                // `//` + path is never normal, so this runs the full rules on the same path.
                proptest::prop_assert_eq!(normalize(&slow).ok(), Some(raw.clone()));
            }
        }
    }

    #[test]
    fn dot_segments_and_duplicate_slashes_are_resolved() {
        assert_eq!(normalize("/public/../private").unwrap(), "/private");
        assert_eq!(normalize("/a/./b//c").unwrap(), "/a/b/c");
        assert_eq!(normalize("//private").unwrap(), "/private");
        assert_eq!(normalize("/../../etc/passwd").unwrap(), "/etc/passwd");
        assert_eq!(normalize("/a/b/..").unwrap(), "/a/");
        assert_eq!(normalize("/").unwrap(), "/");
        assert_eq!(normalize("/a/").unwrap(), "/a/");
    }

    #[test]
    fn encoded_dots_and_unreserved_characters_are_decoded() {
        assert_eq!(normalize("/public/%2e%2e/private").unwrap(), "/private");
        assert_eq!(normalize("/public/%2E%2E/private").unwrap(), "/private");
        assert_eq!(normalize("/public/.%2e/private").unwrap(), "/private");
        assert_eq!(normalize("/priv%61te").unwrap(), "/private");
    }

    #[test]
    fn other_escapes_are_kept_in_upper_case() {
        assert_eq!(normalize("/a%20b/%c3%a9").unwrap(), "/a%20b/%C3%A9");
    }

    #[test]
    fn encoded_separators_backslashes_and_nul_are_refused() {
        for path in [
            "/public%2f..%2fprivate",
            "/public%2F..",
            "/a%5c..",
            "/a\\..\\b",
            "/a%00b",
        ] {
            assert_eq!(normalize(path), Err(PathError::Forbidden), "{path}");
        }
    }

    #[test]
    fn double_encoded_dots_and_separators_are_refused() {
        for path in [
            "/a/%252e%252e/b",
            "/a%252fb",
            "/a%255Cb",
            "/a%253Bx",
            "/a%2525",
        ] {
            assert_eq!(normalize(path), Err(PathError::Forbidden), "{path}");
        }
        assert_eq!(normalize("/100%25").unwrap(), "/100%25");
        assert_eq!(normalize("/100%25off").unwrap(), "/100%25off");
        assert_eq!(normalize("/a%2541").unwrap(), "/a%2541");
    }

    #[test]
    fn semicolon_dot_segments_are_refused() {
        assert_eq!(normalize("/public/..;/private"), Err(PathError::Forbidden));
        assert_eq!(
            normalize("/public/.;x=1/private"),
            Err(PathError::Forbidden)
        );
        assert_eq!(normalize("/a;v=1/b").unwrap(), "/a;v=1/b");
    }

    #[test]
    fn malformed_escapes_are_refused() {
        for path in ["/a%", "/a%2", "/a%zz", "/a%+1"] {
            assert_eq!(normalize(path), Err(PathError::BadEncoding), "{path}");
        }
        assert_eq!(normalize("relative"), Err(PathError::NotAbsolute));
    }

    #[test]
    fn escapes_of_invalid_or_overlong_utf8_are_refused() {
        for path in [
            "/public/%c0%ae%c0%ae/private",
            "/public/%e0%80%ae/x",
            "/a%c0%afb",
            "/%ff%fe",
            "/a%80",
            "/a%ed%a0%80",
            "/a%f4%90%80%80",
            "/a%c3",
        ] {
            assert_eq!(normalize(path), Err(PathError::InvalidUtf8), "{path}");
        }
        assert_eq!(normalize("/caf%C3%A9").unwrap(), "/caf%C3%A9");
    }

    #[test]
    fn utf8_passes_through() {
        assert_eq!(normalize("/caf\u{e9}/x").unwrap(), "/caf\u{e9}/x");
    }
}
