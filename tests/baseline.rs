//! Baselines: known deviations are expected failures (exit 0), new failures still
//! fail, a baselined scenario that passes is flagged, and --update-baseline writes them.

mod support;

use support::{bitspec, double, text};

const SCENARIO: &str = "fragment-upload-three-fragments";
const OTHER: &str = "ping-ack";

#[test]
fn a_baselined_failure_is_expected_and_a_passing_one_is_flagged() {
    let server = double::start(double::Bug::NoReceivedRange);
    let dir = tempfile::tempdir().expect("tempdir");
    let baseline = dir.path().join("baseline.yaml");
    std::fs::write(
        &baseline,
        format!("deviations:\n  - id: {SCENARIO}\n    reason: the double omits BITS-Received-Content-Range\n  - id: {OTHER}\n    reason: stale entry\n"),
    )
    .expect("write baseline");
    let out = bitspec(
        &[
            "run",
            "--target",
            &server.url,
            "--id",
            SCENARIO,
            "--id",
            OTHER,
            "--baseline",
            &baseline.to_string_lossy(),
        ],
        dir.path(),
    );
    let all = text(&out);
    assert_eq!(
        out.status.code(),
        Some(0),
        "a known deviation is not a failure:\n{all}"
    );
    assert!(all.contains("1 known deviation (baseline)"), "{all}");
    assert!(
        all.contains(&format!(
            "baseline: {OTHER} now passes: remove it from the baseline"
        )),
        "{all}"
    );
    assert!(all.trim_end().ends_with("1 passed, 0 failed"), "{all}");

    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("results.json")).expect("results"),
    )
    .expect("JSON");
    let by_id = |id: &str| {
        json["scenarios"]
            .as_array()
            .expect("array")
            .iter()
            .find(|s| s["id"] == id)
            .cloned()
            .expect("outcome")
    };
    assert_eq!(by_id(SCENARIO)["baseline"]["state"], "expected-failure");
    assert_eq!(by_id(OTHER)["baseline"]["state"], "now-passes");
}

#[test]
fn an_unlisted_failure_still_fails_and_update_writes_it() {
    let server = double::start(double::Bug::NoReceivedRange);
    let dir = tempfile::tempdir().expect("tempdir");
    let baseline = dir.path().join("baseline.yaml");
    std::fs::write(&baseline, "deviations: []\n").expect("write baseline");
    let run = |extra: &[&str]| {
        let mut args = vec!["run", "--target", server.url.as_str(), "--id", SCENARIO];
        args.extend_from_slice(extra);
        bitspec(&args, dir.path())
    };
    let path = baseline.to_string_lossy().into_owned();
    let out = run(&["--baseline", &path]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));

    let out = run(&["--baseline", &path, "--update-baseline"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let written = std::fs::read_to_string(&baseline).expect("baseline written");
    assert!(written.contains(SCENARIO), "{written}");
    assert!(
        written.contains("BITS-Received-Content-Range"),
        "the reason names the first mismatch: {written}"
    );

    let out = run(&["--baseline", &path]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "the updated baseline accepts the deviation:\n{}",
        text(&out)
    );
}

#[test]
fn a_malformed_baseline_is_a_located_usage_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let baseline = dir.path().join("baseline.yaml");
    std::fs::write(&baseline, "deviations:\n  - id: x\n    reson: typo\n").expect("write");
    let out = bitspec(
        &[
            "run",
            "--id",
            OTHER,
            "--baseline",
            &baseline.to_string_lossy(),
        ],
        dir.path(),
    );
    let all = text(&out);
    assert_eq!(out.status.code(), Some(2), "{all}");
    assert!(all.contains("baseline.yaml:3:5"), "{all}");
}

#[test]
fn update_never_overwrites_a_baseline_it_cannot_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    let baseline = dir.path().join("baseline.yaml");
    let original =
        "deviations:\n  - id: x\n    reason: vendor bug 42, tracked in JIRA-1\n    reasn: typo\n";
    std::fs::write(&baseline, original).expect("write");
    let out = bitspec(
        &[
            "run",
            "--id",
            OTHER,
            "--baseline",
            &baseline.to_string_lossy(),
            "--update-baseline",
        ],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert_eq!(
        std::fs::read_to_string(&baseline).expect("read"),
        original,
        "the hand-written reasons survive"
    );
}
