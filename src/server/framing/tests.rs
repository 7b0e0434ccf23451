//! Unit tests of strict framing: the head scanner (against a byte-at-a-time oracle) and `check`.

use super::*;
use http::HeaderValue;

fn scanned(chunks: &[&[u8]]) -> bool {
    let scan = Arc::new(HeadScan::default());
    let mut io = ScannedIo::new((), scan.clone());
    for chunk in chunks {
        io.observe(chunk);
    }
    scan.saw_bare_lf()
}

#[test]
fn bare_lf_in_a_head_is_seen_even_across_reads() {
    assert!(scanned(&[b"GET / HTTP/1.1\nHost: a\n\n"]));
    assert!(scanned(&[b"GET / HTTP/1.1\r\nHost: a\r", b"\nX: y\n\r\n"]));
    assert!(!scanned(&[b"GET / HTTP/1.1\r\nHost: a\r", b"\n\r\n"]));
    assert!(!scanned(&[b"\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"]));
}

#[test]
fn length_beside_chunked_is_seen_in_any_case_and_order() {
    let both = |head: &[u8]| {
        let scan = Arc::new(HeadScan::default());
        ScannedIo::new((), scan.clone()).observe(head);
        scan.saw_length_and_chunked()
    };
    assert!(both(
        b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nCONTENT-LENGTH: 5\r\n\r\n"
    ));
    assert!(!both(b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\n"));
    assert!(!both(
        b"POST / HTTP/1.1\r\nX-Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
    ));
}

#[test]
fn body_bytes_after_the_head_are_not_scanned() {
    assert!(!scanned(&[
        b"POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\na\nb"
    ]));
    assert!(!scanned(&[
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\n\x04"
    ]));
}

/// The scanner byte at a time, as it was written first: the oracle of the one that skips
/// ahead to the next CR or LF.
#[derive(Default)]
struct Reference {
    in_head_done: bool,
    line: Vec<u8>,
    seen_line: bool,
    prev_cr: bool,
    framing_seen: [u8; 2],
    bare_lf: bool,
    length_and_chunked: bool,
    length_twice: bool,
}

impl Reference {
    fn observe(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            if self.in_head_done {
                return;
            }
            match byte {
                b'\n' => {
                    self.bare_lf |= !self.prev_cr;
                    self.prev_cr = false;
                    if self.line.is_empty() && self.seen_line {
                        self.in_head_done = true;
                        return;
                    }
                    self.seen_line |= !self.line.is_empty();
                    let line = self.line.to_ascii_lowercase();
                    for (seen, name) in self.framing_seen.iter_mut().zip(FRAMING_HEADERS) {
                        *seen += u8::from(line.starts_with(name));
                    }
                    let [lengths, encodings] = self.framing_seen;
                    self.length_and_chunked |= lengths > 0 && encodings > 0;
                    self.length_twice |= lengths > 1;
                    self.line.clear();
                }
                b'\r' => self.prev_cr = true,
                _ => {
                    self.prev_cr = false;
                    self.line.push(byte);
                }
            }
        }
    }
}

proptest::proptest! {
    #[test]
    fn skipping_ahead_finds_what_a_byte_at_a_time_scan_finds(
        pieces in proptest::collection::vec(
            proptest::sample::select(vec![
                &b"\r"[..], b"\n", b"\r\n", b"Content-Length: 3", b"transfer-encoding: x",
                b"CONTENT-LENGTH:", b"x", b"Host: a", b"Authorization: Bearer eyJhbGciOi",
                b" ", b"content-lengt", b"h:",
            ]),
            0..40,
        ),
        cuts in proptest::collection::vec(0usize..200, 0..6),
    ) {
        let bytes: Vec<u8> = pieces.concat();
        let scan = Arc::new(HeadScan::default());
        let mut io = ScannedIo::new((), scan.clone());
        let mut reference = Reference::default();
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(bytes.len())).collect();
        cuts.push(0);
        cuts.push(bytes.len());
        cuts.sort_unstable();
        for window in cuts.windows(2) {
            io.observe(&bytes[window[0]..window[1]]);
            reference.observe(&bytes[window[0]..window[1]]);
        }
        proptest::prop_assert_eq!(scan.saw_bare_lf(), reference.bare_lf);
        proptest::prop_assert_eq!(scan.saw_length_and_chunked(), reference.length_and_chunked);
        proptest::prop_assert_eq!(scan.saw_length_twice(), reference.length_twice);
        proptest::prop_assert_eq!(!io.in_head, reference.in_head_done);
    }
}

#[test]
fn ambiguous_body_framing_is_refused() {
    let scan = HeadScan::default();
    let check_te = |values: &[&'static str], with_length: bool| {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(TRANSFER_ENCODING, HeaderValue::from_static(value));
        }
        if with_length {
            headers.insert(CONTENT_LENGTH, HeaderValue::from_static("3"));
        }
        check(Version::HTTP_11, &headers, &scan)
    };
    assert_eq!(check_te(&["chunked"], false), Ok(()));
    assert_eq!(check_te(&["Chunked "], false), Ok(()));
    for values in [
        &["chunked", "chunked"][..],
        &["chunked, chunked"],
        &["gzip, chunked"],
        &["identity"],
        &["chunked;x=1"],
    ] {
        assert_eq!(
            check_te(values, false),
            Err(FramingError::TransferEncoding),
            "{values:?}"
        );
    }
    assert_eq!(
        check_te(&["chunked"], true),
        Err(FramingError::LengthAndChunked)
    );
    let mut twice = HeaderMap::new();
    twice.append(CONTENT_LENGTH, HeaderValue::from_static("3"));
    twice.append(CONTENT_LENGTH, HeaderValue::from_static("3"));
    assert_eq!(
        check(Version::HTTP_11, &twice, &scan),
        Err(FramingError::ContentLengthTwice)
    );
}
