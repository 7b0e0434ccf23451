//! Credential extraction and token verification on arbitrary input: first byte 0 verifies the
//! rest as a token, 1 mutates one byte of a valid token, anything else parses header lines.
//! The oracle is shared with tests/properties.rs.
#![no_main]

#[path = "../../tests/properties/oracle/mod.rs"]
mod oracle;

libfuzzer_sys::fuzz_target!(|data: &[u8]| oracle::check_credential_bytes(data));
