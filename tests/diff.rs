//! Differential mode: two servers, the same scenarios, their Acks compared header by header.

mod support;

use support::{bitspec, double, text};

fn spawn_reference(
    runtime: &tokio::runtime::Runtime,
    dir: &std::path::Path,
    adjust: impl FnOnce(&mut bitspec_server::Config),
) -> bitspec_server::RunningServer {
    let mut config = bitspec_server::Config {
        listen: "127.0.0.1:0".parse().expect("address"),
        root: dir.to_path_buf(),
        ..bitspec_server::Config::default()
    };
    adjust(&mut config);
    runtime
        .block_on(bitspec_server::spawn(config))
        .expect("reference server starts")
}

#[test]
fn a_wrong_server_differs_from_the_reference_by_the_missing_header() {
    let server = double::start(double::Bug::NoReceivedRange);
    let reports = tempfile::tempdir().expect("tempdir");
    let dir = reports.path().to_string_lossy().into_owned();
    let out = bitspec(
        &[
            "diff",
            "--target",
            &server.url,
            "--id",
            "fragment-upload-three-fragments",
            "--report-dir",
            &dir,
        ],
        reports.path(),
    );
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(
        all.contains("step 2 (Fragment): BITS-Received-Content-Range: A absent | B 1000"),
        "{all}"
    );
    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(reports.path().join("diff.json")).expect("diff.json"),
    )
    .expect("JSON");
    assert!(
        json["differences"]
            .as_array()
            .is_some_and(|d| d.iter().any(|d| d["what"] == "BITS-Received-Content-Range"))
    );
}

#[test]
fn two_servers_that_behave_alike_show_no_difference_and_two_readings_do() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let (d1, d2, d3) = (
        tempfile::tempdir().expect("dir"),
        tempfile::tempdir().expect("dir"),
        tempfile::tempdir().expect("dir"),
    );
    let a = spawn_reference(&runtime, d1.path(), |_| {});
    let b = spawn_reference(&runtime, d2.path(), |_| {});
    let c = spawn_reference(&runtime, d3.path(), |c| {
        c.error_header = bitspec_server::ErrorHeader::BitsError
    });
    let reports = tempfile::tempdir().expect("tempdir");
    let dir = reports.path().to_string_lossy().into_owned();

    let out = bitspec(
        &[
            "diff",
            "--target",
            &a.base_url(),
            "--against",
            &b.base_url(),
            "--packet",
            "fragment",
            "--report-dir",
            &dir,
        ],
        reports.path(),
    );
    let all = text(&out);
    assert_eq!(
        out.status.code(),
        Some(0),
        "session ids, dates and the like are not differences:\n{all}"
    );
    assert!(all.contains("0 difference(s)"), "{all}");

    let out = bitspec(
        &[
            "diff",
            "--target",
            &a.base_url(),
            "--against",
            &c.base_url(),
            "--id",
            "fragment-unknown-session",
            "--report-dir",
            &dir,
        ],
        reports.path(),
    );
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(
        all.contains("BITS-Error-Code: A 0x8020001F | B absent"),
        "{all}"
    );
    assert!(all.contains("BITS-Error: A absent | B 0x8020001F"), "{all}");
    for server in [a, b, c] {
        runtime.block_on(server.shutdown());
    }
}
