//! Oracles shared by the property tests (`tests/properties.rs`) and the cargo-fuzz targets
//! (`fuzz/fuzz_targets/`): each runs one input through the gateway's pure request-path code
//! and panics when a security property does not hold.
//!
//! The fuzzers feed raw bytes, the property tests feed structured inputs, and both replay the
//! minimized inputs kept in `fuzz/regressions/`. Nothing here starts a server or touches a store.
// Each fuzz target uses one part of this module; the test binary uses all of it.
#![allow(dead_code, unused_imports)]

mod credential;
mod headers;
mod paths;
mod routes;

use http::{HeaderMap, HeaderName, HeaderValue};

pub use credential::*;
pub use headers::*;
pub use paths::*;
pub use routes::*;

/// A header map from `name: value` lines; lines that are not a valid header are skipped.
pub fn header_map(data: &[u8]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for line in data.split(|&b| b == b'\n') {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let (name, value) = (&line[..colon], &line[colon + 1..]);
        let value = value.strip_prefix(b" ").unwrap_or(value);
        if let (Ok(name), Ok(value)) =
            (HeaderName::from_bytes(name), HeaderValue::from_bytes(value))
        {
            headers.append(name, value);
        }
    }
    headers
}
