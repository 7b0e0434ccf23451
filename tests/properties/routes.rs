//! The bypass oracle for route matching: paths built from the tricks lenient upstreams fall
//! for (matrix parameters, case, trailing dots and spaces, overlong UTF-8, Unicode case
//! folding) must never reach a route less strict than the one the upstream serves them from.
//! One property per trick, so a failure names its class; one that mixes them all.

use proptest::prelude::*;

use crate::oracle::{self, Lenience};

/// Which tricks a generated path may use.
#[derive(Debug, Clone, Copy)]
struct Tricks {
    params: bool,
    case: bool,
    trailing: bool,
    overlong: bool,
    unicode: bool,
}

const NO_TRICKS: Tricks = Tricks {
    params: false,
    case: false,
    trailing: false,
    overlong: false,
    unicode: false,
};

const WORDS: [&str; 6] = ["admin", "api", "public", "maybe", "secret", "x"];

fn suffixes(tricks: Tricks) -> Vec<&'static str> {
    let mut suffixes = vec![""];
    if tricks.params {
        suffixes.extend([
            ";",
            ";jsessionid=x",
            ";a=b;c=d",
            "%3B",
            "%3bx",
            "%3B%3D1",
            ";%2e",
        ]);
    }
    if tricks.trailing {
        suffixes.extend([
            ".", "..", "...", "%2e", "%2E", "%20", ".%20", "%20.", "%20%20",
        ]);
    }
    suffixes
}

/// Whole segments that move between prefixes.
fn movers(tricks: Tricks) -> Vec<&'static str> {
    let mut movers = vec!["..", "%2e%2e", ".%2E", "."];
    if tricks.params {
        // Segments that are nothing but parameters vanish upstream (`/;/admin` is `/admin`).
        movers.extend([";", ";x=1", "%3B", ";.;", ";..;"]);
    }
    if tricks.overlong {
        movers.extend([
            "%c0%ae%c0%ae",
            "%C0%AE.",
            "%e0%80%ae%e0%80%ae",
            "%c0%ae%c0%ae%c0%afadmin",
            "%f0%80%80%ae%f0%80%80%ae",
        ]);
    }
    if tricks.trailing {
        movers.extend([".. ", "..%20", ".%20", "%2e%2e%20"]);
    }
    movers
}

/// One segment: a word, each letter maybe re-cased or percent-encoded, maybe a look-alike
/// letter, then a suffix; or a segment that moves up the tree.
fn segment(tricks: Tricks) -> impl Strategy<Value = String> {
    let word = (
        prop::sample::select(WORDS.to_vec()),
        prop::collection::vec(0u8..8, 8),
        prop::sample::select(suffixes(tricks)),
    )
        .prop_map(move |(word, dice, suffix)| {
            let mut out = String::new();
            for (c, die) in word.chars().zip(dice.iter().cycle()) {
                match die {
                    0 | 1 if tricks.case => out.push(c.to_ascii_uppercase()),
                    2 => out.push_str(&format!("%{:02x}", u32::from(c))),
                    3 if tricks.case => {
                        out.push_str(&format!("%{:02X}", u32::from(c.to_ascii_uppercase())))
                    }
                    4 if tricks.unicode && c == 'i' => out.push('\u{131}'),
                    5 if tricks.unicode && c == 'i' => out.push_str("%C4%B1"),
                    4 | 5 if tricks.unicode && c == 's' => out.push('\u{17F}'),
                    _ => out.push(c),
                }
            }
            out.push_str(suffix);
            out
        });
    prop_oneof![
        4 => word,
        1 => prop::sample::select(movers(tricks)).prop_map(str::to_owned),
    ]
}

fn path(tricks: Tricks) -> impl Strategy<Value = String> {
    (
        prop::collection::vec(
            (
                segment(tricks),
                prop::sample::select(vec!["/", "/", "/", "//", "/./"]),
            ),
            1..5,
        ),
        any::<bool>(),
    )
        .prop_map(|(segments, trailing_slash)| {
            let mut path = String::new();
            for (segment, separator) in segments {
                path.push_str(separator);
                path.push_str(&segment);
            }
            if trailing_slash {
                path.push('/');
            }
            path
        })
}

fn check(raw: &str, lenience: Lenience) {
    // Only what hyper hands over: the same filter the fuzz target uses.
    if let Ok(parsed) = http::uri::PathAndQuery::try_from(raw) {
        oracle::check_route(parsed.path(), lenience);
    }
}

proptest! {
    #![proptest_config(crate::cases(512))]

    #[test]
    fn plain_paths_and_dot_segments_cannot_bypass_a_protected_prefix(raw in path(NO_TRICKS)) {
        check(&raw, Lenience::NONE);
    }

    /// Issue 8: `/admin;jsessionid=x/secret`, `/admin%3Bx/secret`; also segments that are
    /// nothing but parameters (`/;/admin`), which such upstreams drop.
    #[test]
    fn matrix_parameters_cannot_bypass_a_protected_prefix(
        raw in path(Tricks { params: true, ..NO_TRICKS })
    ) {
        check(&raw, Lenience { matrix_params: true, ..Lenience::NONE });
    }

    /// Issue 8: `/ADMIN/secret`.
    #[test]
    fn case_variants_cannot_bypass_a_protected_prefix(
        raw in path(Tricks { case: true, ..NO_TRICKS })
    ) {
        check(&raw, Lenience { ascii_case: true, ..Lenience::NONE });
    }

    /// Issue 8: `/admin./secret`, `/admin%20/secret`; also dot segments that only become
    /// dot segments once trimmed (`/..%20/admin`, `/.%20/admin`).
    #[test]
    fn trailing_dots_and_spaces_cannot_bypass_a_protected_prefix(
        raw in path(Tricks { trailing: true, ..NO_TRICKS })
    ) {
        check(&raw, Lenience { trailing_dots_spaces: true, ..Lenience::NONE });
    }

    /// Issue 8: `/public/%c0%ae%c0%ae/admin` was routed under `/public`.
    #[test]
    fn overlong_utf8_cannot_bypass_a_protected_prefix(
        raw in path(Tricks { overlong: true, ..NO_TRICKS })
    ) {
        check(&raw, Lenience { overlong_utf8: true, ..Lenience::NONE });
    }

    /// `/adm\u{131}n/secret` (dotless i) is `/admin/secret` to Java's `equalsIgnoreCase`.
    /// Not named in issue 8 (found by this property).
    #[test]
    fn unicode_case_folding_cannot_bypass_a_protected_prefix(
        raw in path(Tricks { unicode: true, ..NO_TRICKS })
    ) {
        check(&raw, Lenience { unicode_case: true, ascii_case: true, ..Lenience::NONE });
    }

    /// Every trick above but Unicode folding, mixed.
    #[test]
    fn no_mix_of_common_tricks_bypasses_a_protected_prefix(
        raw in path(Tricks { params: true, case: true, trailing: true, overlong: true, unicode: false })
    ) {
        check(&raw, Lenience::COMMON);
    }
}

/// The cases issue 8 names, each against the table `/` none + `/admin` required.
#[test]
fn issue_8_bypass_paths_are_refused_or_require_a_token() {
    let failures: Vec<String> = [
        "/admin;jsessionid=x/secret",
        "/admin%3Bx/secret",
        "/ADMIN/secret",
        "/admin%20/secret",
        "/admin./secret",
        "/public/%c0%ae%c0%ae/admin",
    ]
    .into_iter()
    .filter_map(|raw| {
        std::panic::catch_unwind(|| check(raw, Lenience::COMMON))
            .err()
            .map(|_| raw.to_owned())
    })
    .collect();
    assert!(failures.is_empty(), "bypasses: {failures:?}");
}

/// The model itself: how each habit reads a path (a wrong model would make the oracle vacuous).
#[test]
fn the_lenient_upstream_model_reads_paths_as_those_upstreams_do() {
    let all = Lenience {
        unicode_case: true,
        ..Lenience::COMMON
    };
    for (path, expected) in [
        ("/admin;jsessionid=x/secret", "/admin/secret"),
        ("/admin%3Bx/secret", "/admin/secret"),
        ("/ADMIN/Secret", "/admin/secret"),
        ("/admin%20/secret", "/admin/secret"),
        ("/admin.%20./secret", "/admin/secret"),
        ("/public/..%20/admin", "/admin"),
        ("/public/%C0%AE%C0%AE/admin", "/admin"),
        ("/public/%E0%80%AE%E0%80%AE%C0%AFadmin", "/admin"),
        ("/adm%C4%B1n/x", "/admin/x"),
        ("/a\\..\\admin", "/admin"),
        ("/admin%2Fsecret", "/admin/secret"),
    ] {
        assert_eq!(oracle::lenient_view(path, all), expected, "{path}");
    }
    assert_eq!(
        oracle::lenient_view("/ADMIN;x/a./%C0%AE", Lenience::NONE),
        "/ADMIN;x/a./\u{FFFD}\u{FFFD}"
    );
}
