//! `bitspec upload` end to end against the reference server on 127.0.0.1: byte-identical
//! results through 413 shrinking, random cuts by the fault proxy, SIGKILLs, an expired
//! session, Host-Id redirection and fallback, Basic auth, HTTPS, upload-reply, Ctrl-C,
//! and the exit codes. Each test is bounded (a few MiB, a few seconds).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

mod support;

use bitspec::run::proxy::FaultGate;
use bitspec::scenario::model::Fault;

/// splitmix64: the tests' random numbers, reproducible from a printed seed.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

fn seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// The reference server with `toml` settings, on 127.0.0.1:0 with a fresh root.
struct Server {
    server: Option<bitspec_server::RunningServer>,
    root: tempfile::TempDir,
}

impl Server {
    fn start(rt: &tokio::runtime::Runtime, toml: &str) -> Server {
        let root = tempfile::tempdir().expect("root");
        let mut config =
            bitspec_server::Config::from_toml(toml, Path::new("test.toml")).expect("config");
        config.listen = "127.0.0.1:0".parse().expect("address");
        config.root = root.path().to_path_buf();
        config.workers = 2;
        let server = rt
            .block_on(bitspec_server::spawn(config))
            .expect("the reference server starts");
        Server {
            server: Some(server),
            root,
        }
    }

    fn base(&self) -> String {
        self.server
            .as_ref()
            .map(|s| s.base_url())
            .unwrap_or_default()
    }

    fn addr(&self) -> String {
        self.server
            .as_ref()
            .map(|s| s.local_addr().to_string())
            .unwrap_or_default()
    }

    /// The bytes published at URL path `name`.
    fn stored(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.root.path().join(name)).unwrap_or_default()
    }

    fn stop(&mut self, rt: &tokio::runtime::Runtime) {
        if let Some(server) = self.server.take() {
            rt.block_on(server.shutdown());
        }
    }
}

/// A source file of `size` pseudo-random bytes in its own folder.
struct Source {
    dir: tempfile::TempDir,
    bytes: Vec<u8>,
}

impl Source {
    fn new(size: usize, seed: u64) -> Source {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut bytes = Vec::with_capacity(size + 8);
        let mut x = seed;
        while bytes.len() < size {
            x = mix(x);
            bytes.extend_from_slice(&x.to_le_bytes());
        }
        bytes.truncate(size);
        std::fs::write(dir.path().join("source.bin"), &bytes).expect("write");
        Source { dir, bytes }
    }

    fn path(&self) -> PathBuf {
        self.dir.path().join("source.bin")
    }

    fn journal(&self) -> PathBuf {
        self.dir.path().join("source.bin.bitspec-upload")
    }

    fn journal_offset(&self) -> Option<u64> {
        let text = std::fs::read_to_string(self.journal()).ok()?;
        let json: serde_json::Value = serde_json::from_str(&text).ok()?;
        json["offset"].as_u64()
    }
}

fn upload_command(source: &Source, url: &str, extra: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_bitspec"));
    command
        .arg("upload")
        .arg(source.path())
        .arg(url)
        .args(["--retry-delay", "0.02"])
        .args(extra)
        .env_remove("BITSPEC_USER")
        .env_remove("BITSPEC_PASSWORD")
        .env_remove("BITSPEC_STATE_DIR");
    command
}

/// Runs `bitspec upload` to its end, killed after two minutes (a hang is a failure).
fn upload(source: &Source, url: &str, extra: &[&str]) -> Output {
    finish(upload_command(source, url, extra), url, extra)
}

/// Runs `command` to its end, killed after two minutes (a hang is a failure).
fn finish(mut command: Command, url: &str, extra: &[&str]) -> Output {
    let child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run bitspec upload");
    let pid = child.id().to_string();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(child.wait_with_output()));
    match rx.recv_timeout(Duration::from_secs(120)) {
        Ok(out) => out.expect("output"),
        Err(_) => {
            let _ = Command::new("kill").args(["-KILL", &pid]).status();
            panic!("bitspec upload {url} {extra:?} hung for two minutes");
        }
    }
}

fn show(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn assert_uploaded(out: &Output, server: &Server, name: &str, source: &Source) {
    assert_eq!(out.status.code(), Some(0), "{}", show(out));
    assert!(
        server.stored(name) == source.bytes,
        "the stored file differs from the source ({} vs {} bytes)\n{}",
        server.stored(name).len(),
        source.bytes.len(),
        show(out)
    );
    assert!(
        !source.journal().exists(),
        "the journal is removed when done"
    );
}

#[test]
fn an_upload_arrives_byte_identical_and_leaves_no_journal() {
    let rt = runtime();
    let server = Server::start(&rt, "");
    let source = Source::new(1_000_003, 1);
    let out = upload(
        &source,
        &format!("{}dir/a.bin", server.base()),
        &["--fragment", "64K"],
    );
    assert_uploaded(&out, &server, "dir/a.bin", &source);
}

#[test]
fn a_413_halves_the_fragments_down_to_what_the_server_takes() {
    let rt = runtime();
    let server = Server::start(&rt, "max_fragment_size = 20000");
    let source = Source::new(300_000, 2);
    let url = format!("{}shrink.bin", server.base());
    let out = upload(&source, &url, &["--fragment", "100K"]);
    assert_uploaded(&out, &server, "shrink.bin", &source);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("413: fragments of 12800 bytes"), "{stderr}");
}

#[test]
fn a_server_refusing_even_the_smallest_fragment_is_fatal() {
    let rt = runtime();
    let server = Server::start(&rt, "max_fragment_size = 4000");
    let source = Source::new(50_000, 3);
    let out = upload(
        &source,
        &format!("{}tiny.bin", server.base()),
        &["--fragment", "8K"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("5120"));
}

/// Uploads 2 MiB through the fault proxy; `overlap` is the server's answer to a
/// fragment that starts before its offset (`trim`: 200, `reject`: 416).
fn cut_at_random(overlap: &str) {
    let rt = runtime();
    let server = Server::start(&rt, &format!("overlap = {overlap:?}"));
    let seed = seed();
    eprintln!("seed {seed}");
    let source = Source::new(2 << 20, seed);
    // The first 16 connections each break at a random point: mid-head, mid-body,
    // or after the server answered; later ones are left alone.
    let plan = Box::new(move |n: u64| {
        let r = mix(seed ^ n);
        if n >= 16 {
            return Fault::default();
        }
        match r % 3 {
            0 => Fault {
                cut_after_body_bytes: Some((r >> 8) % 200_000),
                ..Fault::default()
            },
            1 => Fault {
                cut_after_request_bytes: Some((r >> 8) % 300_000),
                ..Fault::default()
            },
            _ => Fault {
                drop_response: true,
                ..Fault::default()
            },
        }
    });
    let gate = rt
        .block_on(FaultGate::start(
            server.addr(),
            None,
            plan,
            Duration::from_secs(5),
        ))
        .expect("proxy");
    let url = format!("http://{}/cut.bin", gate.address());
    let out = upload(&source, &url, &["--fragment", "64K", "--retries", "40"]);
    assert_uploaded(&out, &server, "cut.bin", &source);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("attempt 2"),
        "the proxy did cut (seed {seed}): {stderr}"
    );
    if overlap == "reject" {
        assert!(
            stderr.contains("416: the server expects"),
            "seed {seed}: {stderr}"
        );
    }
    drop(gate);
}

#[test]
fn random_cuts_by_the_fault_proxy_leave_the_file_byte_identical() {
    cut_at_random("trim");
}

#[test]
fn random_cuts_resynchronise_from_416_acks() {
    cut_at_random("reject");
}

#[test]
fn sigkilled_three_times_it_resumes_to_a_byte_identical_file() {
    let rt = runtime();
    let server = Server::start(&rt, "");
    let seed = seed();
    let source = Source::new(8 << 20, seed);
    let url = format!("{}killed.bin", server.base());
    // 2 MiB/s: the whole upload takes about 4 s, the three runs less than 3 s.
    let args = ["--fragment", "64K", "--limit-rate", "2M", "--quiet"];
    let mut last = 0;
    for kill in 0..3u64 {
        let mut child = upload_command(&source, &url, &args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        let wait = 300 + mix(seed ^ kill) % 700;
        std::thread::sleep(Duration::from_millis(wait));
        child.kill().expect("SIGKILL");
        let _ = child.wait();
        let offset = source
            .journal_offset()
            .expect("the journal survives the kill");
        assert!(
            offset > last && offset < source.bytes.len() as u64,
            "kill {kill} after {wait} ms: offset {offset} (before: {last}, seed {seed})"
        );
        last = offset;
    }
    let out = upload(&source, &url, &["--fragment", "64K"]);
    assert_uploaded(&out, &server, "killed.bin", &source);
    assert!(String::from_utf8_lossy(&out.stderr).contains("resuming session"));
}

#[test]
fn an_expired_session_is_started_again_with_create_session() {
    let rt = runtime();
    let server = Server::start(&rt, "session_timeout = 1\ncleanup_interval = 1");
    let source = Source::new(2 << 20, 5);
    let url = format!("{}expired.bin", server.base());
    let mut child = upload_command(&source, &url, &["--fragment", "64K", "--limit-rate", "1M"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    std::thread::sleep(Duration::from_millis(600));
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    assert!(source.journal_offset().is_some_and(|o| o > 0));
    std::thread::sleep(Duration::from_millis(3000));
    let out = upload(&source, &url, &["--fragment", "64K"]);
    assert_uploaded(&out, &server, "expired.bin", &source);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("BG_E_SESSION_NOT_FOUND"), "{stderr}");
}

#[test]
fn a_host_id_that_cannot_be_reached_falls_back_to_the_origin_after_its_timeout() {
    let rt = runtime();
    // 127.0.0.2 is loopback, but nothing listens there on the server's port.
    let server = Server::start(&rt, "host_id = \"127.0.0.2\"\nhost_id_fallback_timeout = 1");
    let source = Source::new(200_000, 6);
    let started = Instant::now();
    let out = upload(
        &source,
        &format!("{}farm.bin", server.base()),
        &["--fragment", "64K"],
    );
    assert_uploaded(&out, &server, "farm.bin", &source);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("to host 127.0.0.2"), "{stderr}");
    assert!(stderr.contains("back to the origin server"), "{stderr}");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "not before the timeout"
    );
}

#[test]
fn a_reachable_host_id_takes_the_upload() {
    let rt = runtime();
    let server = Server::start(&rt, "host_id = \"localhost\"");
    let source = Source::new(200_000, 7);
    let out = upload(
        &source,
        &format!("{}node.bin", server.base()),
        &["--fragment", "64K"],
    );
    assert_uploaded(&out, &server, "node.bin", &source);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("to host localhost"), "{stderr}");
    assert!(!stderr.contains("origin"), "{stderr}");
}

#[test]
fn basic_auth_answers_the_challenge_and_missing_credentials_are_fatal() {
    let rt = runtime();
    let toml = "[[users]]\nname = \"alice\"\npassword = \"s3cret\"\n";
    let server = Server::start(&rt, toml);
    let source = Source::new(100_000, 8);
    let url = format!("{}alice.bin", server.base());
    let out = upload(&source, &url, &["--quiet"]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--user"));
    let out = upload(&source, &url, &["--user", "alice:wrong"]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let out = upload(&source, &url, &["--user", "alice:s3cret", "--restart"]);
    assert_uploaded(&out, &server, "alice.bin", &source);
}

#[test]
fn https_with_the_servers_certificate_trusted() {
    let rt = runtime();
    let names = vec!["127.0.0.1".to_string()];
    let certified = rcgen::generate_simple_self_signed(names).expect("certificate");
    let pem = tempfile::tempdir().expect("tempdir");
    let (cert, key) = (pem.path().join("cert.pem"), pem.path().join("key.pem"));
    std::fs::write(&cert, certified.cert.pem()).expect("write");
    std::fs::write(&key, certified.signing_key.serialize_pem()).expect("write");
    let toml = format!(
        "tls_certificate = {:?}\ntls_key = {:?}\n",
        cert.display().to_string(),
        key.display().to_string()
    );
    let server = Server::start(&rt, &toml);
    assert!(server.base().starts_with("https://"));
    let source = Source::new(300_000, 9);
    let url = format!("{}secure.bin", server.base());
    let cert_arg = cert.display().to_string();
    let out = upload(
        &source,
        &url,
        &["--ca-cert", &cert_arg, "--fragment", "64K"],
    );
    assert_uploaded(&out, &server, "secure.bin", &source);
}

#[test]
fn upload_reply_saves_the_reply_before_closing() {
    let rt = runtime();
    let app = rt
        .block_on(bitspec_server::example_app::spawn(
            "127.0.0.1:0".parse().expect("address"),
        ))
        .expect("example app");
    let toml = format!(
        "notification_type = \"by-reference\"\nnotification_url = {:?}\n",
        app.base_url()
    );
    let server = Server::start(&rt, &toml);
    let source = Source::new(100_000, 10);
    let reply = source.dir.path().join("reply.txt");
    let reply_arg = reply.display().to_string();
    let url = format!("{}job.bin", server.base());
    let out = upload(&source, &url, &["--reply", &reply_arg, "--fragment", "64K"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let text = std::fs::read_to_string(&reply).expect("the reply is saved");
    assert!(text.contains("received 100000 bytes"), "{text}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("reply URL"));
    assert!(!source.journal().exists());
}

#[test]
fn upload_reply_without_a_reply_url_is_fatal() {
    let rt = runtime();
    let server = Server::start(&rt, "");
    let source = Source::new(10_000, 11);
    let reply = source.dir.path().join("reply.txt");
    let reply_arg = reply.display().to_string();
    let out = upload(
        &source,
        &format!("{}plain.bin", server.base()),
        &["--reply", &reply_arg],
    );
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("BITS-Reply-URL"));
}

fn interrupt(child: &std::process::Child) {
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("the kill command");
    assert!(status.success());
}

#[test]
fn ctrl_c_cancels_the_session_or_keeps_it_by_flag() {
    let rt = runtime();
    let server = Server::start(&rt, "");
    let source = Source::new(4 << 20, 12);
    let url = format!("{}interrupted.bin", server.base());
    let slow = ["--fragment", "64K", "--limit-rate", "1M", "--quiet"];
    // Kept: exit 75, the journal stays, the next run finishes.
    let mut kept: Vec<&str> = slow.to_vec();
    kept.push("--keep-on-interrupt");
    let child = upload_command(&source, &url, &kept)
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    std::thread::sleep(Duration::from_millis(700));
    interrupt(&child);
    let out = child.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(75), "{}", show(&out));
    assert!(source.journal_offset().is_some_and(|o| o > 0));
    // Cancelled: exit 130, no journal, and the session is gone from the server.
    let child = upload_command(&source, &url, &slow)
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    std::thread::sleep(Duration::from_millis(700));
    interrupt(&child);
    let out = child.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(130), "{}", show(&out));
    assert!(!source.journal().exists(), "{}", show(&out));
    assert!(server.stored("interrupted.bin").is_empty());
    let out = upload(&source, &url, &["--fragment", "64K"]);
    assert_uploaded(&out, &server, "interrupted.bin", &source);
    assert!(!String::from_utf8_lossy(&out.stderr).contains("resuming"));
}

#[test]
fn exit_codes_tell_run_again_from_fatal_from_bad_input() {
    let rt = runtime();
    let mut server = Server::start(&rt, "uploads_enabled = false");
    let source = Source::new(10_000, 13);
    let out = upload(&source, &format!("{}off.bin", server.base()), &[]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "uploads disabled is fatal: {}",
        show(&out)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("not enabled"));
    let addr = server.addr();
    server.stop(&rt);
    // Nobody listens any more: retried, then "run again".
    let started = Instant::now();
    let out = upload(
        &source,
        &format!("http://{addr}/x.bin"),
        &["--retries", "2", "--restart"],
    );
    assert_eq!(out.status.code(), Some(75), "{}", show(&out));
    assert!(started.elapsed() < Duration::from_secs(20));
    assert!(String::from_utf8_lossy(&out.stderr).contains("run the same command again"));
    let out = upload(&source, "ftp://127.0.0.1/x", &[]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    let empty = Source::new(0, 0);
    let out = upload(&empty, &format!("http://{addr}/x.bin"), &[]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
}

#[test]
fn a_changed_source_is_not_resumed() {
    let rt = runtime();
    let server = Server::start(&rt, "");
    let source = Source::new(4 << 20, 14);
    let url = format!("{}changed.bin", server.base());
    let mut child = upload_command(&source, &url, &["--fragment", "64K", "--limit-rate", "1M"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    std::thread::sleep(Duration::from_millis(500));
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    std::fs::write(source.path(), b"something else entirely").expect("rewrite");
    let out = upload(&source, &url, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("BG_E_LOCAL_FILE_CHANGED"));
}

/// The bytes one connection sent.
type Log = std::sync::Arc<std::sync::Mutex<Vec<u8>>>;

/// A transparent TCP relay that keeps what each connection sent, in accept order.
struct Recorder {
    address: String,
    sent: std::sync::Arc<std::sync::Mutex<Vec<Log>>>,
}

impl Recorder {
    fn start(upstream: String) -> Recorder {
        use std::io::{Read, Write};
        use std::sync::{Arc, Mutex};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let address = listener.local_addr().expect("address").to_string();
        let sent: Arc<Mutex<Vec<Log>>> = Arc::default();
        let all = Arc::clone(&sent);
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let Ok(server) = std::net::TcpStream::connect(&upstream) else {
                    continue;
                };
                let log = Arc::new(Mutex::new(Vec::new()));
                all.lock().expect("lock").push(Arc::clone(&log));
                let (mut c_read, mut s_write) = (
                    client.try_clone().expect("clone"),
                    server.try_clone().expect("clone"),
                );
                let (mut s_read, mut c_write) = (server, client);
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut s_read, &mut c_write);
                    let _ = c_write.shutdown(std::net::Shutdown::Both);
                });
                std::thread::spawn(move || {
                    let mut buf = vec![0u8; 64 * 1024];
                    while let Ok(n) = c_read.read(&mut buf) {
                        if n == 0 || s_write.write_all(&buf[..n]).is_err() {
                            break;
                        }
                        log.lock().expect("lock").extend_from_slice(&buf[..n]);
                    }
                    let _ = s_write.shutdown(std::net::Shutdown::Both);
                });
            }
        });
        Recorder { address, sent }
    }

    /// Per connection: the packet types it carried and whether it named `host`.
    fn packets(&self) -> Vec<(Vec<String>, String)> {
        let sent = self.sent.lock().expect("lock");
        sent.iter()
            .map(|log| {
                // Header names are case-insensitive (hyper writes `Bits-Packet-Type`).
                let text = String::from_utf8_lossy(&log.lock().expect("lock")).to_lowercase();
                let types = text
                    .split("bits-packet-type: ")
                    .skip(1)
                    .map(|rest| rest.split("\r\n").next().unwrap_or("").to_owned())
                    .collect();
                let host = text
                    .split("\r\nhost: ")
                    .nth(1)
                    .and_then(|rest| rest.split("\r\n").next())
                    .unwrap_or("")
                    .to_owned();
                (types, host)
            })
            .collect()
    }
}

#[test]
fn every_new_connection_of_a_session_begins_with_ping_and_follows_the_host_id() {
    let rt = runtime();
    let server = Server::start(&rt, "host_id = \"localhost\"");
    // The second connection is cut mid-fragment: the run reconnects by itself.
    let plan = Box::new(|n: u64| Fault {
        cut_after_body_bytes: (n == 1).then_some(100_000),
        ..Fault::default()
    });
    let gate = rt
        .block_on(FaultGate::start(
            server.addr(),
            None,
            plan,
            Duration::from_secs(5),
        ))
        .expect("proxy");
    let recorder = Recorder::start(gate.address());
    let port = recorder.address.rsplit(':').next().unwrap_or("").to_owned();
    let source = Source::new(2 << 20, 15);
    let url = format!("http://{}/ping.bin", recorder.address);
    let mut child = upload_command(&source, &url, &["--fragment", "64K", "--limit-rate", "1M"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    std::thread::sleep(Duration::from_millis(500));
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    let out = upload(&source, &url, &["--fragment", "64K"]);
    assert_uploaded(&out, &server, "ping.bin", &source);
    let connections = recorder.packets();
    assert!(connections.len() >= 4, "{connections:?}");
    assert_eq!(connections[0].0, ["create-session"], "{connections:?}");
    for (types, host) in &connections[1..] {
        assert_eq!(
            types.first().map(String::as_str),
            Some("ping"),
            "{connections:?}"
        );
        assert_eq!(
            host,
            &format!("localhost:{port}"),
            "BITS-Host-Id replaces the host"
        );
    }
    let last = connections
        .last()
        .map(|(t, _)| t.clone())
        .unwrap_or_default();
    assert_eq!(last.last().map(String::as_str), Some("close-session"));
}

/// The reference server with NTLM and Negotiate accounts (as profiles/reference/ntlm.toml,
/// without its unreachable Host-Id), over HTTPS when `tls` holds a certificate's folder.
fn windows_auth_server(rt: &tokio::runtime::Runtime, tls: Option<&Path>) -> Server {
    let mut toml = String::from(
        "auth_schemes = [\"ntlm\", \"negotiate\"]\n\
         [[users]]\nname = \"bitspec\"\npassword = \"conformance\"\n",
    );
    if let Some(dir) = tls {
        toml = format!(
            "tls_certificate = {:?}\ntls_key = {:?}\n{toml}",
            dir.join("cert.pem").display().to_string(),
            dir.join("key.pem").display().to_string()
        );
    }
    Server::start(rt, &toml)
}

/// `bitspec upload --auth SCHEME --user BITSPEC\bitspec` with the password in the environment.
fn upload_as(source: &Source, url: &str, scheme: &str, password: &str, extra: &[&str]) -> Output {
    let mut args = vec!["--auth", scheme, "--user", "BITSPEC\\bitspec"];
    args.extend_from_slice(extra);
    let mut command = upload_command(source, url, &args);
    command.env("BITSPEC_PASSWORD", password);
    finish(command, url, &args)
}

fn assert_no_password(out: &Output, password: &str) {
    let all = show(out);
    assert!(!all.contains(password), "the password is printed: {all}");
}

#[test]
fn ntlm_and_negotiate_authenticate_each_new_connection() {
    let rt = runtime();
    let server = windows_auth_server(&rt, None);
    for (n, scheme) in ["ntlm", "negotiate"].into_iter().enumerate() {
        // The first connection is cut 300 KB in (after the handshake, mid-fragment):
        // the next one must authenticate again before the upload goes on.
        let plan = Box::new(|n: u64| Fault {
            cut_after_body_bytes: (n == 0).then_some(300_000),
            ..Fault::default()
        });
        let gate = rt
            .block_on(FaultGate::start(
                server.addr(),
                None,
                plan,
                Duration::from_secs(5),
            ))
            .expect("proxy");
        let source = Source::new(1 << 20, 16 + n as u64);
        let url = format!("http://{}/{scheme}.bin", gate.address());
        let out = upload_as(&source, &url, scheme, "conformance", &["--fragment", "64K"]);
        assert_uploaded(&out, &server, &format!("{scheme}.bin"), &source);
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("attempt 2"),
            "{scheme}: the proxy cut the first connection: {}",
            show(&out)
        );
        assert_no_password(&out, "conformance");
    }
}

#[test]
fn a_refused_ntlm_password_or_none_at_all_is_fatal_and_never_printed() {
    let rt = runtime();
    let server = windows_auth_server(&rt, None);
    let source = Source::new(100_000, 18);
    let url = format!("{}refused.bin", server.base());
    for scheme in ["ntlm", "negotiate"] {
        let out = upload_as(&source, &url, scheme, "not-the-password", &["--restart"]);
        assert_eq!(out.status.code(), Some(1), "{scheme}: {}", show(&out));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("refused the credentials"),
            "{scheme}: {}",
            show(&out)
        );
        assert_no_password(&out, "not-the-password");
    }
    let out = upload(&source, &url, &["--restart"]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--user"));
    let out = upload(&source, &url, &["--auth", "ntlm"]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(server.stored("refused.bin").is_empty());
}

#[test]
fn negotiate_over_https_resumes_after_sigkill() {
    let rt = runtime();
    let pem = tempfile::tempdir().expect("tempdir");
    let names = vec!["127.0.0.1".to_string()];
    let certified = rcgen::generate_simple_self_signed(names).expect("certificate");
    std::fs::write(pem.path().join("cert.pem"), certified.cert.pem()).expect("write");
    std::fs::write(
        pem.path().join("key.pem"),
        certified.signing_key.serialize_pem(),
    )
    .expect("write");
    let server = windows_auth_server(&rt, Some(pem.path()));
    assert!(server.base().starts_with("https://"));
    let source = Source::new(2 << 20, 19);
    let url = format!("{}secure-negotiate.bin", server.base());
    let cert = pem.path().join("cert.pem").display().to_string();
    // Killed mid-upload, then resumed: the second process authenticates its own
    // connection (Negotiate over TLS) before its Ping.
    let mut args = vec!["--auth", "negotiate", "--user", "BITSPEC\\bitspec"];
    args.extend([
        "--ca-cert",
        &cert,
        "--fragment",
        "64K",
        "--limit-rate",
        "2M",
    ]);
    let mut child = upload_command(&source, &url, &args)
        .env("BITSPEC_PASSWORD", "conformance")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    // Killed once some fragments are acknowledged (however loaded the machine is).
    let started = Instant::now();
    while source.journal_offset().is_none_or(|o| o == 0) {
        assert!(started.elapsed() < Duration::from_secs(60), "no progress");
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    let out = upload_as(
        &source,
        &url,
        "negotiate",
        "conformance",
        &["--ca-cert", &cert, "--fragment", "64K"],
    );
    assert_uploaded(&out, &server, "secure-negotiate.bin", &source);
    assert!(String::from_utf8_lossy(&out.stderr).contains("resuming session"));
    assert_no_password(&out, "conformance");
}

/// `bitspec upload` on a terminal (a pty made by `script`), its stderr as the terminal got it.
fn upload_on_a_terminal(script: &Path, source: &Source, url: &str, extra: &str) -> String {
    let command = format!(
        "{} upload {} {url} --fragment 64K --limit-rate 512K --retry-delay 0.02 {extra}",
        env!("CARGO_BIN_EXE_bitspec"),
        source.path().display(),
    );
    let out = finish(
        {
            let mut c = Command::new(script);
            c.args(["-qec", &command, "/dev/null"])
                .env("TERM", "xterm")
                .env_remove("BITSPEC_USER")
                .env_remove("BITSPEC_STATE_DIR");
            c
        },
        url,
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_terminal_shows_the_progress_bar_and_quiet_hides_it() {
    let Some(script) = support::tool(&["script"], "bsdutils", "the upload's progress bar") else {
        return;
    };
    let rt = runtime();
    let server = Server::start(&rt, "");
    let source = Source::new(1 << 20, 20);
    let url = format!("{}bar.bin", server.base());
    // About two seconds at 512 KiB/s: the bar is drawn several times.
    let shown = upload_on_a_terminal(&script, &source, &url, "");
    assert!(shown.contains("/1.00 MiB"), "no progress bar: {shown:?}");
    assert!(shown.contains("uploaded"), "{shown:?}");
    let url = format!("{}quiet.bin", server.base());
    let hidden = upload_on_a_terminal(&script, &source, &url, "--quiet");
    assert!(!hidden.contains("MiB"), "--quiet shows a bar: {hidden:?}");
    assert_eq!(server.stored("quiet.bin"), source.bytes);
}
