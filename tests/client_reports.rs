//! The reports of `bitspec client-test`, read the way their readers read them: the
//! console, results.json, junit.xml (against the JUnit schema, xmllint), report.md and
//! report.html (in headless Chromium), for a correct client (`bitspec upload`) and for
//! the bash+curl double with a bug; the graded verdicts (a SHOULD miss warns, fails
//! with `--strict`), the readings a client followed, and `bitspec check` on client
//! scenarios, good and bad.

mod support;

use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};
use support::{text, validate_junit};

fn client_test(client: &str, extra: &[&str], reports: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bitspec"))
        .args(["client-test", "--timeout", "60", "--client", client])
        .arg("--report-dir")
        .arg(reports)
        .args(extra)
        .current_dir(support::root())
        .env("NO_COLOR", "1")
        .output()
        .expect("run bitspec client-test")
}

fn bitspec_check(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bitspec"))
        .arg("check")
        .args(args)
        .current_dir(support::root())
        .env("NO_COLOR", "1")
        .output()
        .expect("run bitspec check")
}

/// The double, or `None` (reported as not run; a failure under .ci/run) without curl.
fn double(bug: &str) -> Option<String> {
    support::tool(&["curl"], "curl", "the bash+curl client double")?;
    let script = support::root().join("tests/fixtures/client-double.sh");
    Some(format!(
        "BUG={bug} bash {} {{file}} {{url}}",
        script.display()
    ))
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn results(dir: &Path) -> Value {
    serde_json::from_str(&read(&dir.join("results.json"))).expect("results.json is JSON")
}

fn scenario<'a>(results: &'a Value, id: &str) -> &'a Value {
    results["scenarios"]
        .as_array()
        .expect("scenarios")
        .iter()
        .find(|s| s["id"] == id)
        .unwrap_or_else(|| panic!("no {id} in {results}"))
}

/// The part of `dom` from the element opening with `start` to the next `end`.
fn element<'a>(dom: &'a str, start: &str, end: &str) -> &'a str {
    let at = dom
        .find(start)
        .unwrap_or_else(|| panic!("no {start} in the DOM:\n{dom}"));
    let len = dom[at..].find(end).unwrap_or(dom.len() - at);
    &dom[at..at + len]
}

const RESYNC: &str = "mcbup-3.1.5.2.4-client-416-continue-from-received";
const SHRINK: &str = "mcbup-3.1.5.2.4-client-413-smaller-fragments";
/// The expected and the sent Content-Range of the double that ignores a 416
/// (scenario 002: 416 with offset 1000 on the second 64 KiB Fragment).
const DIFF_EXPECTED: &str = "    -Content-Range: bytes 1000-66535/200000";
const DIFF_SENT: &str = "    +Content-Range: bytes 131072-196607/200000";

#[test]
fn a_correct_client_gets_passing_reports_about_a_client() {
    let reports = tempfile::tempdir().expect("tempdir");
    let dir = reports.path();
    let state = tempfile::tempdir().expect("tempdir");
    let client = format!(
        "{} upload {{file}} {{url}} --fragment 64K --retry-delay 0.05 --quiet --state-dir {}",
        env!("CARGO_BIN_EXE_bitspec"),
        state.path().display()
    );
    let out = client_test(&client, &[], dir);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(0), "{all}");
    assert!(all.contains("running "), "{all}");
    assert!(
        all.contains(" client scenarios against the client `"),
        "{all}"
    );
    for name in ["results.json", "junit.xml", "report.md", "report.html"] {
        let path = dir.join(name);
        assert!(
            all.contains(&format!("report: {}", path.display())),
            "console names {name}:\n{all}"
        );
    }

    let json = results(dir);
    assert_eq!(json["subject"], "client", "{json}");
    assert_eq!(json["target"], client.as_str());
    let scenarios = json["scenarios"].as_array().expect("scenarios");
    assert!(scenarios.len() >= 10, "{json}");
    assert_eq!(json["totals"]["passed"], scenarios.len());
    assert_eq!(json["totals"]["failed"], 0);
    for s in scenarios {
        assert_eq!(s["verdict"], "pass", "{s}");
        assert_eq!(s["subject"], "client", "{s}");
        assert!(
            !s["requirements"].as_array().expect("list").is_empty(),
            "{s}"
        );
        // Every request the client sent is a step, with the scripted answer.
        let steps = s["steps"].as_array().expect("steps");
        assert!(!steps.is_empty(), "{s}");
        assert_eq!(steps[0]["request"]["method"], "BITS_POST", "{s}");
    }
    let resync = scenario(&json, "client-002-416-resync");
    assert_eq!(resync["spec"], "MC-BUP 3.1.5.2.4");
    assert_eq!(resync["level"], "must");
    let answered_416 = resync["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .any(|s| s["response"]["status"] == 416);
    assert!(
        answered_416,
        "the scripted 416 is in the transcript: {resync}"
    );

    let junit_path = dir.join("junit.xml");
    if let Err(e) = validate_junit(&junit_path) {
        panic!("junit.xml is not valid JUnit:\n{e}\n{}", read(&junit_path));
    }
    let junit = read(&junit_path);
    assert!(
        junit.contains("<property name=\"subject\" value=\"client\"/>"),
        "{junit}"
    );
    assert!(
        junit.contains("<testcase name=\"client-002-416-resync\" classname=\"client\""),
        "{junit}"
    );
    assert!(!junit.contains("<failure"), "{junit}");

    let md = read(&dir.join("report.md"));
    assert!(
        md.starts_with("# bitspec client conformance report\n"),
        "{md}"
    );
    assert!(md.contains("- **Client under test:** "), "{md}");
    assert!(!md.contains("**Target:**"), "{md}");
    assert!(md.contains("## Failures\n\nNone."), "{md}");

    let html = dir.join("report.html");
    let Some(dom) = support::chromium(&html, None, "the client report.html in Chromium") else {
        return;
    };
    assert!(
        dom.contains("<title>bitspec client conformance report: "),
        "{dom}"
    );
    let subject = element(&dom, "<dd id=\"subject\">", "</dd>");
    assert!(subject.contains(" upload {file} {url} "), "{subject}");
}

#[test]
fn a_buggy_client_fails_with_the_rule_level_citation_and_request_diff_in_every_report() {
    let reports = tempfile::tempdir().expect("tempdir");
    let dir = reports.path();
    let Some(client) = double("ignore-416") else {
        return;
    };
    let out = client_test(&client, &["--filter", "client-002"], dir);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(all.contains("FAIL  client-002-416-resync"), "{all}");
    // Failures first, each with where the expectation is written, the rule's id and
    // level, its MC-BUP section, and the request expected versus sent.
    let failures = &all[all.find("failures and warnings:").expect("failures")..];
    let line = format!(
        "scenarios/client/002-416-resync.yaml:9:5: after fragment #2 the next Fragment starts at offset 131072, not at 1000 (MC-BUP 3.1.5.2.4) [MUST {RESYNC}]"
    );
    assert!(failures.contains(&line), "{all}");
    assert!(
        failures.contains("  request diff (- expected, + sent):"),
        "{all}"
    );
    assert!(failures.contains(DIFF_EXPECTED), "{all}");
    assert!(failures.contains(DIFF_SENT), "{all}");
    assert!(
        failures.contains("the scripted server answered: HTTP/1.1 416 Range Not Satisfiable"),
        "{all}"
    );
    assert!(all.trim_end().ends_with("0 passed, 1 failed"), "{all}");

    let json = results(dir);
    assert_eq!(json["totals"]["failed"], 1, "{json}");
    let resync = scenario(&json, "client-002-416-resync");
    assert_eq!(resync["verdict"], "fail");
    let mismatches: Vec<&Value> = resync["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .flat_map(|s| s["mismatches"].as_array().expect("list"))
        .collect();
    // The rule, and then the whole upload: the file did not arrive intact.
    assert_eq!(mismatches.len(), 2, "{resync}");
    assert_eq!(
        mismatches[1]["graded"]["requirement"],
        "mcbup-2.2.8-client-close-when-complete"
    );
    assert_eq!(mismatches[0]["graded"]["requirement"], RESYNC);
    assert_eq!(mismatches[0]["graded"]["level"], "must");
    assert_eq!(mismatches[0]["header"], "Content-Range");
    assert_eq!(mismatches[0]["actual"], "bytes 131072-196607/200000");
    assert_eq!(mismatches[0]["loc"]["line"], 9);
    let causes = json["root_causes"].as_array().expect("root causes");
    assert_eq!(causes.len(), 1, "{json}");

    let junit_path = dir.join("junit.xml");
    if let Err(e) = validate_junit(&junit_path) {
        panic!("junit.xml is not valid JUnit:\n{e}\n{}", read(&junit_path));
    }
    let junit = read(&junit_path);
    assert!(junit.contains("type=\"fail\""), "{junit}");
    assert!(junit.contains(&format!("[MUST {RESYNC}]")), "{junit}");
    assert!(junit.contains(DIFF_EXPECTED), "{junit}");

    let md = read(&dir.join("report.md"));
    assert!(
        md.contains("### FAIL client-002-416-resync: After a 416"),
        "{md}"
    );
    assert!(md.contains(DIFF_SENT), "{md}");
    assert!(
        md.contains("\\[MUST mcbup-3.1.5.2.4-client-416-continue-from-received\\]"),
        "{md}"
    );

    let html = dir.join("report.html");
    let Some(dom) = support::chromium(&html, None, "the client report.html in Chromium") else {
        return;
    };
    let section = element(&dom, "<section id=\"failures\">", "</section>");
    let problem = element(section, "<details class=\"problem fail\"", "</details>");
    assert!(
        problem.contains(" open=\"\""),
        "failures are open:\n{problem}"
    );
    assert!(
        problem.contains(&format!("<span class=\"del\">{DIFF_EXPECTED}</span>")),
        "the expected request line is marked:\n{problem}"
    );
    assert!(problem.contains(RESYNC), "{problem}");
}

#[test]
fn a_should_miss_warns_and_fails_only_with_strict() {
    let reports = tempfile::tempdir().expect("tempdir");
    let dir = reports.path();
    let Some(client) = double("no-shrink") else {
        return;
    };
    let out = client_test(&client, &["--filter", "client-004"], dir);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(0), "{all}");
    assert!(all.contains("WARN  client-004-413-shrink"), "{all}");
    assert!(all.contains(&format!("[SHOULD {SHRINK}]")), "{all}");
    assert!(
        all.contains("1 SHOULD-level warning (failures with --strict)"),
        "{all}"
    );
    let json = results(dir);
    assert_eq!(json["totals"]["warnings"], 1, "{json}");
    assert_eq!(scenario(&json, "client-004-413-shrink")["verdict"], "warn");
    let md = read(&dir.join("report.md"));
    assert!(md.contains("### WARN client-004-413-shrink"), "{md}");

    let Some(client) = double("no-shrink") else {
        return;
    };
    let out = client_test(&client, &["--filter", "client-004", "--strict"], dir);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(all.contains("FAIL  client-004-413-shrink"), "{all}");
    assert_eq!(results(dir)["totals"]["failed"], 1);
}

#[test]
fn the_reading_a_client_followed_is_accepted_and_reported() {
    // The double opens a new connection for every request and never Pings before a
    // Fragment there: MC-BUP 2.2.4 only says SHOULD (where connection-oriented
    // authentication is expected), so the plain scenarios pass and the reading is named.
    let reports = tempfile::tempdir().expect("tempdir");
    let dir = reports.path();
    let Some(client) = double("none") else {
        return;
    };
    let out = client_test(&client, &["--filter", "client-002"], dir);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(0), "{all}");
    assert!(
        all.contains(
            "readings the client followed: Ping on the new connection after fragment #2 -> went on without a Ping (1x)"
        ),
        "{all}"
    );
    let json = results(dir);
    let readings: Vec<&Value> = scenario(&json, "client-002-416-resync")["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .flat_map(|s| s["readings"].as_array().expect("list"))
        .collect();
    assert_eq!(readings.len(), 1, "{json}");
    assert_eq!(readings[0]["reading"], "went on without a Ping");
    assert!(
        readings[0]["cite"]
            .as_str()
            .is_some_and(|c| c.starts_with("MC-BUP 2.2.4")),
        "{json}"
    );
    let md = read(&dir.join("report.md"));
    assert!(md.contains("## Readings the client followed"), "{md}");
}

#[test]
fn json_lines_name_the_client() {
    let reports = tempfile::tempdir().expect("tempdir");
    let Some(client) = double("ignore-416") else {
        return;
    };
    let out = client_test(
        &client,
        &["--filter", "client-002", "--format", "json", "--quiet"],
        reports.path(),
    );
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    let events: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(events.len(), 3, "{all}");
    assert_eq!(events[0]["event"], "start");
    assert_eq!(events[0]["subject"], "client");
    assert_eq!(events[1]["verdict"], "fail");
    assert_eq!(events[2]["event"], "summary");
    assert_eq!(events[2]["exit_code"], 1);
}

#[test]
fn check_validates_the_shipped_client_scenarios() {
    let out = bitspec_check(&[]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(0), "{all}");
    assert!(all.contains(" client scenario files valid"), "{all}");
    let out = bitspec_check(&["scenarios/client"]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(0), "{all}");
    assert!(!all.contains(" scenario files valid\n1"), "{all}");
}

/// `bitspec check` of one bad client scenario (written in a `client/` folder beside
/// the catalogue): exit 2 and the error's `file:line:column`, message and help.
fn check_bad(yaml: &str, line: u32, column: u32, message: &str, help: Option<&str>) {
    let suite = tempfile::tempdir().expect("tempdir");
    std::fs::copy(
        support::root().join("scenarios/requirements.yaml"),
        suite.path().join("requirements.yaml"),
    )
    .expect("copy the catalogue");
    let client = suite.path().join("client");
    std::fs::create_dir(&client).expect("mkdir");
    let file = client.join("bad.yaml");
    std::fs::write(&file, yaml).expect("write");
    let out = bitspec_check(&[client.to_str().expect("utf-8 path")]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(2), "{all}");
    let at = format!("{}:{line}:{column}", file.display());
    assert!(all.contains(&at), "located at {at}:\n{all}");
    assert!(all.contains(message), "{message}:\n{all}");
    if let Some(help) = help {
        assert!(all.contains(help), "{help}:\n{all}");
    }
}

const HEAD: &str =
    "id: bad\ntitle: t\nfile_size: 1000\nexpect:\n  - after: {packet: fragment, nth: 2}\n";

#[test]
fn a_misspelled_key_is_located_with_a_suggestion() {
    check_bad(
        &format!("{HEAD}    nxt: fragment\n    requirement: {RESYNC}\n"),
        6,
        5,
        "unknown field `nxt`",
        Some("did you mean `next`?"),
    );
}

#[test]
fn a_value_of_the_wrong_type_is_located() {
    check_bad(
        &HEAD.replace("file_size: 1000", "file_size: lots"),
        3,
        12,
        "client scenario: invalid",
        None,
    );
}

#[test]
fn an_unknown_packet_type_suggests_the_closest() {
    check_bad(
        &format!(
            "{}    next: fragment\n    requirement: {RESYNC}\n",
            HEAD.replace("packet: fragment,", "packet: fragmnt,")
        ),
        5,
        21,
        "unknown variant `fragmnt`",
        Some("did you mean `fragment`?"),
    );
}

#[test]
fn an_unknown_requirement_is_located_with_a_suggestion() {
    check_bad(
        &format!(
            "{HEAD}    next: fragment\n    requirement: mcbup-3.1.5.2.4-client-416-continue-from-recieved\n"
        ),
        7,
        18,
        "requirement `mcbup-3.1.5.2.4-client-416-continue-from-recieved` is not in requirements.yaml",
        Some(&format!("did you mean `{RESYNC}`?")),
    );
}

#[test]
fn a_server_rule_cannot_grade_a_client() {
    check_bad(
        &format!("{HEAD}    next: fragment\n    requirement: mcbup-3.2.5.2.6-response-per-2.2.7\n"),
        7,
        18,
        "a rule on what the server answers: it cannot make a client fail",
        None,
    );
}

#[test]
fn a_must_expectation_needs_a_must_client_rule() {
    check_bad(
        &format!("{HEAD}    next: fragment\n    level: must\n    requirement: {SHRINK}\n"),
        8,
        18,
        &format!("graded at MUST level, but `{SHRINK}` is a SHOULD requirement"),
        Some("lower `level:` to `should`"),
    );
}
