//! Writing the report files, every format on every run.

use super::run_report::RunReport;
use super::{html, json, junit, markdown};
use std::path::Path;

/// Writes results.json, junit.xml, report.md and report.html into `dir`. Returns the
/// paths written and a message for each file that could not be.
pub fn write_all(dir: &Path, report: &RunReport) -> (Vec<String>, Vec<String>) {
    let mut written = Vec::new();
    let mut problems = Vec::new();
    let mut keep = |result: Result<String, String>| match result {
        Ok(path) => written.push(path),
        Err(e) => problems.push(e),
    };
    keep(json::write(dir, report.outcomes, report.target));
    keep(junit::to_xml(report).and_then(|text| write_atomic(dir, "junit.xml", &text)));
    keep(write_atomic(dir, "report.md", &markdown::render(report)));
    keep(write_atomic(dir, "report.html", &html::render(report)));
    (written, problems)
}

/// Writes `dir/name` beside and renames, so a reader never sees half a report.
pub fn write_atomic(dir: &Path, name: &str, text: &str) -> Result<String, String> {
    std::fs::create_dir_all(dir)
        .map_err(|e| format!("cannot create report directory {}: {e}", dir.display()))?;
    let path = dir.join(name);
    let partial = dir.join(format!(".{name}.partial"));
    std::fs::write(&partial, text)
        .map_err(|e| format!("cannot write {}: {e}", partial.display()))?;
    std::fs::rename(&partial, &path)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(path.display().to_string())
}
