//! What the served OpenAPI document describes: operations (method, path template, documented
//! statuses, credential) and a way to fill path templates with concrete values.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::common::APP_ID;

/// The group id put into Admin API paths (any value is accepted there).
pub const GROUP_ID: &str = "test-group";

/// An id of the documented shape (`ObjectId`) that names nothing.
pub const UNKNOWN_ID: &str = "0123456789abcdef01234567";

/// The HTTP methods the checks try on every described path.
pub const METHODS: [&str; 5] = ["GET", "POST", "PUT", "DELETE", "PATCH"];

/// What an operation needs to be called.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential {
    None,
    AccessToken,
    RefreshToken,
    AdminKey,
    AdminRefreshToken,
}

#[derive(Debug, Clone)]
pub struct Operation {
    pub method: String,
    pub template: String,
    pub statuses: BTreeSet<u16>,
    pub credential: Credential,
}

impl std::fmt::Display for Operation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.method, self.template)
    }
}

/// Every operation of the document.
pub fn operations(document: &Value) -> Vec<Operation> {
    let global = document.get("security");
    let paths = document["paths"].as_object().expect("paths is an object");
    let mut operations = Vec::new();
    for (template, item) in paths {
        let item = item.as_object().expect("path item is an object");
        for (method, operation) in item {
            if !METHODS.contains(&method.to_ascii_uppercase().as_str()) {
                continue;
            }
            let statuses = operation["responses"]
                .as_object()
                .expect("responses")
                .keys()
                .map(|code| code.parse().expect("responses are keyed by status"))
                .collect();
            let security = operation.get("security").or(global);
            operations.push(Operation {
                method: method.to_ascii_uppercase(),
                template: template.clone(),
                statuses,
                credential: credential(security),
            });
        }
    }
    operations
}

/// The credential an operation needs: its first security requirement (an optional one, `{}`,
/// needs none).
fn credential(security: Option<&Value>) -> Credential {
    let first = security
        .and_then(Value::as_array)
        .and_then(|alternatives| alternatives.first())
        .and_then(Value::as_object);
    match first
        .and_then(|requirement| requirement.keys().next())
        .map(String::as_str)
    {
        None => Credential::None,
        Some("accessToken" | "sessionHeader") => Credential::AccessToken,
        Some("refreshToken" | "refreshSessionHeader") => Credential::RefreshToken,
        Some("adminKey") => Credential::AdminKey,
        Some("adminRefreshToken") => Credential::AdminRefreshToken,
        Some(other) => panic!("unknown security scheme {other}"),
    }
}

/// The methods described for each path template.
pub fn methods_by_template(operations: &[Operation]) -> BTreeMap<String, BTreeSet<String>> {
    let mut methods: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for operation in operations {
        methods
            .entry(operation.template.clone())
            .or_default()
            .insert(operation.method.clone());
    }
    methods
}

/// The template with its parameters filled in: the configured app id, a group id, and an id
/// that names nothing.
pub fn instantiate(template: &str) -> String {
    template
        .split('/')
        .map(|segment| match segment {
            "{appId}" => APP_ID,
            "{groupId}" => GROUP_ID,
            s if s.starts_with('{') => UNKNOWN_ID,
            s => s,
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// The described template a concrete path falls under: the one whose literal segments all
/// match and that has the most of them (OpenAPI prefers concrete paths over templated ones).
pub fn template_of<'a>(templates: impl Iterator<Item = &'a String>, path: &str) -> Option<&'a str> {
    let segments: Vec<&str> = path.split('/').collect();
    templates
        .filter_map(|template| {
            let parts: Vec<&str> = template.split('/').collect();
            if parts.len() != segments.len() {
                return None;
            }
            let mut literals = 0;
            for (part, segment) in parts.iter().zip(&segments) {
                if part.starts_with('{') {
                    if segment.is_empty() {
                        return None;
                    }
                } else if part == segment {
                    literals += 1;
                } else {
                    return None;
                }
            }
            Some((literals, template.as_str()))
        })
        .max_by_key(|(literals, _)| *literals)
        .map(|(_, template)| template)
}

/// Paths near the described ones, to ask the route tables about: every prefix of each
/// described path, each with one more segment, and each with one segment replaced, the
/// segments taken from the document's own vocabulary (plus a word it never uses).
pub fn nearby_paths(templates: &BTreeSet<&String>) -> BTreeSet<String> {
    let mut vocabulary: BTreeSet<String> = templates
        .iter()
        .flat_map(|template| template.split('/'))
        .filter(|segment| !segment.is_empty() && !segment.starts_with('{'))
        .map(str::to_owned)
        .collect();
    vocabulary.extend([UNKNOWN_ID, APP_ID, GROUP_ID, "other"].map(str::to_owned));
    let mut paths = BTreeSet::new();
    for template in templates {
        let segments: Vec<String> = instantiate(template)
            .split('/')
            .skip(1)
            .map(str::to_owned)
            .collect();
        let join = |parts: &[String]| format!("/{}", parts.join("/"));
        for end in 0..=segments.len() {
            paths.insert(join(&segments[..end]));
        }
        for word in &vocabulary {
            let mut longer = segments.clone();
            longer.push(word.clone());
            paths.insert(join(&longer));
            for index in 0..segments.len() {
                let mut replaced = segments.clone();
                replaced[index] = word.clone();
                paths.insert(join(&replaced));
            }
        }
    }
    paths
}

/// `Allow`-style list (`"GET, DELETE"`) as a set.
pub fn method_set(allow: &str) -> BTreeSet<String> {
    allow
        .split(',')
        .map(|method| method.trim().to_owned())
        .filter(|method| !method.is_empty())
        .collect()
}
