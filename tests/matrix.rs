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
