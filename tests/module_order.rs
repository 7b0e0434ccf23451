//! The dependency order of the top-level modules stated in `src/lib.rs` holds: a module's
//! non-test code names (`crate::x`) only modules listed before it, so there is no cycle.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The modules in the order `src/lib.rs` lists them (`//! - \`name\`: …`).
fn stated_order(lib: &str) -> Vec<String> {
    lib.lines()
        .filter_map(|line| line.strip_prefix("//! - `"))
        .filter_map(|rest| rest.split_once('`'))
        .map(|(name, _)| name.to_owned())
        .collect()
}

/// Every `.rs` file of module `name`: `src/name.rs` and everything under `src/name/`, except
/// test files (`tests.rs`, `*_tests.rs`, anything under a `tests/` directory).
fn files_of(src: &Path, name: &str) -> Vec<PathBuf> {
    let mut files = vec![src.join(format!("{name}.rs"))];
    let mut dirs = vec![src.join(name)];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let file_name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if path.is_dir() {
                if file_name != "tests" {
                    dirs.push(path);
                }
            } else if file_name.ends_with(".rs")
                && file_name != "tests.rs"
                && !file_name.ends_with("_tests.rs")
            {
                files.push(path);
            }
        }
    }
    files.retain(|f| f.is_file());
    files
}

/// The source without line comments and without inline `#[cfg(test)] mod … { … }` blocks.
fn non_test_code(text: &str) -> String {
    let without_comments: String = text
        .lines()
        .map(|line| match line.find("//") {
            Some(at) => &line[..at],
            None => line,
        })
        .collect::<Vec<_>>()
        .join("\n");
    let mut out = String::new();
    let mut rest = without_comments.as_str();
    while let Some(at) = rest.find("#[cfg(test)]") {
        out.push_str(&rest[..at]);
        let after = &rest[at..];
        let Some(open) = after.find('{') else {
            rest = "";
            break;
        };
        // `#[cfg(test)] mod tests;` (a file, skipped above) or an item without a body.
        if after[..open].contains(';') {
            rest = &after[after.find(';').map_or(after.len(), |s| s + 1)..];
            continue;
        }
        let mut depth = 0usize;
        let mut end = after.len();
        for (i, c) in after[open..].char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = open + i + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

/// The crate's top-level modules that `code` names through `crate::`.
fn named_modules(code: &str, modules: &BTreeSet<String>) -> BTreeSet<String> {
    let mut named = BTreeSet::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        let after = &rest[at + "crate::".len()..];
        if let Some(group) = after.strip_prefix('{') {
            let inner = &group[..group.find('}').unwrap_or(group.len())];
            for part in inner.split(',') {
                let head: String = part
                    .trim()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if modules.contains(&head) {
                    named.insert(head);
                }
            }
        } else {
            let head: String = after
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if modules.contains(&head) {
                named.insert(head);
            }
        }
        rest = after;
    }
    named
}

#[test]
fn every_module_uses_only_modules_listed_before_it() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let src = root.join("src");
    let lib = std::fs::read_to_string(src.join("lib.rs")).unwrap();
    let order = stated_order(&lib);
    let declared: BTreeSet<String> = lib
        .lines()
        .filter_map(|line| line.strip_prefix("pub mod "))
        .map(|rest| rest.trim_end_matches(';').to_owned())
        .collect();
    let listed: BTreeSet<String> = order.iter().cloned().collect();
    assert_eq!(
        listed, declared,
        "src/lib.rs must list every declared module once in its order"
    );
    assert_eq!(order.len(), listed.len(), "a module is listed twice");

    let mut wrong = Vec::new();
    for (position, module) in order.iter().enumerate() {
        let allowed: BTreeSet<&String> = order[..position].iter().collect();
        for file in files_of(&src, module) {
            let code = non_test_code(&std::fs::read_to_string(&file).unwrap());
            for used in named_modules(&code, &listed) {
                if &used != module && !allowed.contains(&used) {
                    wrong.push(format!(
                        "{} uses `{used}`, which is listed after `{module}`",
                        file.strip_prefix(root).unwrap_or(&file).display()
                    ));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn the_scan_finds_a_backward_use_and_ignores_tests() {
    let modules: BTreeSet<String> = ["a", "b"].iter().map(|s| (*s).to_owned()).collect();
    let code = "use crate::{a::X, b};\nfn f() { crate::b::g() } // crate::zzz\n\
                #[cfg(test)]\nmod tests { use crate::a::Y; fn h() { if true { } } }\n";
    let kept = non_test_code(code);
    assert!(!kept.contains("Y"), "{kept}");
    assert_eq!(
        named_modules(&kept, &modules),
        modules,
        "both `a` and `b` are named outside tests"
    );
    let only_test = "#[cfg(test)]\nmod tests { use crate::a::Y; }\n";
    assert!(named_modules(&non_test_code(only_test), &modules).is_empty());
}
