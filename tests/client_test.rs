//! `bitspec client-test`: every client scenario passes against `bitspec upload` and
//! against the client double (tests/fixtures/client-double.sh, bash and curl) without a
//! bug, and for each scenario the double with the matching bug (`BUG=...`) fails it,
//! naming the rule.

mod support;

use std::path::Path;
use std::process::{Command, Output};

fn client_test(client: &str, filter: Option<&str>, reports: &Path) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_bitspec"));
    command
        .args(["client-test", "--timeout", "60", "--client", client])
        .arg("--report-dir")
        .arg(reports);
    if let Some(f) = filter {
        command.args(["--filter", f]);
    }
    command.output().expect("run bitspec client-test")
}

fn stdout(out: &Output) -> String {
    format!(
        "exit {:?}\n{}{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn bitspec_upload_passes_every_client_scenario() {
    let reports = tempfile::tempdir().expect("tempdir");
    let state = tempfile::tempdir().expect("tempdir");
    let client = format!(
        "{} upload {{file}} {{url}} --fragment 64K --retry-delay 0.05 --quiet --state-dir {}",
        env!("CARGO_BIN_EXE_bitspec"),
        state.path().display()
    );
    let out = client_test(&client, None, reports.path());
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(!text.contains("FAIL"), "{text}");
    let json = std::fs::read_to_string(reports.path().join("results.json")).expect("json");
    let results: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    let results = results["scenarios"].as_array().expect("a list");
    assert!(results.len() >= 25, "{json}");
    assert!(results.iter().all(|r| r["verdict"] == "pass"), "{json}");
}

/// The double, or `None` (reported as not run; a failure under .ci/run) without curl.
fn double(bug: &str) -> Option<String> {
    support::tool(&["curl"], "curl", "the bash+curl client double")?;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/client-double.sh");
    Some(format!(
        "BUG={bug} bash {} {{file}} {{url}}",
        script.display()
    ))
}

#[test]
fn the_double_without_a_bug_passes_every_client_scenario() {
    let reports = tempfile::tempdir().expect("tempdir");
    let Some(client) = double("none") else {
        return;
    };
    let out = client_test(&client, None, reports.path());
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains(" passed, 0 failed"), "{text}");
    assert!(!text.contains("FAIL "), "{text}");
}

/// Runs scenario `id` against the double with `bug`: it must fail, naming `rule`.
fn bug_fails(bug: &str, id: &str, rule: &str) {
    let reports = tempfile::tempdir().expect("tempdir");
    let Some(client) = double(bug) else {
        return;
    };
    let out = client_test(&client, Some(id), reports.path());
    let text = stdout(&out);
    // A MUST-level rule fails (exit 1); a SHOULD-level one warns (exit 0).
    // A MAY-level rule (a footnote on Windows behaviour) is only a note.
    if text.contains(&format!("ok    {id}")) {
        assert_eq!(out.status.code(), Some(0), "{bug}: {text}");
        assert!(
            text.contains(&format!("MAY {rule}")),
            "{bug} notes {rule}: {text}"
        );
        return;
    }
    let (code, word) = if text.contains(&format!("WARN  {id}")) {
        (0, "WARN")
    } else {
        (1, "FAIL")
    };
    assert_eq!(out.status.code(), Some(code), "{bug}: {text}");
    assert!(text.contains(&format!("{word}  {id}")), "{bug}: {text}");
    assert!(
        text.contains(rule),
        "{bug} must fail {id} naming {rule}: {text}"
    );
}
/// One test per client scenario: the double with the matching bug fails it, naming
/// the rule (the correct double and `bitspec upload` pass it, tested above).
macro_rules! each_bug_fails_its_scenario {
    ($($test:ident: $bug:literal fails $id:literal naming $rule:literal;)*) => {
        $(
            #[test]
            fn $test() {
                bug_fails($bug, $id, $rule);
            }
        )*
        /// Every scenario in scenarios/client/ has its bug test above.
        #[test]
        fn every_client_scenario_has_a_buggy_double_test() {
            let tested = [$($id),*];
            let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/client");
            for entry in std::fs::read_dir(&dir).expect("scenarios/client") {
                let name = entry.expect("entry").file_name().to_string_lossy().into_owned();
                let Some(number) = name.get(..3) else { continue };
                let id = format!("client-{number}");
                assert!(tested.contains(&id.as_str()), "{name} has no buggy-double test");
            }
        }
    };
}

each_bug_fails_its_scenario! {
    bug_001_stale_offset: "stale-offset" fails "client-001" naming "fragment-client-sequential-order";
    bug_002_ignore_416: "ignore-416" fails "client-002" naming "mcbup-3.1.5.2.4-client-416-continue-from-received";
    bug_003_ignore_received: "ignore-received" fails "client-003" naming "mcbup-3.1.5.1.4-client-resync-received-range";
    bug_004_no_shrink: "no-shrink" fails "client-004" naming "mcbup-3.1.5.2.4-client-413-smaller-fragments";
    bug_005_no_restart: "no-restart" fails "client-005" naming "mcbup-3.1.5.2.1-client-session-not-found-restart";
    bug_006_no_ping: "no-ping" fails "client-006" naming "mcbup-2.2.4-client-ping-new-connection";
    bug_007_retry_403: "retry-fatal" fails "client-007" naming "mcbup-3.1.5.2.1-client-403-to-higher-layer";
    bug_008_no_close_retry: "no-close-retry" fails "client-008" naming "ack-for-close-session-client-retry-5xx";
    bug_009_ignore_host_id: "ignore-host-id" fails "client-009" naming "mcbup-3.1.5.2.2-client-ping-host-id";
    bug_010_retry_too_large: "retry-fatal" fails "client-010" naming "mcbup-3.1.5.2.1-client-too-large-to-higher-layer";
    bug_011_skip_after_drop: "skip-after-drop" fails "client-011" naming "mcbup-3.1.5.1.4-client-content-range";
    bug_012_recreate_after_drop: "recreate-after-drop" fails "client-012" naming "mcbup-3.1.4.3-client-resume-same-session";
    bug_013_no_restart_on_ping: "no-restart" fails "client-013" naming "mcbup-3.1.5.2.1-client-session-not-found-restart";
    bug_014_no_restart_on_close: "no-restart" fails "client-014" naming "mcbup-3.1.5.2.1-client-session-not-found-restart";
    bug_015_retry_501: "retry-fatal" fails "client-015" naming "mcbup-3.1.5.2.1-client-501-uploads-disabled";
    bug_016_retry_invalidarg: "retry-fatal" fails "client-016" naming "mcbup-3.1.5.2.1-client-invalidarg-to-higher-layer";
    bug_017_retry_close_4xx: "retry-close-4xx" fails "client-017" naming "ack-for-close-session-client-no-retry-4xx";
    bug_018_ignore_protocol: "ignore-protocol" fails "client-018" naming "mcbup-3.1.5.2.2-client-verify-create-ack";
    bug_019_no_shrink: "no-shrink" fails "client-019" naming "mcbup-3.1.5.2.4-client-413-smaller-fragments";
    bug_020_shrink_below_min: "shrink-below-min" fails "client-020" naming "mcbup-6-16-client-min-fragment-5k";
    bug_021_range_off_by_one: "range-off-by-one" fails "client-021" naming "mcbup-3.1.5.1.4-client-content-range";
    bug_022_no_session_on_close: "no-session-on-close" fails "client-022" naming "mcbup-2.2.1.2-session-id-required-in-requests";
    bug_023_no_protocols: "no-protocols" fails "client-023" naming "mcbup-2.2.2.2-supported-protocols-required";
    bug_024_close_early: "close-early" fails "client-024" naming "mcbup-2.2.8-client-close-when-complete";
    bug_025_no_timeout: "no-timeout" fails "client-025" naming "mcbup-3.1.6.2-client-response-timeout";
    bug_026_fallback_now: "fallback-now" fails "client-026" naming "mcbup-2.2.3.2-client-fallback-timeout";
    bug_027_no_auth: "no-auth" fails "client-027" naming "mcbup-3.1.5.2.1-client-auth-challenge";
    bug_028_auth_loop: "auth-loop" fails "client-028" naming "mcbup-3.1.5.1.7-client-auth-refused";
    bug_029_no_reply_fetch: "no-reply-fetch" fails "client-029" naming "mcbup-3.1.5.1.8-client-download-reply";
    bug_030_reply_optional: "reply-optional" fails "client-030" naming "mcbup-3.1.5.2.4-client-reply-url-required";
    bug_031_no_cancel: "no-cancel" fails "client-031" naming "mcbup-3.1.5.1.6-client-cancel-session";
    bug_032_no_cancel_retry: "no-cancel-retry" fails "client-032" naming "ack-for-cancel-session-client-retry-5xx";
    bug_033_cancel_retry_all: "cancel-retry-all" fails "client-033" naming "ack-for-cancel-session-client-retry-5xx";
}

#[test]
fn a_client_template_without_placeholders_is_bad_input() {
    let reports = tempfile::tempdir().expect("tempdir");
    let out = client_test("true", None, reports.path());
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
}

/// Writes `yaml` as the only scenario of a folder and runs client-test over it.
fn client_test_on(yaml: &str) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("bad.yaml"), yaml).expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_bitspec"))
        .args([
            "client-test",
            "--client",
            "true {url} {file}",
            "--scenarios",
        ])
        .arg(dir.path())
        .arg("--report-dir")
        .arg(dir.path())
        .output()
        .expect("run bitspec client-test");
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    stdout(&out)
}

#[test]
fn misshapen_client_scenarios_are_refused_at_their_line_and_column() {
    let head = "id: client-x\ntitle: bad\nfile_size: 100\n";
    let text = client_test_on(&format!(
        "{head}expect:\n  - after: {{packet: fragment}}\n    next: fragment\n    requirement: a\n  - next: fragment\n    requirement: b\n"
    ));
    assert!(
        text.contains("bad.yaml:8:5: expect[1]: `after` is missing"),
        "{text}"
    );
    let text = client_test_on(&format!(
        "{head}expect:\n  - every: content-range\n    after: {{packet: ping}}\n    requirement: a\n"
    ));
    assert!(text.contains("bad.yaml:5:5: expect[0]: `every`"), "{text}");
    let text = client_test_on(&format!(
        "{head}script:\n  - on: {{packet: ping, final: true}}\n    answer: {{drop: true}}\nexpect:\n  - exit: failure\n    requirement: a\n"
    ));
    assert!(
        text.contains("bad.yaml:5:5: script[0]: `final: true` names a Fragment"),
        "{text}"
    );
    let text = client_test_on(&format!(
        "{head}script:\n  - on: {{packet: fragment}}\n    answer: {{delay: 5}}\nexpect:\n  - exit: failure\n    requirement: a\n"
    ));
    assert!(
        text.contains("bad.yaml:6:14") && text.contains("unknown field `delay`"),
        "{text}"
    );
}

#[test]
fn docs_list_every_client_scenario() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let docs = std::fs::read_to_string(root.join("docs/client-scenarios.md")).expect("docs");
    for entry in std::fs::read_dir(root.join("scenarios/client")).expect("scenarios/client") {
        let text = std::fs::read_to_string(entry.expect("entry").path()).expect("scenario");
        let id = text
            .lines()
            .find_map(|l| l.strip_prefix("id: "))
            .expect("an id line");
        assert!(
            docs.contains(&format!("`{id}`")),
            "docs/client-scenarios.md lacks {id}"
        );
    }
}
