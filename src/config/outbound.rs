//! `[outbound] ca_file` and the upstream's client certificate (`upstream.client_cert_file`,
//! `upstream.client_key_file`): the PEM files are read, parsed and checked here, at load, so
//! that building the outbound TLS clients from a loaded `Config` (at start or on a reload)
//! cannot fail and needs no file.
//!
//! Does not build TLS clients or read the system certificate store; `crate::outbound` does.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::RootCertStore;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use serde::Serialize;

use super::ConfigError;

/// `[outbound]`: trust for every outbound HTTPS connection (upstream, webhooks, JWKS URL).
#[derive(Debug, Clone, Serialize)]
pub struct OutboundConfig {
    /// A PEM bundle of extra certificate authorities, trusted besides the system store.
    pub ca_file: Option<PathBuf>,
    /// The certificates of `ca_file`, as trust anchors (checked at load).
    #[serde(skip)]
    pub extra_roots: RootCertStore,
}

impl Default for OutboundConfig {
    /// No extra CA: the system store alone.
    fn default() -> Self {
        Self {
            ca_file: None,
            extra_roots: RootCertStore::empty(),
        }
    }
}

/// The certificate and key the gateway presents to the upstream (mutual TLS).
#[derive(Clone, Serialize)]
pub struct ClientIdentity {
    #[serde(rename = "client_cert_file")]
    pub cert_file: PathBuf,
    #[serde(rename = "client_key_file")]
    pub key_file: PathBuf,
    /// The chain and the parsed key, known to match each other.
    #[serde(skip)]
    pub certified: Arc<CertifiedKey>,
}

impl fmt::Debug for ClientIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientIdentity")
            .field("cert_file", &self.cert_file)
            .field("key_file", &self.key_file)
            .finish_non_exhaustive()
    }
}

/// `[outbound]`: reads `ca_file` when set. Every certificate in it must parse as a trust
/// anchor; a file without any is refused (an empty bundle is a mistake, not "no extra CA").
pub(super) fn validate(ca_file: Option<String>) -> Result<OutboundConfig, ConfigError> {
    let key = "outbound.ca_file";
    let Some(ca_file) = ca_file.filter(|path| !path.trim().is_empty()) else {
        return Ok(OutboundConfig::default());
    };
    let path = PathBuf::from(ca_file);
    let certs = read_certificates(&path).map_err(|reason| ConfigError::new(key, reason))?;
    let mut extra_roots = RootCertStore::empty();
    for (index, cert) in certs.into_iter().enumerate() {
        extra_roots.add(cert).map_err(|err| {
            ConfigError::new(
                key,
                format!(
                    "{}: certificate {} is not usable as a trust anchor: {err}",
                    path.display(),
                    index + 1
                ),
            )
        })?;
    }
    Ok(OutboundConfig {
        ca_file: Some(path),
        extra_roots,
    })
}

/// `upstream.client_cert_file` and `upstream.client_key_file`: both or neither. The chain
/// must parse, the key must be one rustls can sign with, and it must belong to the first
/// certificate.
pub(super) fn client_identity(
    cert_file: Option<String>,
    key_file: Option<String>,
) -> Result<Option<ClientIdentity>, ConfigError> {
    const CERT_KEY: &str = "upstream.client_cert_file";
    const KEY_KEY: &str = "upstream.client_key_file";
    let given = |value: Option<String>| value.filter(|path| !path.trim().is_empty());
    let (cert_file, key_file) = match (given(cert_file), given(key_file)) {
        (None, None) => return Ok(None),
        (Some(_), None) => {
            return Err(ConfigError::new(
                KEY_KEY,
                format!("is required with {CERT_KEY} (the certificate's private key, PEM)"),
            ));
        }
        (None, Some(_)) => {
            return Err(ConfigError::new(
                CERT_KEY,
                format!("is required with {KEY_KEY} (the key's certificate chain, PEM)"),
            ));
        }
        (Some(cert), Some(key)) => (PathBuf::from(cert), PathBuf::from(key)),
    };
    let chain =
        read_certificates(&cert_file).map_err(|reason| ConfigError::new(CERT_KEY, reason))?;
    let key = read_private_key(&key_file).map_err(|reason| ConfigError::new(KEY_KEY, reason))?;
    let provider = rustls::crypto::ring::default_provider();
    let certified = CertifiedKey::from_der(chain, key, &provider).map_err(|err| {
        let reason = match err {
            rustls::Error::InconsistentKeys(_) => format!(
                "{} does not belong to the certificate in {}",
                key_file.display(),
                cert_file.display()
            ),
            other => format!("{}: not a usable private key: {other}", key_file.display()),
        };
        ConfigError::new(KEY_KEY, reason)
    })?;
    Ok(Some(ClientIdentity {
        cert_file,
        key_file,
        certified: Arc::new(certified),
    }))
}

/// Every certificate of a PEM file; at least one.
fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let text =
        std::fs::read(path).map_err(|err| format!("cannot read {}: {err}", path.display()))?;
    let certs = CertificateDer::pem_slice_iter(&text)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| format!("{}: {err}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{}: no PEM certificate found", path.display()));
    }
    Ok(certs)
}

/// The first private key of a PEM file (PKCS#8, PKCS#1 or SEC1).
fn read_private_key(path: &Path) -> Result<PrivateKeyDer<'static>, String> {
    let text =
        std::fs::read(path).map_err(|err| format!("cannot read {}: {err}", path.display()))?;
    PrivateKeyDer::from_pem_slice(&text).map_err(|err| match err {
        pem::Error::NoItemsFound => format!("{}: no PEM private key found", path.display()),
        other => format!("{}: {other}", path.display()),
    })
}
