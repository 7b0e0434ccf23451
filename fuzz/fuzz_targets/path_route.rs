//! Path normalization and route matching on any path hyper accepts: canonical output, and no
//! route less strict than the one a lenient upstream would serve the forwarded path from.
//! The oracle is shared with tests/properties.rs.
#![no_main]

#[path = "../../tests/properties/oracle/mod.rs"]
mod oracle;

libfuzzer_sys::fuzz_target!(|data: &[u8]| oracle::check_path_bytes(data));
