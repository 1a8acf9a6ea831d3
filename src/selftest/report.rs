//! The self-test's report files: the control run's usual reports with the self-test
//! added to each (the reporters take the self-test results as data).

use crate::report::RunReport;
use crate::report::selftest::markdown;
use crate::shared::selftest::SelftestRun;
use std::path::Path;

/// Writes the usual reports of the control run, with the self-test added to
/// `results.json`, `report.md`, `report.html` and `junit.xml`.
pub fn write_all(dir: &Path, run: &SelftestRun) -> (Vec<String>, Vec<String>) {
    let report = RunReport {
        outcomes: &run.control,
        target: &run.target,
        profile: &run.summary.profile,
        profile_description: "control run of the self-test (no fault)",
        strict: true,
        coverage: None,
    };
    let (mut written, mut problems) = crate::report::write_all(dir, &report);
    let markdown = format!(
        "{}\n{}",
        crate::report::markdown::render(&report).trim_end(),
        markdown(&run.summary)
    );
    let json = crate::report::json::selftest_json(&run.control, &run.target, &run.summary)
        .map_err(|e| format!("cannot encode results: {e}"));
    let junit = crate::report::junit::selftest_xml(&report, &run.summary);
    let html = crate::report::html::render_selftest(&report, &run.summary);
    for result in [
        json.and_then(|text| crate::report::write_atomic(dir, "results.json", &text)),
        crate::report::write_atomic(dir, "report.md", &markdown),
        junit.and_then(|text| crate::report::write_atomic(dir, "junit.xml", &text)),
        crate::report::write_atomic(dir, "report.html", &html),
    ] {
        match result {
            Ok(path) if !written.contains(&path) => written.push(path),
            Ok(_) => {}
            Err(e) => problems.push(e),
        }
    }
    (written, problems)
}
