//! `bitspec client-test`: every client scenario passes against `bitspec upload`, and a
//! deliberately wrong client double (tests/fixtures/client-double.sh, bash and curl)
//! fails the scenario of each of its bugs, naming the rule.

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
    assert!(results.len() >= 10, "{json}");
    assert!(results.iter().all(|r| r["verdict"] == "pass"), "{json}");
}

/// The double, or a loud failure when bash or curl is missing.
fn double(bug: &str) -> String {
    for tool in ["bash", "curl"] {
        let found = Command::new(tool).arg("--version").output().is_ok();
        assert!(
            found,
            "tests/client_test.rs needs `{tool}` for the client double"
        );
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/client-double.sh");
    format!("BUG={bug} bash {} {{file}} {{url}}", script.display())
}

#[test]
fn the_double_without_a_bug_passes_the_plain_scenarios() {
    let reports = tempfile::tempdir().expect("tempdir");
    for id in ["client-001", "client-002", "client-004", "client-005"] {
        let out = client_test(&double("none"), Some(id), reports.path());
        assert_eq!(out.status.code(), Some(0), "{id}: {}", stdout(&out));
    }
}

#[test]
fn each_bug_of_the_double_fails_its_scenario_naming_the_rule() {
    let reports = tempfile::tempdir().expect("tempdir");
    for (bug, id, rule) in [
        (
            "ignore-416",
            "client-002",
            "mcbup-3.1.5.2.4-client-416-continue-from-received",
        ),
        (
            "no-shrink",
            "client-004",
            "mcbup-3.1.5.2.4-client-413-smaller-fragments",
        ),
        (
            "no-restart",
            "client-005",
            "mcbup-3.1.5.2.1-client-session-not-found-restart",
        ),
        // The double has no Host-Id support at all.
        ("none", "client-009", "mcbup-3.1.5.2.2-client-ping-host-id"),
    ] {
        let out = client_test(&double(bug), Some(id), reports.path());
        let text = stdout(&out);
        // A SHOULD-level rule warns (exit 0); a MUST-level one fails.
        let (code, word) = if bug == "no-shrink" {
            (0, "WARN")
        } else {
            (1, "FAIL")
        };
        assert_eq!(out.status.code(), Some(code), "{bug}: {text}");
        assert!(text.contains(&format!("{word}  {id}")), "{bug}: {text}");
        assert!(text.contains(rule), "{bug} names {rule}: {text}");
    }
}

#[test]
fn a_client_template_without_placeholders_is_bad_input() {
    let reports = tempfile::tempdir().expect("tempdir");
    let out = client_test("true", None, reports.path());
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
}
