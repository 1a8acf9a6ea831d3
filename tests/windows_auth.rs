//! NTLM and Negotiate (NTLM inside SPNEGO): the runner's handshake against the
//! reference server's accounts, over HTTP and HTTPS; the connection, not the
//! request, is what gets authenticated; wrong and forged credentials are refused;
//! credentials can come from the environment and stay out of reports; the bench
//! authenticates too.

mod support;

use bitspec::auth::windows::{Account, Handshake, Scheme};
use std::path::{Path, PathBuf};
use std::process::Output;
use support::{bitspec, bitspec_env, root, text};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The reference server configured as `profiles/reference/ntlm.toml` (NTLM and
/// Negotiate accounts), on 127.0.0.1:0, with HTTPS when `certificate` is given.
async fn ntlm_server(storage: &Path, certificate: Option<&Path>) -> bitspec_server::RunningServer {
    let mut config = bitspec_server::Config::load(&root().join("profiles/reference/ntlm.toml"))
        .expect("ntlm.toml loads");
    config.listen = "127.0.0.1:0".parse().expect("address");
    config.root = storage.to_path_buf();
    config.workers = 2;
    if let Some(dir) = certificate {
        config.tls_certificate = Some(dir.join("cert.pem"));
        config.tls_key = Some(dir.join("key.pem"));
    }
    bitspec_server::spawn(config).await.expect("server starts")
}

/// A self-signed certificate for 127.0.0.1 in `dir` (cert.pem, key.pem).
fn certificate(dir: &Path) -> PathBuf {
    let names = vec!["127.0.0.1".to_string()];
    let certified = rcgen::generate_simple_self_signed(names).expect("certificate");
    std::fs::write(dir.join("cert.pem"), certified.cert.pem()).expect("write");
    std::fs::write(dir.join("key.pem"), certified.signing_key.serialize_pem()).expect("write");
    dir.join("cert.pem")
}

/// `bitspec` off the async runtime that serves the target.
async fn run_blocking(args: Vec<String>, env: Vec<(String, String)>, reports: PathBuf) -> Output {
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        bitspec_env(&args, &env, &reports)
    })
    .await
    .expect("bitspec ran")
}

fn totals(reports: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(reports.join("results.json")).expect("results.json");
    let json: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    json["totals"].clone()
}

/// Every report file in `dir`, concatenated.
fn all_reports(dir: &Path) -> String {
    let mut all = String::new();
    for entry in std::fs::read_dir(dir).expect("reports").flatten() {
        all.push_str(&std::fs::read_to_string(entry.path()).unwrap_or_default());
    }
    all
}

/// The auth scenarios (401 challenge, Create-Session negotiating without a Ping,
/// the restricted account's 403) pass with `profile` against `target` (or the
/// bundled server), and no report holds the password.
async fn auth_scenarios_pass(profile: &str, target: Option<(&str, &Path)>) {
    let reports = tempfile::tempdir().expect("tempdir");
    let mut args: Vec<String> = ["run", "--profile", profile, "--tag", "auth"]
        .map(String::from)
        .to_vec();
    if let Some((url, ca)) = target {
        args.extend(["--target".into(), url.into(), "--ca-cert".into()]);
        args.push(ca.display().to_string());
    }
    let out = run_blocking(args, Vec::new(), reports.path().to_path_buf()).await;
    let all = text(&out);
    assert_eq!(out.status.code(), Some(0), "{profile}:\n{all}");
    let totals = totals(reports.path());
    assert!(totals["passed"].as_u64() >= Some(5), "{profile}:\n{all}");
    assert_eq!(totals["failed"], 0, "{profile}:\n{all}");
    assert_eq!(totals["errors"], 0, "{profile}:\n{all}");
    // The password ("conformance") is nowhere but in the reports' title.
    let written = all_reports(reports.path()).replace("bitspec conformance report", "");
    assert!(
        !written.contains("conformance"),
        "the password is in a report"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_auth_scenarios_pass_with_ntlm_and_negotiate_over_http() {
    auth_scenarios_pass("reference-ntlm", None).await;
    auth_scenarios_pass("reference-negotiate", None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_auth_scenarios_pass_with_ntlm_and_negotiate_over_https() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = certificate(dir.path());
    let storage = tempfile::tempdir().expect("tempdir");
    let server = ntlm_server(storage.path(), Some(dir.path())).await;
    let url = server.base_url();
    assert!(url.starts_with("https://"), "{url}");
    auth_scenarios_pass("reference-ntlm", Some((&url, &ca))).await;
    auth_scenarios_pass("reference-negotiate", Some((&url, &ca))).await;
    server.shutdown().await;
}

/// A plain HTTP/1.1 connection that sends BITS Pings and Create-Sessions.
struct Client {
    stream: TcpStream,
    host: String,
}

/// Status and `WWW-Authenticate` values of a response.
struct Answer {
    status: u16,
    challenge: Vec<String>,
}

impl Client {
    async fn connect(server: &bitspec_server::RunningServer) -> Client {
        let host = server.local_addr().to_string();
        let stream = TcpStream::connect(&host).await.expect("connect");
        Client { stream, host }
    }

    async fn send(&mut self, packet: &str, authorization: Option<&str>) -> Answer {
        let mut request = format!(
            "BITS_POST /ntlm-test.bin HTTP/1.1\r\nHost: {}\r\nBITS-Packet-Type: {packet}\r\nContent-Length: 0\r\n",
            self.host
        );
        if packet == "Create-Session" {
            request
                .push_str("BITS-Supported-Protocols: {7df0354d-249b-430f-820d-3d2a9bef4931}\r\n");
        }
        if let Some(value) = authorization {
            request.push_str(&format!("Authorization: {value}\r\n"));
        }
        request.push_str("\r\n");
        self.stream
            .write_all(request.as_bytes())
            .await
            .expect("write");
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            let n = tokio::time::timeout(
                std::time::Duration::from_secs(10),
                self.stream.read(&mut byte),
            )
            .await
            .expect("answer in time")
            .expect("read");
            assert_eq!(n, 1, "the server closed the connection");
            head.push(byte[0]);
        }
        let head = String::from_utf8_lossy(&head).into_owned();
        assert!(
            head.to_ascii_lowercase().contains("content-length: 0"),
            "{head}"
        );
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .expect("status");
        let challenge = head
            .lines()
            .filter_map(|l| l.split_once(':'))
            .filter(|(n, _)| n.eq_ignore_ascii_case("WWW-Authenticate"))
            .map(|(_, v)| v.trim().to_owned())
            .collect();
        Answer { status, challenge }
    }

    /// The handshake on this connection with `authenticate` turning the client's
    /// Authenticate message into what is sent; the final answer.
    async fn handshake(
        &mut self,
        account: &Account,
        authenticate: impl Fn(String) -> String,
    ) -> Answer {
        let (mut handshake, negotiate) = Handshake::start(account).expect("start");
        let challenge = self.send("Ping", Some(&negotiate)).await;
        assert_eq!(challenge.status, 401);
        let values: Vec<&str> = challenge.challenge.iter().map(String::as_str).collect();
        let message = handshake.answer(&values).expect("the challenge is read");
        self.send("Ping", Some(&authenticate(message))).await
    }
}

fn account(scheme: Scheme, domain: &str, user: &str, password: &str) -> Account {
    Account {
        scheme,
        domain: domain.into(),
        user: user.into(),
        password: password.into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_handshake_authenticates_its_connection_and_only_that_one() {
    let storage = tempfile::tempdir().expect("tempdir");
    let server = ntlm_server(storage.path(), None).await;
    for scheme in [Scheme::Ntlm, Scheme::Negotiate] {
        let mut client = Client::connect(&server).await;
        let first = client.send("Ping", None).await;
        assert_eq!(first.status, 401);
        assert_eq!(
            first.challenge,
            ["Negotiate", "NTLM"],
            "IIS's offer, in its order"
        );
        let me = account(scheme, "BITSPEC", "bitspec", "conformance");
        let done = client.handshake(&me, |m| m).await;
        assert_eq!(done.status, 200, "{scheme:?}");
        if scheme == Scheme::Negotiate {
            assert!(
                done.challenge.iter().any(|c| c.starts_with("Negotiate ")),
                "SPNEGO's last token (accept-completed, mechListMIC) comes with the 200"
            );
        }
        // No Authorization any more: the connection is the user's.
        let create = client.send("Create-Session", None).await;
        assert_eq!(create.status, 200, "{scheme:?}");
        // A new connection starts unauthenticated.
        let mut other = Client::connect(&server).await;
        assert_eq!(other.send("Ping", None).await.status, 401, "{scheme:?}");
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_unknown_and_borrowed_credentials_are_refused() {
    let storage = tempfile::tempdir().expect("tempdir");
    let server = ntlm_server(storage.path(), None).await;
    let refused = [
        ("BITSPEC", "bitspec", "wrong"),
        ("BITSPEC", "nobody", "conformance"),
        // A real account's password under another account's name.
        ("BITSPEC", "bitspec", "guest"),
        ("OTHERDOMAIN", "bitspec", "conformance"),
    ];
    for scheme in [Scheme::Ntlm, Scheme::Negotiate] {
        for (domain, user, password) in refused {
            let mut client = Client::connect(&server).await;
            let answer = client
                .handshake(&account(scheme, domain, user, password), |m| m)
                .await;
            assert_eq!(
                answer.status, 401,
                "{scheme:?} {domain}\\{user} / {password}"
            );
            // Nor is the connection authenticated afterwards.
            assert_eq!(client.send("Ping", None).await.status, 401);
        }
        // Without a domain, a local account: accepted.
        let mut client = Client::connect(&server).await;
        let answer = client
            .handshake(&account(scheme, "", "bitspec", "conformance"), |m| m)
            .await;
        assert_eq!(answer.status, 200, "{scheme:?} without a domain");
    }
    server.shutdown().await;
}

/// The Authenticate message with the MIC-present flag (MsvAvFlags 0x2) cleared in
/// the NTLMv2 response's AV pairs, as an attacker without the password would send it.
fn without_mic(authorization: String) -> String {
    use base64::Engine;
    let engine = base64::engine::general_purpose::STANDARD;
    let (scheme, token) = authorization.split_once(' ').expect("scheme and token");
    let mut message = engine.decode(token).expect("base64");
    let nt_len = u16::from_le_bytes([message[20], message[21]]) as usize;
    let nt_offset = u32::from_le_bytes(message[24..28].try_into().expect("4 bytes")) as usize;
    // AV pairs start after NTProofStr (16), the blob header (28).
    let mut at = nt_offset + 16 + 28;
    let end = nt_offset + nt_len;
    let mut cleared = false;
    while at + 4 <= end {
        let id = u16::from_le_bytes([message[at], message[at + 1]]);
        let len = u16::from_le_bytes([message[at + 2], message[at + 3]]) as usize;
        if id == 0 {
            break;
        }
        if id == 6 && len == 4 {
            message[at + 4] &= !0x02;
            cleared = true;
        }
        at += 4 + len;
    }
    assert!(cleared, "the client's message has no MsvAvFlags to clear");
    format!("{scheme} {}", engine.encode(message))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_authenticate_message_without_its_mic_still_needs_the_password() {
    let storage = tempfile::tempdir().expect("tempdir");
    let server = ntlm_server(storage.path(), None).await;
    let mut client = Client::connect(&server).await;
    let forged = account(Scheme::Ntlm, "BITSPEC", "bitspec", "not-the-password");
    let answer = client.handshake(&forged, without_mic).await;
    assert_eq!(
        answer.status, 401,
        "a MIC-less message passed without the password"
    );
    server.shutdown().await;
}

/// A copy of reference-ntlm whose password comes from `BITSPEC_TEST_NTLM_PASSWORD`.
fn profile_with_password_from_env(dir: &Path) -> PathBuf {
    let shipped = std::fs::read_to_string(root().join("profiles/reference-ntlm.yaml"))
        .expect("reference-ntlm.yaml");
    let config = root().join("profiles/reference/ntlm.toml");
    let text = shipped
        .replace(
            "password: conformance",
            "password: { env: BITSPEC_TEST_NTLM_PASSWORD }",
        )
        .replace(
            "reference_server_config: reference/ntlm.toml",
            &format!("reference_server_config: {}", config.display()),
        );
    assert!(text.contains("BITSPEC_TEST_NTLM_PASSWORD"));
    let path = dir.join("ntlm-env.yaml");
    std::fs::write(&path, text).expect("write");
    path
}

#[test]
fn credentials_can_come_from_the_environment_and_a_missing_one_is_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let profile = profile_with_password_from_env(dir.path());
    let profile = profile.display().to_string();
    let args = ["run", "--profile", &profile, "--tag", "auth"];
    let reports = tempfile::tempdir().expect("tempdir");
    let out = bitspec_env(
        &args,
        &[("BITSPEC_TEST_NTLM_PASSWORD", "conformance")],
        reports.path(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(totals(reports.path())["passed"].as_u64() >= Some(5));
    let out = bitspec(&args, reports.path());
    let all = text(&out);
    assert_ne!(out.status.code(), Some(0), "{all}");
    assert!(
        all.contains("BITSPEC_TEST_NTLM_PASSWORD") && all.contains("credentials.password"),
        "the missing variable is not named:\n{all}"
    );
}

#[test]
fn the_bench_authenticates_each_connection_with_ntlm() {
    let reports = tempfile::tempdir().expect("tempdir");
    for profile in ["reference-ntlm", "reference-negotiate"] {
        let args = [
            "bench",
            "--profile",
            profile,
            "--sessions",
            "3",
            "--size",
            "256K",
            "--fragment",
            "64K",
            "--json",
        ];
        let out = bitspec(&args, reports.path());
        let all = text(&out);
        assert_eq!(out.status.code(), Some(0), "{profile}:\n{all}");
        let json: serde_json::Value =
            serde_json::from_slice(&out.stdout).expect("the bench's JSON");
        assert_eq!(json["errors"], 0, "{profile}:\n{all}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bench_without_credentials_is_refused_by_an_ntlm_server() {
    let storage = tempfile::tempdir().expect("tempdir");
    let server = ntlm_server(storage.path(), None).await;
    let url = server.base_url();
    let args: Vec<String> = [
        "bench",
        "--target",
        &url,
        "--sessions",
        "1",
        "--size",
        "64K",
    ]
    .map(String::from)
    .to_vec();
    let reports = tempfile::tempdir().expect("tempdir");
    let out = run_blocking(args, Vec::new(), reports.path().to_path_buf()).await;
    assert_ne!(out.status.code(), Some(0), "{}", text(&out));
    server.shutdown().await;
}
