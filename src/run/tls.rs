//! TLS for `https://` targets: rustls over bitspec's own TCP connections, so raw
//! steps, connection control and the fault proxy work the same over HTTPS.
//!
//! The target's certificate is checked against the system's trust store plus any
//! `--ca-cert` files; `--insecure` checks nothing (a self-signed test server). The
//! trust store is read at the first HTTPS connection, not before: most runs are
//! plain HTTP.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use tokio_rustls::rustls::client::{WebPkiServerVerifier, verify_server_name};
use tokio_rustls::rustls::crypto::{
    CryptoProvider, verify_tls12_signature, verify_tls13_signature,
};
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use tokio_rustls::rustls::server::ParsedCertificate;
use tokio_rustls::rustls::{
    self, CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore,
};

/// How the target's certificate is checked.
#[derive(Debug, Clone, Default)]
pub struct TlsOptions {
    /// PEM files of extra certificate authorities to trust.
    pub ca_certs: Vec<PathBuf>,
    /// Accept any certificate.
    pub insecure: bool,
}

/// The client side of TLS, shared by every connection of a run (cheap to clone).
#[derive(Debug, Clone, Default)]
pub struct TlsClient {
    options: TlsOptions,
    /// The CA files' certificates, read when the client is made.
    extra_roots: Arc<Vec<CertificateDer<'static>>>,
    config: Arc<OnceLock<Result<Arc<ClientConfig>, String>>>,
}

impl TlsClient {
    /// Reads the `--ca-cert` files now, so a bad one stops the run before it starts.
    pub fn new(options: TlsOptions) -> Result<TlsClient, String> {
        let mut extra_roots = Vec::new();
        for path in &options.ca_certs {
            let certs: Vec<_> = CertificateDer::pem_file_iter(path)
                .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                .map_err(|e| format!("--ca-cert {}: {}", path.display(), pem_message(&e)))?;
            if certs.is_empty() {
                return Err(format!(
                    "--ca-cert {}: no CERTIFICATE block in the file",
                    path.display()
                ));
            }
            extra_roots.extend(certs);
        }
        Ok(TlsClient {
            options,
            extra_roots: Arc::new(extra_roots),
            config: Arc::default(),
        })
    }

    /// Builds the TLS settings now (reading the system's trust store), so a machine
    /// with no certificate to trust is reported before the run, not as its target.
    pub fn ready(&self) -> Result<(), String> {
        self.config().map(drop)
    }

    /// Whether certificates go unchecked.
    pub fn is_insecure(&self) -> bool {
        self.options.insecure
    }

    /// Runs the handshake over `tcp` for `server_name` within `timeout`.
    pub async fn connect(
        &self,
        tcp: TcpStream,
        server_name: &str,
        timeout: Duration,
    ) -> Result<TlsStream<TcpStream>, String> {
        let name = ServerName::try_from(server_name.to_owned())
            .map_err(|e| format!("{server_name:?} is not a valid TLS server name: {e}"))?;
        let connector = tokio_rustls::TlsConnector::from(self.config()?);
        match tokio::time::timeout(timeout, connector.connect(name, tcp)).await {
            Ok(Ok(stream)) => Ok(stream),
            Ok(Err(e)) => Err(self.explain(server_name, &e)),
            Err(_) => Err(format!(
                "TLS handshake with {server_name}: no answer within {:.1}s",
                timeout.as_secs_f64()
            )),
        }
    }

    fn config(&self) -> Result<Arc<ClientConfig>, String> {
        let made = self.config.get_or_init(|| {
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
                .with_safe_default_protocol_versions()
                .map_err(|e| format!("TLS: {e}"))?;
            let trust = if self.options.insecure {
                None
            } else {
                let (roots, system) = self.roots();
                let webpki = WebPkiServerVerifier::builder_with_provider(
                    Arc::new(roots),
                    Arc::clone(&provider),
                )
                .build()
                .map_err(|e| {
                    format!(
                        "TLS: no certificate to trust ({e}; the system's trust store: {system}): give --ca-cert FILE, or --insecure"
                    )
                })?;
                Some(Trust {
                    webpki,
                    pinned: Arc::clone(&self.extra_roots),
                })
            };
            let mut config = builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(Verifier { provider, trust }))
                .with_no_client_auth();
            config.alpn_protocols = vec![b"http/1.1".to_vec()];
            Ok(Arc::new(config))
        });
        made.clone()
    }

    /// The system's trust store and the `--ca-cert` certificates, and what was
    /// found in the system's (unreadable certificates are skipped: the handshake
    /// error then says what to do).
    fn roots(&self) -> (RootCertStore, String) {
        let mut roots = RootCertStore::empty();
        let system = rustls_native_certs::load_native_certs();
        let (found, _) = roots.add_parsable_certificates(system.certs);
        roots.add_parsable_certificates(self.extra_roots.iter().cloned());
        let summary = match system.errors.first() {
            Some(e) => format!("{found} certificates, {e}"),
            None => format!("{found} certificates"),
        };
        (roots, summary)
    }

    /// A handshake error with the way out when it is about trust.
    fn explain(&self, server_name: &str, error: &std::io::Error) -> String {
        let text = error.to_string();
        let hint = if text.contains("certificate") && !self.options.insecure {
            " (trust its CA with --ca-cert FILE, or skip the check with --insecure)"
        } else {
            ""
        };
        format!("TLS handshake with {server_name} failed: {text}{hint}")
    }
}

/// A PEM error as a sentence.
fn pem_message(e: &rustls::pki_types::pem::Error) -> String {
    match e {
        rustls::pki_types::pem::Error::Io(io) => format!("cannot read: {io}"),
        other => format!("not valid PEM: {other:?}"),
    }
}

/// How the server's certificate is checked; handshake signatures are always checked
/// with the provider's algorithms (as webpki's verifier does), so even `--insecure`
/// speaks real TLS.
#[derive(Debug)]
struct Verifier {
    provider: Arc<CryptoProvider>,
    /// `None` with `--insecure`: any certificate for any name.
    trust: Option<Trust>,
}

/// The usual checks, and one more way in: a server certificate that is exactly one
/// of the `--ca-cert` certificates. A self-signed certificate made with `openssl req
/// -x509` is marked as a CA, which webpki refuses as a server's own certificate
/// (`CaUsedAsEndEntity`); the user who hands it over trusts it as it is, as curl does.
/// The server's name is still checked; its dates only when webpki got to them.
#[derive(Debug)]
struct Trust {
    webpki: Arc<WebPkiServerVerifier>,
    pinned: Arc<Vec<CertificateDer<'static>>>,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(trust) = &self.trust else {
            return Ok(ServerCertVerified::assertion());
        };
        let checked = trust.webpki.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        );
        let pinned = || {
            trust
                .pinned
                .iter()
                .any(|p| p.as_ref() == end_entity.as_ref())
        };
        match checked {
            // Trust is what the pin settles: an unknown issuer, or a CA used as a
            // server's certificate. A wrong name or date webpki reported still
            // counts, and the name is checked here too (webpki stops at the CA
            // error before it looks at the name).
            Err(rustls::Error::InvalidCertificate(e)) if !still_refused(&e) && pinned() => {
                let parsed = ParsedCertificate::try_from(end_entity)?;
                verify_server_name(&parsed, server_name)?;
                Ok(ServerCertVerified::assertion())
            }
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.provider.signature_verification_algorithms;
        verify_tls12_signature(message, cert, dss, algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.provider.signature_verification_algorithms;
        verify_tls13_signature(message, cert, dss, algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Certificate errors that a pinned certificate does not excuse (curl too keeps
/// checking the dates and names of a certificate it was told to trust).
fn still_refused(error: &CertificateError) -> bool {
    matches!(
        error,
        CertificateError::Expired
            | CertificateError::ExpiredContext { .. }
            | CertificateError::NotValidYet
            | CertificateError::NotValidYetContext { .. }
            | CertificateError::NotValidForName
            | CertificateError::NotValidForNameContext { .. }
            | CertificateError::Revoked
            | CertificateError::BadSignature
            | CertificateError::BadEncoding
    )
}
