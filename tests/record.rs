//! Record mode: `bitspec record` in front of the reference server turns the runner's own
//! exchanges into scenarios that `bitspec check` accepts and that pass when replayed
//! against a fresh reference server.

mod support;

use bitspec::record::{RecordArgs, Recorder};
use std::path::{Path, PathBuf};
use std::time::Duration;
use support::{bitspec, text};

fn spawn_reference(
    runtime: &tokio::runtime::Runtime,
    root: &Path,
) -> bitspec_server::RunningServer {
    let config = bitspec_server::Config {
        listen: "127.0.0.1:0".parse().expect("address"),
        root: root.to_path_buf(),
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
    let server = spawn_reference(runtime, storage.path());
    let args = RecordArgs {
        listen: "127.0.0.1:0".into(),
        upstream: server.base_url(),
        out: out.to_path_buf(),
        sessions: Some(1),
        max_seed: 64,
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
    let server = spawn_reference(&runtime, storage.path());
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
