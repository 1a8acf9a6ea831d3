//! https targets: the whole suite against the reference server serving HTTPS with
//! a self-signed certificate, trusted with `--ca-cert` or unchecked with
//! `--insecure`; an untrusted certificate stops the run once, with the way out;
//! a bad CA file is named; the bench speaks HTTPS too, and the environment can
//! give target and CA (as for `cargo test`).

mod support;

use std::path::{Path, PathBuf};
use std::process::Output;
use support::{bitspec, bitspec_env, text};

/// A self-signed certificate for 127.0.0.1, as PEM files in a temporary folder.
struct Certificate {
    dir: tempfile::TempDir,
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
        Self { dir }
    }

    /// A self-signed certificate marked as a CA, as `openssl req -x509` makes them.
    fn ca_flagged() -> Self {
        let mut params =
            rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()]).expect("params");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = params.self_signed(&key).expect("certificate");
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("cert.pem"), cert.pem()).expect("write");
        std::fs::write(dir.path().join("key.pem"), key.serialize_pem()).expect("write");
        Self { dir }
    }

    fn cert(&self) -> PathBuf {
        self.dir.path().join("cert.pem")
    }

    fn key(&self) -> PathBuf {
        self.dir.path().join("key.pem")
    }
}

/// The reference server, default configuration, serving HTTPS.
async fn https_server(certificate: &Certificate, root: &Path) -> bitspec_server::RunningServer {
    let server = bitspec_server::spawn(bitspec_server::Config {
        listen: "127.0.0.1:0".parse().expect("address"),
        root: root.to_path_buf(),
        workers: 2,
        tls_certificate: Some(certificate.cert()),
        tls_key: Some(certificate.key()),
        ..bitspec_server::Config::default()
    })
    .await
    .expect("the HTTPS server starts");
    assert!(server.base_url().starts_with("https://"));
    server
}

/// `bitspec` with `args`, run off the async runtime that serves the target.
async fn run(args: &[&str], reports: &Path) -> Output {
    run_env(args, &[], reports).await
}

/// [`run`] with environment variables.
async fn run_env(args: &[&str], env: &[(&str, &str)], reports: &Path) -> Output {
    let owned = |s: &&str| (*s).to_owned();
    let args: Vec<String> = args.iter().map(owned).collect();
    let env: Vec<(String, String)> = env.iter().map(|(k, v)| (owned(k), owned(v))).collect();
    let reports = reports.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        bitspec_env(&args, &env, &reports)
    })
    .await
    .expect("bitspec ran")
}

/// `bitspec run --packet ping` against `target`, with `extra` options.
async fn ping(target: &str, extra: &[&str], reports: &Path) -> Output {
    let args = [&["run", "--target", target, "--packet", "ping"], extra].concat();
    run(&args, reports).await
}

fn results(reports: &Path) -> serde_json::Value {
    serde_json::from_str(
        &std::fs::read_to_string(reports.join("results.json")).expect("results.json"),
    )
    .expect("JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_suite_passes_over_https_with_the_ca_trusted() {
    let certificate = Certificate::new();
    let root = tempfile::tempdir().expect("tempdir");
    let server = https_server(&certificate, root.path()).await;
    let reports = tempfile::tempdir().expect("tempdir");
    let cert = certificate.cert().display().to_string();
    let target = server.base_url();
    let args = [
        "run",
        "--target",
        &target,
        "--profile",
        "reference",
        "--ca-cert",
        &cert,
    ];
    let out = run(&args, reports.path()).await;
    let all = text(&out);
    assert_eq!(out.status.code(), Some(0), "{all}");
    let json = results(reports.path());
    assert_eq!(json["totals"]["failed"], 0, "{all}");
    assert_eq!(json["totals"]["errors"], 0, "{all}");
    // Resume scenarios go through the fault proxy: TLS must cross it end to end.
    assert!(
        json["totals"]["passed"].as_u64().unwrap_or(0) >= 80,
        "too few scenarios ran over HTTPS:\n{all}"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_certificate_stops_the_run_once_and_insecure_skips_the_check() {
    let certificate = Certificate::new();
    let root = tempfile::tempdir().expect("tempdir");
    let server = https_server(&certificate, root.path()).await;
    let reports = tempfile::tempdir().expect("tempdir");
    let target = server.base_url();
    let out = run(
        &["run", "--target", &target, "--id", "ping-ack"],
        reports.path(),
    )
    .await;
    let all = text(&out);
    assert_eq!(out.status.code(), Some(3), "{all}");
    assert!(all.contains("certificate"), "{all}");
    assert!(
        all.contains("--ca-cert") && all.contains("--insecure"),
        "{all}"
    );

    let out = ping(&target, &["--insecure"], reports.path()).await;
    let all = text(&out);
    assert_eq!(out.status.code(), Some(0), "{all}");
    assert!(all.contains("not checked"), "the run warns: {all}");
    assert!(results(reports.path())["totals"]["passed"].as_u64() > Some(0));
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_self_signed_ca_certificate_given_with_ca_cert_is_trusted_as_the_server_s_own() {
    // webpki alone refuses it (CaUsedAsEndEntity): the user handed it over, so it is pinned.
    let certificate = Certificate::ca_flagged();
    let root = tempfile::tempdir().expect("tempdir");
    let server = https_server(&certificate, root.path()).await;
    let reports = tempfile::tempdir().expect("tempdir");
    let cert = certificate.cert().display().to_string();
    let target = server.base_url();
    let out = ping(&target, &["--ca-cert", &cert], reports.path()).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // Another certificate pinned: still refused.
    let other = Certificate::ca_flagged();
    let other = other.cert().display().to_string();
    let out = ping(&target, &["--ca-cert", &other], reports.path()).await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    // The pin settles trust, not the name: the certificate names 127.0.0.1 only.
    let port = server.local_addr().port();
    let by_name = format!("https://localhost:{port}/");
    let out = ping(&by_name, &["--ca-cert", &cert], reports.path()).await;
    let all = text(&out);
    assert_eq!(out.status.code(), Some(3), "{all}");
    assert!(all.contains("not valid for name"), "{all}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_certificate_to_trust_is_a_setup_error_not_an_unreachable_target() {
    let certificate = Certificate::new();
    let root = tempfile::tempdir().expect("tempdir");
    let server = https_server(&certificate, root.path()).await;
    let reports = tempfile::tempdir().expect("tempdir");
    // rustls-native-certs reads these instead of the system's store.
    let env = [
        ("SSL_CERT_FILE", "/nonexistent/bitspec-ca.pem"),
        ("SSL_CERT_DIR", "/nonexistent/bitspec-certs"),
    ];
    let target = server.base_url();
    let args = ["run", "--target", &target, "--packet", "ping"];
    let out = run_env(&args, &env, reports.path()).await;
    let all = text(&out);
    assert_eq!(out.status.code(), Some(2), "{all}");
    assert!(all.contains("no certificate to trust"), "{all}");
    assert!(all.contains("--ca-cert"), "{all}");
    server.shutdown().await;
}

/// An 8 MiB fragment whose Ack the fault proxy drops, over TLS, then the next
/// fragment: it is accepted only if every byte of the first reached the server.
/// (On loopback this passes even without the proxy's flush after each write,
/// which matters when the target reads slowly; it checks the large-body path.)
const BIG_DROPPED_ACK: &str = r#"id: big-dropped-ack
title: an 8 MiB fragment whose Ack is dropped, then the next one
spec: fragment.md
level: must
file: { size: 8389632, seed: 7 }
steps:
  - packet: Create-Session
    headers: { BITS-Supported-Protocols: "${protocol}" }
    expect: { status: 200 }
    capture: { BITS-Session-Id: session }
  - packet: Fragment
    headers: { BITS-Session-Id: "${session}" }
    range: 0-8388607
    fault: { drop_response: true }
    expect: { response: none }
  - packet: Fragment
    connection: new
    headers: { BITS-Session-Id: "${session}" }
    range: 8388608-8389631
    expect:
      status: 200
      headers: { BITS-Received-Content-Range: { equals: "8389632" } }
  - packet: Close-Session
    headers: { BITS-Session-Id: "${session}" }
    expect: { status: 200 }
  - method: GET
    expect: { status: 200, body: file }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fault_proxy_delivers_a_large_fragment_whole_over_tls() {
    let certificate = Certificate::new();
    let root = tempfile::tempdir().expect("tempdir");
    let server = https_server(&certificate, root.path()).await;
    let scenarios = tempfile::tempdir().expect("tempdir");
    let group = scenarios.path().join("fragment");
    std::fs::create_dir(&group).expect("mkdir");
    std::fs::write(group.join("001-big-dropped-ack.yaml"), BIG_DROPPED_ACK).expect("write");
    let reports = tempfile::tempdir().expect("tempdir");
    let cert = certificate.cert().display().to_string();
    let dir = scenarios.path().display().to_string();
    let target = server.base_url();
    let args = [
        "run",
        "--scenarios",
        &dir,
        "--target",
        &target,
        "--step-timeout",
        "10",
        "--ca-cert",
        &cert,
    ];
    let out = run(&args, reports.path()).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    server.shutdown().await;
}

#[test]
fn an_unusable_ca_file_is_named_and_nothing_runs() {
    let reports = tempfile::tempdir().expect("tempdir");
    let out = bitspec(
        &[
            "run",
            "--ca-cert",
            "/nonexistent/ca.pem",
            "--packet",
            "ping",
        ],
        reports.path(),
    );
    let all = text(&out);
    assert_eq!(out.status.code(), Some(2), "{all}");
    assert!(all.contains("/nonexistent/ca.pem"), "{all}");
    let not_pem = tempfile::NamedTempFile::new().expect("file");
    std::fs::write(not_pem.path(), "not a certificate").expect("write");
    let path = not_pem.path().display().to_string();
    let out = bitspec(&["run", "--ca-cert", &path], reports.path());
    let all = text(&out);
    assert_eq!(out.status.code(), Some(2), "{all}");
    assert!(all.contains("no CERTIFICATE"), "{all}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn insecure_can_be_set_from_the_environment_as_1_or_true() {
    let certificate = Certificate::new();
    let root = tempfile::tempdir().expect("tempdir");
    let server = https_server(&certificate, root.path()).await;
    for (value, code) in [("1", 0), ("true", 0), ("0", 3), ("false", 3)] {
        let reports = tempfile::tempdir().expect("tempdir");
        let target = server.base_url();
        let args = ["run", "--id", "ping-ack", "--target", &target];
        let out = run_env(&args, &[("BITSPEC_INSECURE", value)], reports.path()).await;
        assert_eq!(
            out.status.code(),
            Some(code),
            "BITSPEC_INSECURE={value}: {}",
            text(&out)
        );
    }
    server.shutdown().await;
}

#[test]
fn a_target_that_is_not_an_http_url_is_bad_input_not_an_unreachable_server() {
    let reports = tempfile::tempdir().expect("tempdir");
    for args in [
        &["run", "--target", "ftp://127.0.0.1/"][..],
        &["run", "--target", "not a url"][..],
        &[
            "diff",
            "--target",
            "http://127.0.0.1:9/",
            "--against",
            "gopher://x/",
        ][..],
        &["bench", "--target", "ftp://127.0.0.1/"][..],
    ] {
        let out = bitspec(args, reports.path());
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bench_uploads_over_https() {
    let certificate = Certificate::new();
    let root = tempfile::tempdir().expect("tempdir");
    let server = https_server(&certificate, root.path()).await;
    let (target, cert) = (server.base_url(), certificate.cert().display().to_string());
    let args = [
        "bench",
        "--target",
        &target,
        "--sessions",
        "2",
        "--size",
        "200K",
    ];
    let json = ["--fragment", "64K", "--json", "--ca-cert", &cert];
    let out = run(&[&args[..], &json[..]].concat(), root.path()).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(report["errors"], 0);
    assert_eq!(report["bytes"], 2 * 200 * 1024);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn target_and_ca_can_come_from_the_environment() {
    let certificate = Certificate::new();
    let root = tempfile::tempdir().expect("tempdir");
    let server = https_server(&certificate, root.path()).await;
    let reports = tempfile::tempdir().expect("tempdir");
    let (target, cert) = (server.base_url(), certificate.cert().display().to_string());
    let env = [
        ("BITSPEC_TARGET", target.as_str()),
        ("BITSPEC_CA_CERT", cert.as_str()),
    ];
    let out = run_env(&["run", "--packet", "ping"], &env, reports.path()).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    server.shutdown().await;
}
