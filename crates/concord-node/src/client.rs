//! The HTTP client links reach their peers with: plain HTTP and HTTPS (rustls with the `ring`
//! provider), trusting the system's root certificates plus, optionally, a private CA — the
//! usual way to run services on a network of one's own.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// Longest a peer may take to answer one request before the round counts as failed.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// How long an unused connection to a peer is kept for the next request: below the serve
/// loop's default keep-alive bound (its header timeout, 10 s), so a link does not pick a
/// connection the peer is just closing.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(5);

/// Why the client cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot read the CA file {}: {source}", path.display())]
    ReadCa {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the CA file {} holds no PEM certificate", .0.display())]
    NoCertificate(PathBuf),
    #[error("the CA file {}: {source}", path.display())]
    BadCa {
        path: PathBuf,
        source: reqwest::Error,
    },
    #[error("cannot build the HTTP client: {0}")]
    Build(#[source] reqwest::Error),
}

/// Why an answer's body could not be read whole.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// It is longer than the reader takes (said by `Content-Length`, or found while reading).
    #[error("the answer is larger than the {} KiB read of it", max >> 10)]
    TooLarge { max: usize },
    /// The connection failed or timed out while the body was coming.
    #[error(transparent)]
    Read(#[from] reqwest::Error),
}

/// Reads an answer's body, refusing it once it grows past `max` bytes: a peer (or a service
/// asked for its status) must not be able to fill the reader's memory with one answer.
pub async fn read_bounded(
    mut response: reqwest::Response,
    max: usize,
) -> Result<Vec<u8>, BodyError> {
    let expected = response.content_length().unwrap_or(0);
    if expected > max as u64 {
        return Err(BodyError::TooLarge { max });
    }
    // What the answer says it holds is reserved only up to 4 MiB (a getEvents page of ours at
    // most): a length it declares and does not send must not cost more.
    let mut body = Vec::with_capacity(expected.min(4 << 20) as usize);
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > max {
            return Err(BodyError::TooLarge { max });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A pooled client for links; `ca_file` (PEM, one or more certificates) is trusted in
/// addition to the system's roots. On a system without root certificates, https:// peers are
/// trusted only through `ca_file` (plain http:// works either way).
pub fn build(ca_file: Option<&Path>) -> Result<reqwest::Client, ClientError> {
    use_ring();
    let base = || {
        reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(Duration::from_secs(2))
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
    };
    let ca = match ca_file {
        Some(path) => read_ca(path)?,
        None => Vec::new(),
    };
    let with_system_roots = if ca.is_empty() {
        base()
    } else {
        base().tls_certs_merge(ca.clone())
    };
    match with_system_roots.build() {
        Ok(client) => Ok(client),
        Err(error) => {
            // rustls-platform-verifier refuses to start without any root certificate.
            tracing::warn!(%error, "no system root certificates: https:// peers are trusted only through a CA file");
            base()
                .tls_certs_only(ca)
                .build()
                .map_err(ClientError::Build)
        }
    }
}

fn read_ca(path: &Path) -> Result<Vec<reqwest::Certificate>, ClientError> {
    let pem = std::fs::read(path).map_err(|source| ClientError::ReadCa {
        path: path.to_owned(),
        source,
    })?;
    let certificates =
        reqwest::Certificate::from_pem_bundle(&pem).map_err(|source| ClientError::BadCa {
            path: path.to_owned(),
            source,
        })?;
    if certificates.is_empty() {
        return Err(ClientError::NoCertificate(path.to_owned()));
    }
    Ok(certificates)
}

/// reqwest's `rustls-no-provider` uses the process's default rustls provider: make it ring
/// unless the process chose one already.
fn use_ring() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Losing a race to another thread installing one is fine: one is installed either way.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}
