//! HTTPS: a whole upload over TLS, a plain request to the TLS port, and the
//! errors for unusable certificate and key files.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bitspec_server::example_app;
use bitspec_server::{Config, NotificationType};
use common::{Conn, PROTOCOL, TestServer, config_in, data};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::rustls::{self, pki_types};

/// A self-signed certificate for 127.0.0.1 and localhost, written as PEM files.
struct Certificate {
    dir: tempfile::TempDir,
    der: pki_types::CertificateDer<'static>,
}

impl Certificate {
    fn new() -> Self {
        let names = vec!["127.0.0.1".to_string(), "localhost".to_string()];
        let certified = rcgen::generate_simple_self_signed(names).expect("certificate");
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("cert.pem"), certified.cert.pem()).expect("write");
        std::fs::write(
            dir.path().join("key.pem"),
            certified.signing_key.serialize_pem(),
        )
        .expect("write");
        Self {
            der: certified.cert.der().clone(),
            dir,
        }
    }

    fn cert(&self) -> PathBuf {
        self.dir.path().join("cert.pem")
    }

    fn key(&self) -> PathBuf {
        self.dir.path().join("key.pem")
    }

    /// A TLS connection to `server` that trusts this certificate only.
    async fn connect(&self, server: &TestServer) -> Conn {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.der.clone()).expect("root");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let tcp = TcpStream::connect(server.addr()).await.expect("connect");
        let name = pki_types::ServerName::try_from("127.0.0.1").expect("name");
        let tls = connector.connect(name, tcp).await.expect("handshake");
        Conn::over(tls)
    }
}

async fn https_server(certificate: &Certificate) -> TestServer {
    TestServer::with(|config| {
        config.tls_certificate = Some(certificate.cert());
        config.tls_key = Some(certificate.key());
    })
    .await
}

#[tokio::test]
async fn a_whole_upload_goes_over_https() {
    let certificate = Certificate::new();
    let server = https_server(&certificate).await;
    assert!(server.server.base_url().starts_with("https://127.0.0.1:"));
    let mut conn = certificate.connect(&server).await;
    conn.bits("/over-tls.bin", "Ping", &[], b"")
        .await
        .assert_ack(200);
    let created = conn
        .bits(
            "/over-tls.bin",
            "Create-Session",
            &[("BITS-Supported-Protocols", PROTOCOL)],
            b"",
        )
        .await;
    created.assert_ack(200);
    let id = created
        .header("BITS-Session-Id")
        .expect("session id")
        .to_string();
    let body = b"bytes that crossed TLS";
    let range = format!("bytes 0-{}/{}", body.len() - 1, body.len());
    conn.bits(
        "/over-tls.bin",
        "Fragment",
        &[("BITS-Session-Id", &id), ("Content-Range", &range)],
        body,
    )
    .await
    .assert_received(200, body.len() as u64);
    conn.bits(
        "/over-tls.bin",
        "Close-Session",
        &[("BITS-Session-Id", &id)],
        b"",
    )
    .await
    .assert_ack(200);
    assert_eq!(
        std::fs::read(server.path("over-tls.bin")).expect("published"),
        body
    );
    let got = conn.request("GET", "/over-tls.bin", &[], b"").await;
    assert_eq!((got.status, got.body.as_slice()), (200, &body[..]));
}

#[tokio::test]
async fn upload_reply_over_https_gives_https_reply_urls() {
    let certificate = Certificate::new();
    let app = example_app::spawn("127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("app");
    let server = TestServer::with(|c| {
        c.tls_certificate = Some(certificate.cert());
        c.tls_key = Some(certificate.key());
        c.notification_type = NotificationType::ByValue;
        c.notification_url = Some(app.base_url());
    })
    .await;
    let mut conn = certificate.connect(&server).await;
    let bytes = data(5_000, 3);
    let id = conn.create("/r.bin").await;
    let reply = conn
        .fragment("/r.bin", &id, &bytes, 0, bytes.len() - 1)
        .await;
    reply.assert_received(200, bytes.len() as u64);
    let url = reply
        .header("BITS-Reply-URL")
        .expect("reply url")
        .to_string();
    // The test client sends `Host: 127.0.0.1`; the scheme is the point.
    let host = "https://127.0.0.1/";
    assert!(url.starts_with(host), "{url}");
    let path = &url[host.len() - 1..];
    let got = conn.request("GET", path, &[], b"").await;
    assert_eq!(
        (got.status, String::from_utf8(got.body).expect("text")),
        (200, example_app::summary(&bytes))
    );
}

#[tokio::test]
async fn a_relative_notification_url_is_refused_when_serving_https() {
    let certificate = Certificate::new();
    let message = spawn_error(|c| {
        c.tls_certificate = Some(certificate.cert());
        c.tls_key = Some(certificate.key());
        c.notification_type = NotificationType::ByReference;
        c.notification_url = Some("/app/".into());
    })
    .await;
    assert!(message.contains("notification_url"), "{message}");
}

#[tokio::test]
async fn plain_http_to_the_tls_port_is_closed_not_answered() {
    let certificate = Certificate::new();
    let server = https_server(&certificate).await;
    let mut tcp = TcpStream::connect(server.addr()).await.expect("connect");
    tcp.write_all(
        b"BITS_POST /x HTTP/1.1\r\nHost: a\r\nBITS-Packet-Type: Ping\r\nContent-Length: 0\r\n\r\n",
    )
    .await
    .expect("write");
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), tcp.read_to_end(&mut answer)).await;
    let read = read.expect("closed within 10 s, not left hanging");
    // Closed, maybe after a TLS alert: never an HTTP response.
    assert!(read.is_err() || !answer.starts_with(b"HTTP/"), "{answer:?}");
    // And the server still serves TLS clients.
    let mut conn = certificate.connect(&server).await;
    conn.bits("/x", "Ping", &[], b"").await.assert_ack(200);
}

#[tokio::test]
async fn a_silent_client_does_not_hold_the_handshake_forever() {
    let certificate = Certificate::new();
    let server = TestServer::with(|config| {
        config.tls_certificate = Some(certificate.cert());
        config.tls_key = Some(certificate.key());
        config.header_read_timeout = 1;
    })
    .await;
    let mut tcp = TcpStream::connect(server.addr()).await.expect("connect");
    let mut byte = [0u8; 1];
    let read = tokio::time::timeout(Duration::from_secs(10), tcp.read(&mut byte)).await;
    assert!(
        matches!(read, Ok(Ok(0)) | Ok(Err(_))),
        "closed after the 1 s handshake limit: {read:?}"
    );
}

async fn spawn_error(edit: impl FnOnce(&mut Config)) -> String {
    let root = tempfile::tempdir().expect("tempdir");
    let mut config = config_in(root.path());
    edit(&mut config);
    match bitspec_server::spawn(config).await {
        Ok(_) => panic!("started with an unusable TLS configuration"),
        Err(e) => e.to_string(),
    }
}

#[tokio::test]
async fn unusable_certificate_or_key_files_are_named() {
    let certificate = Certificate::new();
    let missing = Path::new("/nonexistent/key.pem");
    let message = spawn_error(|c| {
        c.tls_certificate = Some(certificate.cert());
        c.tls_key = Some(missing.to_path_buf());
    })
    .await;
    assert!(
        message.contains("tls_key") && message.contains("/nonexistent/key.pem"),
        "{message}"
    );
    // The key file given as the certificate: no CERTIFICATE block.
    let message = spawn_error(|c| {
        c.tls_certificate = Some(certificate.key());
        c.tls_key = Some(certificate.key());
    })
    .await;
    assert!(message.contains("tls_certificate"), "{message}");
    // A key that belongs to another certificate.
    let other = Certificate::new();
    let message = spawn_error(|c| {
        c.tls_certificate = Some(certificate.cert());
        c.tls_key = Some(other.key());
    })
    .await;
    assert!(message.contains("does not go with"), "{message}");
    // One without the other.
    let message = spawn_error(|c| c.tls_certificate = Some(certificate.cert())).await;
    assert!(message.contains("tls_key"), "{message}");
}
