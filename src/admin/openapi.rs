//! `GET /openapi.json`: the OpenAPI 3.1 description of the client API and the Admin API,
//! kept in `openapi.yaml` (embedded in the binary) and served as JSON.
//!
//! The document is the one checked in, with two values filled in when served: `{appId}` (in
//! client and Admin API paths) admits only the configured `app.id`, and `info.version` is this
//! build's version. It describes the gateway's own endpoints; the proxied API is the upstream's,
//! and the console's pages are not an API.
//!
//! # Security
//! Served without the admin key, like `/healthz` and `/metrics`: it holds no secret (the app id
//! is in every client URL) and the admin listener is private by design.

use std::sync::OnceLock;

use http::{Response, StatusCode};
use serde_json::{Value, json};

use crate::state::State;
use crate::web::{self, Body};

/// The checked-in description (YAML, for comments and readable diffs).
const DOCUMENT: &str = include_str!("openapi.yaml");

/// The parsed description, before the per-deployment values are filled in.
fn document() -> &'static Value {
    static PARSED: OnceLock<Value> = OnceLock::new();
    PARSED.get_or_init(|| {
        serde_norway::from_str(DOCUMENT)
            .expect("openapi.yaml parses (unit test `document_parses_and_names_its_parameters`)")
    })
}

/// The description for a gateway serving `app_id`.
pub fn describe(app_id: &str) -> Value {
    let mut document = document().clone();
    if let Some(schema) = document.pointer_mut("/components/parameters/appId/schema") {
        schema["enum"] = json!([app_id]);
    }
    if let Some(version) = document.pointer_mut("/info/version") {
        *version = json!(env!("CARGO_PKG_VERSION"));
    }
    document
}

/// `GET /openapi.json`.
pub fn serve(state: &State) -> Response<Body> {
    web::json(StatusCode::OK, &describe(&state.config.app.id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn document_parses_and_names_its_parameters() {
        let document = describe("myapp-abcde");
        assert_eq!(document["openapi"], "3.1.0");
        assert_eq!(
            document["components"]["parameters"]["appId"]["schema"]["enum"],
            json!(["myapp-abcde"])
        );
        assert_eq!(document["info"]["version"], env!("CARGO_PKG_VERSION"));
        // Every `$ref` points at something that exists.
        let mut refs = Vec::new();
        collect_refs(&document, &mut refs);
        assert!(!refs.is_empty());
        for reference in refs {
            let pointer = reference
                .strip_prefix('#')
                .unwrap_or_else(|| panic!("{reference} is not local"));
            assert!(
                document.pointer(pointer).is_some(),
                "{reference} points at nothing"
            );
        }
    }

    fn collect_refs(value: &Value, refs: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                for (key, value) in map {
                    match (key.as_str(), value) {
                        ("$ref", Value::String(target)) => refs.push(target.clone()),
                        _ => collect_refs(value, refs),
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|item| collect_refs(item, refs)),
            _ => {}
        }
    }
}
