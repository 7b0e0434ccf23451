//! Path normalization: never a panic, output canonical (no dot segment, no `//`, no escape of
//! an unreserved character, no encoded separator or NUL, escapes that decode to UTF-8) and a
//! fixed point of `normalize`.

use proptest::prelude::*;
use sessiongate::proxy::path::normalize;

use crate::oracle;

/// Path pieces: words, dot segments in every spelling, parameters, escapes of valid UTF-8.
fn piece() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9._~-]{1,6}",
        prop::sample::select(vec![
            "/",
            "//",
            ".",
            "..",
            "%2e",
            "%2E",
            "%2e%2e",
            ".%2e",
            "%2E.",
            ";",
            ";x=1",
            "..;",
            "%3B",
            "%3b",
            "%20",
            "%25",
            "%252e",
            "%61",
            "%7E",
            "%7e",
            "%C3%A9",
            "%c3%a9",
            "%E2%82%AC",
            "%F0%9F%A6%80",
            "\u{e9}",
            "\u{131}",
            "%2f",
            "%5C",
            "%00",
            "\\",
        ])
        .prop_map(str::to_owned),
    ]
}

fn path_from_pieces() -> impl Strategy<Value = String> {
    prop::collection::vec(piece(), 0..10).prop_map(|pieces| format!("/{}", pieces.concat()))
}

/// A percent-escape of any byte, upper or lower case hex.
fn any_escape() -> impl Strategy<Value = String> {
    (any::<u8>(), any::<bool>()).prop_map(|(b, upper)| {
        if upper {
            format!("%{b:02X}")
        } else {
            format!("%{b:02x}")
        }
    })
}

proptest! {
    #![proptest_config(crate::cases(1024))]

    #[test]
    fn normalize_never_panics_on_any_string(raw in any::<String>()) {
        let _ = normalize(&raw);
        let _ = normalize(&format!("/{raw}"));
    }

    #[test]
    fn normalize_output_is_canonical_and_a_fixed_point(raw in path_from_pieces()) {
        oracle::check_normalize(&raw);
    }

    /// Issue 8: `%c0%ae`, `%e0%80%ae`, `%c0%af`, `%ff%fe`… were forwarded (upper-cased).
    #[test]
    fn escapes_that_decode_to_invalid_or_overlong_utf8_are_refused(
        before in "/[a-z]{0,4}/",
        escapes in prop::collection::vec(any_escape(), 1..4),
        after in "(/[a-z]{0,4})?",
    ) {
        oracle::check_normalize(&format!("{before}{}{after}", escapes.concat()));
    }
}

#[test]
fn known_overlong_and_invalid_utf8_escapes_are_refused() {
    for raw in [
        "/public/%c0%ae%c0%ae/private",
        "/public/%e0%80%ae%e0%80%ae/private",
        "/public/%c0%af",
        "/public/%ff%fe",
        "/a/%ed%a0%80",
        "/a/%f8%88%80%80%80",
        "/a/%c3",
    ] {
        assert!(normalize(raw).is_err(), "{raw:?} -> {:?}", normalize(raw));
    }
}
