//! Record mode: `bitspec record` in front of the reference server turns the runner's own
//! exchanges into scenarios that `bitspec check` accepts and that pass when replayed
//! against a fresh reference server.

mod support;

use bitspec::options::tls::TlsArgs;
use bitspec::record::{RecordArgs, Recorder};
use std::path::{Path, PathBuf};
use std::time::Duration;
use support::{bitspec, text};

/// The reference server on 127.0.0.1, over TLS with `certificate` (cert, key) if given.
fn spawn_reference(
    runtime: &tokio::runtime::Runtime,
    root: &Path,
    certificate: Option<(PathBuf, PathBuf)>,
) -> bitspec_server::RunningServer {
    let (tls_certificate, tls_key) = certificate.unzip();
    let config = bitspec_server::Config {
        listen: "127.0.0.1:0".parse().expect("address"),
        root: root.to_path_buf(),
        tls_certificate,
        tls_key,
        ..bitspec_server::Config::default()
    };
    runtime
        .block_on(bitspec_server::spawn(config))
        .expect("reference server starts")
}

/// Runs `bitspec run ARGS --target <recorder>` through a recorder in front of a fresh
/// reference server and returns the scenario files written (one session expected).
fn record_through(
    runtime: &tokio::runtime::Runtime,
    out: &Path,
    run_args: &[&str],
) -> Vec<PathBuf> {
    let storage = tempfile::tempdir().expect("tempdir");
    let server = spawn_reference(runtime, storage.path(), None);
    record_from(
        runtime,
        &server.base_url(),
        TlsArgs::default(),
        out,
        run_args,
    )
}

/// [`record_through`] in front of `upstream`.
fn record_from(
    runtime: &tokio::runtime::Runtime,
    upstream: &str,
    tls: TlsArgs,
    out: &Path,
    run_args: &[&str],
) -> Vec<PathBuf> {
    let args = RecordArgs {
        listen: "127.0.0.1:0".into(),
        upstream: upstream.to_owned(),
        out: out.to_path_buf(),
        sessions: Some(1),
        max_seed: 64,
        tls,
    };
    let recorder = runtime
        .block_on(Recorder::bind(args))
        .expect("recorder binds");
    let proxy = format!("http://{}/", recorder.address().expect("address"));
    let (done, recorded) = std::sync::mpsc::channel();
    runtime.spawn(async move {
        let _ = done.send(recorder.record().await);
    });
    let reports = tempfile::tempdir().expect("tempdir");
    let mut all = vec!["run", "--target", proxy.as_str()];
    all.extend_from_slice(run_args);
    let run = bitspec(&all, reports.path());
    assert_eq!(
        run.status.code(),
        Some(0),
        "through the recorder: {}",
        text(&run)
    );
    recorded
        .recv_timeout(Duration::from_secs(30))
        .expect("the recorder stops after one session")
        .expect("the recorder succeeds")
}

/// `bitspec check` on the folder, then `bitspec run --scenarios` against `target`
/// (default the bundled server): both succeed and the replay passes without warnings.
fn check_and_replay(out: &Path, target: Option<&str>) {
    let dir = out.to_string_lossy().into_owned();
    let reports = tempfile::tempdir().expect("tempdir");
    let check = bitspec(&["check", "--scenarios", &dir], reports.path());
    assert_eq!(check.status.code(), Some(0), "check: {}", text(&check));
    let mut args = vec!["run", "--scenarios", dir.as_str()];
    if let Some(target) = target {
        args.extend(["--target", target]);
    }
    let replay = bitspec(&args, reports.path());
    assert_eq!(replay.status.code(), Some(0), "replay: {}", text(&replay));
    let results: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(reports.path().join("results.json")).expect("results.json"),
    )
    .expect("JSON");
    assert_eq!(results["totals"]["passed"], 1, "{results}");
    assert_eq!(results["totals"]["warnings"], 0, "{results}");
}

#[test]
fn a_recorded_upload_is_accepted_by_check_and_passes_on_replay() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let out = tempfile::tempdir().expect("tempdir");
    let written = record_through(
        &runtime,
        out.path(),
        &["--id", "fragment-upload-three-fragments"],
    );
    assert_eq!(written.len(), 1);
    let yaml = std::fs::read_to_string(&written[0]).expect("scenario");
    for wanted in [
        "file: { size: 3000, seed: 1 }",
        "range: 0-999",
        "range: 2000-2999",
        "BITS-Session-Id: session",
        "BITS-Session-Id: \"${session}\"",
        "bits-received-content-range: { equals_ignore_case: \"3000\" }",
        "level: should",
    ] {
        assert!(yaml.contains(wanted), "{wanted:?} missing from\n{yaml}");
    }
    for volatile in ["date", "server:", "user-agent", "content-length", "host:"] {
        assert!(
            !yaml.to_ascii_lowercase().contains(volatile),
            "{volatile:?} recorded:\n{yaml}"
        );
    }
    check_and_replay(out.path(), None);
}

#[test]
fn a_cancelled_session_is_recorded_up_to_its_cancel() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let out = tempfile::tempdir().expect("tempdir");
    let written = record_through(&runtime, out.path(), &["--id", "cancel-session-mid-upload"]);
    let yaml = std::fs::read_to_string(&written[0]).expect("scenario");
    assert!(yaml.contains("packet: \"Cancel-Session\""), "{yaml}");
    check_and_replay(out.path(), None);
}

#[test]
fn a_ping_on_a_new_connection_is_replayed_on_a_new_connection() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let out = tempfile::tempdir().expect("tempdir");
    let written = record_through(
        &runtime,
        out.path(),
        &["--id", "fragment-resume-on-new-connection"],
    );
    let yaml = std::fs::read_to_string(&written[0]).expect("scenario");
    let ping = yaml
        .find("packet: \"Ping\"")
        .expect("the Ping is part of the session");
    assert!(yaml[ping..].contains("connection: new"), "{yaml}");
    check_and_replay(out.path(), None);
}

/// Bytes no seed generates, with a zero byte and invalid UTF-8.
const ODD_BODY: &[u8] = b"not a generated file\x00\xff\xfe\r\n-- the end";

#[test]
fn a_body_that_is_no_generated_file_is_saved_and_replayed_byte_identical() {
    let fixture = tempfile::tempdir().expect("tempdir");
    let last = ODD_BODY.len() - 1;
    std::fs::write(fixture.path().join("odd.bin"), ODD_BODY).expect("fixture");
    std::fs::write(
        fixture.path().join("odd-body.yaml"),
        format!(
            "id: odd-body\ntitle: An upload whose bytes come from a file\nspec: MC-BUP 3.2.5.2.6\nlevel: should\nsteps:\n  - packet: Create-Session\n    headers: {{ BITS-Supported-Protocols: \"${{protocol}}\" }}\n    expect: {{ status: 200 }}\n    capture: {{ BITS-Session-Id: session }}\n  - packet: Fragment\n    headers: {{ BITS-Session-Id: \"${{session}}\", Content-Range: \"bytes 0-{last}/{}\" }}\n    body_file: odd.bin\n    expect: {{ status: 200 }}\n  - packet: Close-Session\n    headers: {{ BITS-Session-Id: \"${{session}}\" }}\n    expect: {{ status: 200 }}\n",
            ODD_BODY.len()
        ),
    )
    .expect("fixture");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let out = tempfile::tempdir().expect("tempdir");
    let fixture_dir = fixture.path().to_string_lossy().into_owned();
    let written = record_through(&runtime, out.path(), &["--scenarios", &fixture_dir]);
    let yaml = std::fs::read_to_string(&written[0]).expect("scenario");
    assert!(
        yaml.contains("body_file: \"recorded-001.step2.bin\""),
        "{yaml}"
    );
    assert!(
        !yaml.contains("file: {"),
        "no generated file matches: {yaml}"
    );
    assert!(
        yaml.contains(&format!(
            "Content-Range: \"bytes 0-{last}/{}\"",
            ODD_BODY.len()
        )),
        "{yaml}"
    );
    let saved = std::fs::read(out.path().join("recorded-001.step2.bin")).expect("data file");
    assert_eq!(saved, ODD_BODY);

    let storage = tempfile::tempdir().expect("tempdir");
    let server = spawn_reference(&runtime, storage.path(), None);
    check_and_replay(out.path(), Some(&server.base_url()));
    let stored: Vec<Vec<u8>> = files_under(storage.path())
        .into_iter()
        .filter_map(|p| std::fs::read(p).ok())
        .filter(|bytes| bytes.len() == ODD_BODY.len())
        .collect();
    assert_eq!(
        stored,
        vec![ODD_BODY.to_vec()],
        "the replayed upload is byte-identical"
    );
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(files_under(&path));
        } else {
            found.push(path);
        }
    }
    found
}

/// One request on `stream`, its response read whole (the reference server sends
/// Content-Length on every Ack).
fn exchange(stream: &mut std::net::TcpStream, head: &str, body: &[u8]) -> String {
    use std::io::{Read, Write};
    stream.write_all(head.as_bytes()).expect("send head");
    stream.write_all(body).expect("send body");
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf).expect("read");
        assert!(n > 0, "the recorder closed the connection");
        got.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&got).into_owned()
}

#[test]
fn ctrl_c_writes_the_session_a_client_left_open() {
    use std::io::{BufRead, BufReader};
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let storage = tempfile::tempdir().expect("tempdir");
    let server = spawn_reference(&runtime, storage.path(), None);
    let out = tempfile::tempdir().expect("tempdir");
    let mut recorder = std::process::Command::new(env!("CARGO_BIN_EXE_bitspec"))
        .args([
            "record",
            "--listen",
            "127.0.0.1:0",
            "--upstream",
            &server.base_url(),
            "--out",
        ])
        .arg(out.path())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("bitspec record starts");
    let mut log = BufReader::new(recorder.stderr.take().expect("stderr"));
    let mut first = String::new();
    log.read_line(&mut first)
        .expect("the recorder says where it listens");
    let address = first
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .expect("an address")
        .to_owned();

    let mut client = std::net::TcpStream::connect(&address).expect("connect");
    client
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let created = exchange(
        &mut client,
        &format!(
            "BITS_POST /left-open.bin HTTP/1.1\r\nHost: {address}\r\nBITS-Packet-Type: Create-Session\r\nBITS-Supported-Protocols: {{7df0354d-249b-430f-820d-3d2a9bef4931}}\r\nContent-Length: 0\r\n\r\n"
        ),
        b"",
    );
    let session = created
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("BITS-Session-Id")
                .then(|| value.trim().to_owned())
        })
        .expect("a session id");
    let body = bitspec::shared::upload_data::range(3, 0, 99);
    let fragment = exchange(
        &mut client,
        &format!(
            "BITS_POST /left-open.bin HTTP/1.1\r\nHost: {address}\r\nBITS-Packet-Type: Fragment\r\nBITS-Session-Id: {session}\r\nContent-Range: bytes 0-99/200\r\nContent-Length: 100\r\n\r\n"
        ),
        &body,
    );
    assert!(fragment.starts_with("HTTP/1.1 200"), "{fragment}");
    drop(client);

    let interrupted = std::process::Command::new("kill")
        .args(["-INT", &recorder.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(interrupted.success());
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = recorder.try_wait().expect("wait") {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = recorder.kill();
            panic!("bitspec record did not stop on SIGINT");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status}");
    let yaml = std::fs::read_to_string(out.path().join("recorded-001.yaml"))
        .expect("the open session is written");
    assert!(yaml.contains("file: { size: 200, seed: 3 }"), "{yaml}");
    assert!(yaml.contains("range: 0-99"), "{yaml}");
    let reports = tempfile::tempdir().expect("tempdir");
    let check = bitspec(
        &["check", "--scenarios", &out.path().to_string_lossy()],
        reports.path(),
    );
    assert_eq!(check.status.code(), Some(0), "{}", text(&check));
}

#[test]
fn an_https_upstream_is_recorded_through_its_certificate() {
    let names = vec!["127.0.0.1".to_string(), "localhost".to_string()];
    let certified = rcgen::generate_simple_self_signed(names).expect("certificate");
    let pem = tempfile::tempdir().expect("tempdir");
    let (cert, key) = (pem.path().join("cert.pem"), pem.path().join("key.pem"));
    std::fs::write(&cert, certified.cert.pem()).expect("write");
    std::fs::write(&key, certified.signing_key.serialize_pem()).expect("write");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let storage = tempfile::tempdir().expect("tempdir");
    let server = spawn_reference(&runtime, storage.path(), Some((cert.clone(), key)));
    assert!(server.base_url().starts_with("https://"));
    let out = tempfile::tempdir().expect("tempdir");
    let tls = TlsArgs {
        ca_certs: vec![cert],
        insecure: false,
    };
    let written = record_from(
        &runtime,
        &server.base_url(),
        tls,
        out.path(),
        &["--id", "fragment-upload-three-fragments"],
    );
    assert_eq!(written.len(), 1);
    check_and_replay(out.path(), None);
}

#[test]
fn a_recording_inside_a_suite_is_already_in_canonical_form() {
    let suite = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(suite.path().join("schema")).expect("mkdir");
    std::fs::write(suite.path().join("schema/scenario.schema.json"), "{}").expect("write");
    let out = suite.path().join("scenarios/recorded");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let written = record_through(&runtime, &out, &["--id", "fragment-upload-three-fragments"]);
    let yaml = std::fs::read_to_string(&written[0]).expect("scenario");
    assert!(
        yaml.starts_with("# yaml-language-server: $schema=../../schema/scenario.schema.json\n"),
        "{yaml}"
    );
    let dir = suite
        .path()
        .join("scenarios")
        .to_string_lossy()
        .into_owned();
    let fmt = bitspec(&["fmt", "--check", "--scenarios", &dir], suite.path());
    assert_eq!(fmt.status.code(), Some(0), "{}", text(&fmt));
}
