//! The public trust anchors: the system certificate store, or the bundled Mozilla roots when
//! the system store yields none.
//!
//! Does not add `outbound.ca_file`; `Outbound::new` does.

use std::sync::{Arc, OnceLock};

use rustls::RootCertStore;
use rustls::pki_types::TrustAnchor;
use serde::Serialize;

/// Where the public roots came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RootsOrigin {
    /// The system store, with this many usable certificates.
    System(usize),
    /// The system store had none; the bundled `webpki-roots` are used.
    Bundled,
}

/// The system store's trust anchors, read at the first call of the process.
pub(super) fn system() -> (Arc<[TrustAnchor<'static>]>, RootsOrigin) {
    static SYSTEM: OnceLock<(Arc<[TrustAnchor<'static>]>, RootsOrigin)> = OnceLock::new();
    let (roots, origin) = SYSTEM.get_or_init(|| {
        let (roots, origin) = load();
        (roots.roots.into(), origin)
    });
    (roots.clone(), *origin)
}

/// Reads the system store. Unreadable or unparsable entries are skipped (logged at debug);
/// when nothing usable remains, the bundled roots stand in, with a warning.
fn load() -> (RootCertStore, RootsOrigin) {
    let found = rustls_native_certs::load_native_certs();
    for err in &found.errors {
        tracing::debug!(error = %err, "system certificate store: entry skipped");
    }
    let mut roots = RootCertStore::empty();
    let (added, ignored) = roots.add_parsable_certificates(found.certs);
    if ignored > 0 {
        tracing::debug!(
            ignored,
            "system certificate store: unusable certificates skipped"
        );
    }
    if added > 0 {
        return (roots, RootsOrigin::System(added));
    }
    tracing::warn!(
        "the system certificate store has no usable certificate (install ca-certificates, or \
         set SSL_CERT_FILE); outbound https uses the bundled Mozilla roots and outbound.ca_file"
    );
    let bundled = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    (bundled, RootsOrigin::Bundled)
}
