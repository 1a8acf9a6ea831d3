//! Root causes first: against the reference server with two planted bugs that each
//! break many scenarios (the Create-Session Ack names its session id header
//! `BITS-SessionId`; error codes are written in decimal), the console, report.md,
//! report.html and results.json open with the two findings, ranked, and the scenarios
//! that only follow from the first (their Create-Session hit it) are shown as such.

mod support;

use bitspec_server::Fault;
use support::{bitspec, chromium, faulty_server, text};

#[test]
fn two_planted_bugs_are_the_first_two_root_causes_everywhere() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let root = tempfile::tempdir().expect("tempdir");
    let server = faulty_server(
        &runtime,
        &[Fault::SessionIdHeaderTypo, Fault::ErrorCodeDecimal],
        root.path(),
    );
    let reports = tempfile::tempdir().expect("tempdir");
    let dir = reports.path();
    let out = bitspec(
        &[
            "run",
            "--target",
            &server.base_url(),
            "--profile",
            "reference",
        ],
        dir,
    );
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    let typo = "Create-Session: header BITS-Session-Id absent";
    let decimal = "error header BITS-Error-Code carries the expected HRESULT in decimal";

    // Console: the ranked list comes before the failures, one line per finding.
    let causes_at = all.find("root causes: ").expect("root causes printed");
    let failures_at = all
        .find("failures and warnings:")
        .expect("failures printed");
    assert!(causes_at < failures_at, "{all}");
    let line = |rank: usize| {
        all[causes_at..]
            .lines()
            .find(|l| l.starts_with(&format!("  {rank}. ")))
            .unwrap_or_default()
            .to_owned()
    };
    assert!(
        line(1).contains(typo) && line(1).contains("only follow from it"),
        "{}",
        line(1)
    );
    assert!(line(2).contains(decimal), "{}", line(2));
    assert!(all.contains(": follows from root cause 1"), "{all}");

    // results.json: the same list, as data.
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("results.json")).expect("json"))
            .expect("JSON");
    let causes = json["root_causes"].as_array().expect("root_causes");
    let count = |i: usize| causes[i]["scenarios"].as_array().map_or(0, Vec::len);
    assert!(
        causes[0]["finding"]
            .as_str()
            .unwrap_or_default()
            .contains(typo)
    );
    assert!(
        causes[1]["finding"]
            .as_str()
            .unwrap_or_default()
            .contains(decimal)
    );
    assert!(count(0) >= 20 && count(1) >= 5, "{causes:#?}");
    assert!(
        causes[0]["following"]
            .as_array()
            .is_some_and(|f| !f.is_empty())
    );

    // report.md: root causes before the failures and the tables.
    let md = std::fs::read_to_string(dir.join("report.md")).expect("report.md");
    let at = |needle: &str| {
        md.find(needle)
            .unwrap_or_else(|| panic!("{needle} in:\n{md}"))
    };
    assert!(at("## Root causes") < at("## By packet type"));
    assert!(at("## Root causes") < at("## Failures"));
    assert!(at(typo) < at(decimal));
    assert!(md.contains("Follows from [root cause 1]"));

    // report.html, as Chromium reads it.
    let Some(dom) = chromium(
        &dir.join("report.html"),
        None,
        "report.html's root causes in Chromium",
    ) else {
        runtime.block_on(server.shutdown());
        return;
    };
    let html_at = |needle: &str| {
        dom.find(needle)
            .unwrap_or_else(|| panic!("{needle} in the DOM"))
    };
    assert!(html_at("id=\"root-causes\"") < html_at("id=\"failures\""));
    assert!(html_at("id=\"root-cause-1\"") < html_at(typo));
    assert!(html_at(typo) < html_at("id=\"root-cause-2\""));
    assert!(dom.contains("follows from <a href=\"#root-cause-1\">root cause 1</a>"));
    runtime.block_on(server.shutdown());
}
