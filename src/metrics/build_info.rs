//! `sessiongate_build_info{version,config_hash}`: kept here rather than by the recorder (which
//! cannot drop a series) and appended to the text at each render.

use std::sync::RwLock;

pub(super) const BUILD_INFO: &str = "sessiongate_build_info";

/// The `config_hash` label of `sessiongate_build_info` ([`set_build_info`]); `None` until set.
static CONFIG_HASH: RwLock<Option<String>> = RwLock::new(None);

/// Sets the `config_hash` label of `sessiongate_build_info` (`Config::fingerprint`): at start,
/// and again after each reload. One series only: the previous hash's series is gone at once.
///
/// `build_info` is added to the text by [`Metrics::render`](super::Metrics::render) rather than
/// kept by the recorder, which cannot drop a series; a reload would otherwise leave the old hash
/// behind. Several gateways in one process (tests) share it: the last one set wins.
pub fn set_build_info(config_hash: &str) {
    let mut current = CONFIG_HASH
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    *current = Some(config_hash.to_owned());
}

/// Appends the `sessiongate_build_info` family once a config hash is set. Both label values
/// are escaped, though the version is ours and the hash hex.
pub(super) fn render_build_info(text: &mut String) {
    use std::fmt::Write as _;
    let current = CONFIG_HASH
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let Some(hash) = current.as_deref() else {
        return;
    };
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    let _ = write!(
        text,
        "# HELP {BUILD_INFO} The running sessiongate: its version and the fingerprint of its \
         effective config (sha256 of `config check --format toml`, first 12 hex digits)\n\
         # TYPE {BUILD_INFO} gauge\n\
         {BUILD_INFO}{{version=\"{}\",config_hash=\"{}\"}} 1\n",
        label_value(env!("CARGO_PKG_VERSION")),
        label_value(hash),
    );
}

/// A label value escaped for the text format (`\\`, `\"`, newline).
fn label_value(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
