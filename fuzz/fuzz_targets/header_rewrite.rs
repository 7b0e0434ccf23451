//! The proxy's header rewrite (hop-by-hop strip, identity strip and set) on arbitrary header
//! lines; the first byte says whether a caller was authenticated. The oracle is shared with
//! tests/properties.rs.
#![no_main]

#[path = "../../tests/properties/oracle/mod.rs"]
mod oracle;

libfuzzer_sys::fuzz_target!(|data: &[u8]| oracle::check_header_bytes(data));
