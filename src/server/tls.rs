//! rustls for the client listener: certificate and key from PEM files, h2 and http/1.1 by ALPN.
//!
//! PEM is read with `rustls-pki-types`' own parser (`PemObject`), not the archived
//! `rustls-pemfile` crate (RUSTSEC-2025-0134).

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

/// Builds a rustls acceptor offering h2 and http/1.1 from PEM files. Fails, naming the file,
/// when a file cannot be read, holds no certificate or key, or the key does not match the
/// certificate (`config check` calls this too).
pub fn tls_acceptor(cert_file: &Path, key_file: &Path) -> Result<TlsAcceptor, String> {
    let cert_pem = std::fs::read(cert_file)
        .map_err(|err| format!("cannot read {}: {err}", cert_file.display()))?;
    let key_pem = std::fs::read(key_file)
        .map_err(|err| format!("cannot read {}: {err}", key_file.display()))?;
    let certs = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| format!("{}: {err}", cert_file.display()))?;
    if certs.is_empty() {
        return Err(format!("{}: no certificate found", cert_file.display()));
    }
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|err| match err {
        pem::Error::NoItemsFound => format!("{}: no private key found", key_file.display()),
        other => format!("{}: {other}", key_file.display()),
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|err| err.to_string())?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|err| format!("certificate and key do not fit: {err}"))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}
