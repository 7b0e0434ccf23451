//! rustls for the client listener: certificate and key from PEM files, h2 and http/1.1 by ALPN.

use std::path::Path;
use std::sync::Arc;

use tokio_rustls::TlsAcceptor;

/// Builds a rustls acceptor offering h2 and http/1.1 from PEM files.
pub fn tls_acceptor(cert_file: &Path, key_file: &Path) -> Result<TlsAcceptor, String> {
    let cert_pem = std::fs::read(cert_file)
        .map_err(|err| format!("cannot read {}: {err}", cert_file.display()))?;
    let key_pem = std::fs::read(key_file)
        .map_err(|err| format!("cannot read {}: {err}", key_file.display()))?;
    let certs = rustls_pemfile::certs(&mut cert_pem.as_slice())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| format!("{}: {err}", cert_file.display()))?;
    if certs.is_empty() {
        return Err(format!("{}: no certificate found", cert_file.display()));
    }
    let key = rustls_pemfile::private_key(&mut key_pem.as_slice())
        .map_err(|err| format!("{}: {err}", key_file.display()))?
        .ok_or_else(|| format!("{}: no private key found", key_file.display()))?;
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
