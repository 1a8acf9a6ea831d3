//! HTTPS: the certificate and key from the configuration, and the handshake.
//!
//! BITS runs over HTTPS as over HTTP (MC-BUP §2.1), and real clients are
//! usually pointed at `https://` URLs. rustls (with the ring provider) does the
//! TLS; each accepted connection is handshaken on its worker thread, bounded
//! by the header read timeout, before hyper sees it. ALPN offers `http/1.1`
//! only.

use std::path::Path;
use std::sync::Arc;

use tokio_rustls::rustls::{self, ServerConfig, pki_types};

use pki_types::pem::PemObject;
use pki_types::{CertificateDer, PrivateKeyDer};

/// Why the certificate or key could not be used.
#[derive(Debug, thiserror::Error)]
#[error("{what} {path}: {message}")]
pub struct TlsError {
    what: &'static str,
    path: String,
    message: String,
}

/// The server side of TLS for `certificate` and `key` (PEM files).
pub fn server_config(certificate: &Path, key: &Path) -> Result<Arc<ServerConfig>, TlsError> {
    let error = |what, path: &Path, message: String| TlsError {
        what,
        path: path.display().to_string(),
        message,
    };
    let chain = CertificateDer::pem_file_iter(certificate)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| error("tls_certificate", certificate, pem_message(&e)))?;
    if chain.is_empty() {
        return Err(error(
            "tls_certificate",
            certificate,
            "no CERTIFICATE block in the file".into(),
        ));
    }
    let key_der =
        PrivateKeyDer::from_pem_file(key).map_err(|e| error("tls_key", key, pem_message(&e)))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| error("tls_certificate", certificate, e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key_der)
        .map_err(|e| {
            error(
                "tls_key",
                key,
                format!("does not go with the certificate: {e}"),
            )
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A PEM error as a sentence: a missing file, or what was missing in it.
fn pem_message(e: &pki_types::pem::Error) -> String {
    match e {
        pki_types::pem::Error::Io(io) => format!("cannot read: {io}"),
        pki_types::pem::Error::NoItemsFound => "no PEM block of the expected kind".into(),
        other => format!("not valid PEM: {other:?}"),
    }
}
