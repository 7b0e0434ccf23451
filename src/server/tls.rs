//! rustls for the client listener: certificate and key from PEM files, h2 and http/1.1 by ALPN,
//! and a certificate that a config reload can replace while the listener runs.
//!
//! PEM is read with `rustls-pki-types`' own parser (`PemObject`), not the archived
//! `rustls-pemfile` crate (RUSTSEC-2025-0134).

use std::path::Path;
use std::sync::Arc;

use arc_swap::ArcSwap;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio_rustls::TlsAcceptor;

/// The listener's certificate: read by every handshake, replaced whole by `replace`.
/// Connections already established keep the certificate they were made with.
#[derive(Debug)]
pub struct ServerCert {
    current: ArcSwap<CertifiedKey>,
}

impl ServerCert {
    /// Reads the certificate and key; fails as `load_certified_key` does.
    pub fn load(cert_file: &Path, key_file: &Path) -> Result<Self, String> {
        Ok(Self {
            current: ArcSwap::new(load_certified_key(cert_file, key_file)?),
        })
    }

    /// New handshakes use `key` from now on.
    pub fn replace(&self, key: Arc<CertifiedKey>) {
        self.current.store(key);
    }
}

impl ResolvesServerCert for ServerCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }
}

/// Reads a certificate chain and its private key from PEM files. Fails, naming the file, when
/// a file cannot be read, holds no certificate or key, or the key does not match the
/// certificate (`config check` and config reload call this too).
pub fn load_certified_key(cert_file: &Path, key_file: &Path) -> Result<Arc<CertifiedKey>, String> {
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
    let certified = CertifiedKey::from_der(certs, key, &provider())
        .map_err(|err| format!("certificate and key do not fit: {err}"))?;
    Ok(Arc::new(certified))
}

fn provider() -> CryptoProvider {
    rustls::crypto::ring::default_provider()
}

/// A rustls acceptor offering h2 and http/1.1 with the certificate `cert` holds.
pub fn tls_acceptor(cert: Arc<ServerCert>) -> Result<TlsAcceptor, String> {
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(provider()))
        .with_safe_default_protocol_versions()
        .map_err(|err| err.to_string())?
        .with_no_client_auth()
        .with_cert_resolver(cert);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}
