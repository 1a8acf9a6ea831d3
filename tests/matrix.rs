//! `bitspec matrix`: the suite against three servers (the bundled reference server, the
//! reference server with a planted bug, and the test double with another) writes one
//! scenario x server table as Markdown, HTML (read back in headless Chromium) and JSON,
//! with each server's root causes.

mod support;

use bitspec_server::Fault;
use support::{bitspec, chromium, double, faulty_server, text};

#[test]
fn three_servers_make_one_table_in_three_formats() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let root = tempfile::tempdir().expect("tempdir");
    let faulty = faulty_server(&runtime, &[Fault::ErrorCodeDecimal], root.path());
    let double = double::start(double::Bug::NoReceivedRange);
    let reports = tempfile::tempdir().expect("tempdir");
    let dir = reports.path();
    let dir_arg = dir.to_string_lossy().into_owned();
    let faulty_target = format!("decimal={}", faulty.base_url());
    let double_target = format!("double={}", double.url);
    let out = bitspec(
        &[
            "matrix",
            "--target",
            &faulty_target,
            "--target",
            &double_target,
            "--packet",
            "ping",
            "--packet",
            "fragment",
            "--report-dir",
            &dir_arg,
        ],
        dir,
    );
    let all = text(&out);
    assert_eq!(out.status.code(), Some(0), "{all}");

    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("matrix.json")).expect("json"))
            .expect("JSON");
    let names: Vec<&str> = json["servers"]
        .as_array()
        .expect("servers")
        .iter()
        .filter_map(|s| s["name"].as_str())
        .collect();
    assert_eq!(names, ["bitspec-server", "decimal", "double"]);
    let rows = json["scenarios"].as_array().expect("scenarios");
    assert!(rows.len() > 20, "{} rows", rows.len());
    assert!(
        rows.iter()
            .all(|r| r["cells"].as_array().map(Vec::len) == Some(3))
    );
    let verdict = |row: &serde_json::Value, i: usize| {
        row["cells"][i]["verdict"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    // The reference server passes what the others fail.
    let three = rows
        .iter()
        .find(|r| r["name"] == "fragment::001-upload-three-fragments")
        .expect("row");
    assert_eq!(
        [verdict(three, 0), verdict(three, 2)],
        ["pass".to_owned(), "fail".to_owned()]
    );
    assert_eq!(three["cells"][2]["root_cause"], 1);
    let double_causes = json["servers"][2]["root_causes"]
        .as_array()
        .expect("causes");
    assert!(
        double_causes[0]["finding"]
            .as_str()
            .is_some_and(|f| f.contains("BITS-Received-Content-Range")),
        "{double_causes:#?}"
    );
    let decimal_causes = json["servers"][1]["root_causes"]
        .as_array()
        .expect("causes");
    assert!(
        decimal_causes[0]["finding"]
            .as_str()
            .is_some_and(|f| f.contains("in decimal")),
        "{decimal_causes:#?}"
    );

    let md = std::fs::read_to_string(dir.join("matrix.md")).expect("matrix.md");
    assert!(
        md.contains("| Scenario | Level | bitspec-server | decimal | double |"),
        "{md}"
    );
    assert!(
        md.contains("| fragment::001-upload-three-fragments | must | ok |"),
        "{md}"
    );
    assert!(md.contains("### double"), "{md}");

    let Some(dom) = chromium(&dir.join("matrix.html"), None, "matrix.html in Chromium") else {
        return;
    };
    let row = dom
        .split("<tr id=\"row-fragment-upload-three-fragments\">")
        .nth(1)
        .and_then(|rest| rest.split("</tr>").next())
        .expect("the row in the DOM");
    assert_eq!(row.matches("<td class=\"cell ").count(), 3, "{row}");
    assert!(row.contains("class=\"cell v-pass\""), "{row}");
    assert!(row.contains("class=\"cell v-fail\""), "{row}");
    assert!(dom.contains("id=\"root-causes\""));
    runtime.block_on(faulty.shutdown());
}

#[test]
fn a_target_without_a_name_is_bad_usage() {
    let reports = tempfile::tempdir().expect("tempdir");
    let out = bitspec(&["matrix", "--target", "just-a-name"], reports.path());
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("expected NAME=URL"), "{}", text(&out));
}

/// `--format json`: a `scenario` event per result and server, a `server` event per
/// server, then one `summary`; `--quiet`: one line.
#[test]
fn matrix_speaks_json_lines_and_can_be_quiet() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let root = tempfile::tempdir().expect("tempdir");
    let faulty = faulty_server(&runtime, &[Fault::ErrorCodeDecimal], root.path());
    let reports = tempfile::tempdir().expect("tempdir");
    let dir = reports.path();
    let dir_arg = dir.to_string_lossy().into_owned();
    let target = format!("decimal={}", faulty.base_url());
    let args = |extra: &[&'static str]| {
        let mut a = vec![
            "matrix".to_owned(),
            "--target".to_owned(),
            target.clone(),
            "--packet".to_owned(),
            "ping".to_owned(),
            "--report-dir".to_owned(),
            dir_arg.clone(),
        ];
        a.extend(extra.iter().map(|s| (*s).to_owned()));
        a
    };
    let json_args = args(&["--format", "json"]);
    let refs: Vec<&str> = json_args.iter().map(String::as_str).collect();
    let out = bitspec(&refs, dir);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let events: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let count = |kind: &str| events.iter().filter(|e| e["event"] == kind).count();
    let scenarios = count("scenario");
    assert!(scenarios >= 2 && scenarios % 2 == 0, "{events:#?}");
    assert_eq!(count("server"), 2);
    assert_eq!(count("summary"), 1);
    assert_eq!(
        events.last().map(|e| e["event"].clone()),
        Some("summary".into())
    );
    assert!(
        events
            .iter()
            .any(|e| e["event"] == "scenario" && e["server"] == "decimal")
    );

    let quiet_args = args(&["--quiet"]);
    let refs: Vec<&str> = quiet_args.iter().map(String::as_str).collect();
    let out = bitspec(&refs, dir);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    assert!(
        stdout.starts_with("matrix: 2 servers, 0 unreachable"),
        "{stdout}"
    );
    runtime.block_on(faulty.shutdown());
}
