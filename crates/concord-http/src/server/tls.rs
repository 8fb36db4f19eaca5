//! HTTPS for the serve loop: the certificate chain and private key a service presents, read
//! from PEM files into a rustls configuration with the `ring` provider (never aws-lc-rs, a
//! slow C build), offering HTTP/1.1 only — the protocol the serve loop speaks.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::ServerConfig;

/// Why a certificate or key cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read the TLS {what} {}: {reason}", path.display())]
    Read {
        what: &'static str,
        path: PathBuf,
        reason: String,
    },
    #[error("the TLS certificate file {} holds no PEM certificate", .0.display())]
    NoCertificate(PathBuf),
    #[error("the TLS certificate and key do not make a server configuration: {0}")]
    Config(#[from] rustls::Error),
}

/// A certificate chain and its private key, ready to serve; cheap to clone.
#[derive(Clone)]
pub struct ServerTls {
    config: Arc<ServerConfig>,
}

impl std::fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServerTls")
    }
}

impl ServerTls {
    /// Reads `cert` (the PEM certificate chain, leaf first) and `key` (a PEM private key:
    /// PKCS #8, PKCS #1 or SEC1).
    pub fn from_pem_files(cert: &Path, key: &Path) -> Result<Self, TlsError> {
        let read = |what, path: &Path, error: &dyn std::fmt::Display| TlsError::Read {
            what,
            path: path.to_owned(),
            reason: error.to_string(),
        };
        let chain = CertificateDer::pem_file_iter(cert)
            .map_err(|e| read("certificate", cert, &e))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| read("certificate", cert, &e))?;
        if chain.is_empty() {
            return Err(TlsError::NoCertificate(cert.to_owned()));
        }
        let key = PrivateKeyDer::from_pem_file(key).map_err(|e| read("key", key, &e))?;
        Self::new(chain, key)
    }

    /// From a certificate chain and key already in memory (e.g. made by a test).
    pub fn new(
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    ) -> Result<Self, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(chain, key)?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(ServerTls {
            config: Arc::new(config),
        })
    }

    pub(crate) fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        tokio_rustls::TlsAcceptor::from(Arc::clone(&self.config))
    }
}
