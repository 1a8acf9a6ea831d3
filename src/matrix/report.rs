//! The interop matrix of `bitspec matrix` as `matrix.md`, `matrix.html` (one
//! self-contained page: inline CSS, no script, no external asset) and `matrix.json`.
//! Server-sent text reaches the cells (readings, reasons), so it is escaped as in
//! the run reports.

use super::{Matrix, Server};
use crate::report::console::root_causes_head;
use crate::report::html::esc;
use crate::report::markdown::text;
use crate::report::render::verdict_word;
use crate::report::write_atomic;
use std::fmt::Write;
use std::path::Path;

/// Writes matrix.md, matrix.html and matrix.json into `dir`: the paths written and
/// a message for each file that could not be.
pub fn write_all(dir: &Path, matrix: &Matrix) -> (Vec<String>, Vec<String>) {
    let json = serde_json::to_string_pretty(matrix).map_err(|e| e.to_string());
    let mut written = Vec::new();
    let mut problems = Vec::new();
    for result in [
        write_atomic(dir, "matrix.md", &markdown(matrix)),
        write_atomic(dir, "matrix.html", &html(matrix)),
        json.and_then(|j| write_atomic(dir, "matrix.json", &j)),
    ] {
        match result {
            Ok(path) => written.push(path),
            Err(e) => problems.push(e),
        }
    }
    (written, problems)
}

fn totals_text(s: &Server) -> String {
    match &s.problem {
        Some(p) if s.totals == crate::shared::outcome::Totals::default() => p.clone(),
        problem => {
            let t = &s.totals;
            let mut line = format!(
                "{} passed, {} failed, {} skipped",
                t.passed + t.warnings,
                t.failed + t.errors,
                t.skipped
            );
            if let Some(p) = problem {
                line.push_str(&format!("; {p}"));
            }
            line
        }
    }
}

/// The Markdown text of a matrix.
pub fn markdown(matrix: &Matrix) -> String {
    let mut md = String::from("# bitspec interop matrix\n\n");
    md.push_str("| Server | URL | Profile | Result |\n|---|---|---|---|\n");
    for s in &matrix.servers {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} |",
            text(&s.name),
            text(&s.url),
            text(&s.profile),
            text(&totals_text(s))
        );
    }
    md.push_str("\nA cell is the verdict (`#N`: the server's root cause N below) and, in brackets, the readings the server chose where the documents allow several.\n\n");
    let _ = write!(md, "| Scenario | Level |");
    for s in &matrix.servers {
        let _ = write!(md, " {} |", text(&s.name));
    }
    md.push_str("\n|---|---|");
    md.push_str(&"---|".repeat(matrix.servers.len()));
    md.push('\n');
    for row in &matrix.scenarios {
        let _ = write!(md, "| {} | {} |", text(&row.name), row.level.as_str());
        for cell in &row.cells {
            let _ = write!(md, " {} |", text(&cell.text()));
        }
        md.push('\n');
    }
    md.push_str("\n## Root causes per server\n");
    for s in &matrix.servers {
        let _ = writeln!(md, "\n### {}\n", text(&s.name));
        if s.root_causes.is_empty() {
            md.push_str("None.\n");
            continue;
        }
        let _ = writeln!(md, "{}\n", text(&root_causes_head(&s.root_causes)));
        for f in &s.root_causes {
            let _ = writeln!(
                md,
                "{}. **{}** {}: {}",
                f.rank,
                verdict_word(f.verdict),
                text(&f.count_text()),
                text(&f.finding)
            );
        }
    }
    md
}

const STYLE: &str = "
body{font:15px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:90rem;padding:0 1rem;color:#1d1d1f;background:#fff}
table{border-collapse:collapse;margin:.5rem 0}th,td{border:1px solid #ccc;padding:.2rem .5rem;text-align:left;vertical-align:top}
td.cell{white-space:nowrap;font-size:13px}.v-pass{background:#d8f5dd}.v-fail,.v-error{background:#ffd9d9}
.v-warn{background:#fff1c2}.v-skip{background:#eee;color:#555}.muted{color:#666}code{font-size:13px}
h2{margin-top:2rem;border-bottom:1px solid #ddd}
";

/// The HTML text of a matrix.
pub fn html(matrix: &Matrix) -> String {
    let mut h = String::new();
    h.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    h.push_str("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n");
    let _ = writeln!(
        h,
        "<title>bitspec interop matrix</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<h1>bitspec interop matrix</h1>"
    );
    h.push_str("<section id=\"servers\">\n<table>\n<tr><th>Server</th><th>URL</th><th>Profile</th><th>Result</th></tr>\n");
    for s in &matrix.servers {
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
            esc(&s.name),
            esc(&s.url),
            esc(&s.profile),
            esc(&totals_text(s))
        );
    }
    h.push_str("</table>\n</section>\n<section id=\"matrix\">\n<h2>Scenario x server</h2>\n<p class=\"muted\">A cell is the verdict (#N: the server's root cause N below) and, in brackets, the readings the server chose where the documents allow several.</p>\n<table>\n<tr><th>Scenario</th><th>Level</th>");
    for s in &matrix.servers {
        let _ = write!(h, "<th>{}</th>", esc(&s.name));
    }
    h.push_str("</tr>\n");
    for row in &matrix.scenarios {
        let _ = write!(
            h,
            "<tr id=\"row-{}\"><td><code>{}</code><br><span class=\"muted\">{}</span></td><td>{}</td>",
            esc(&row.id),
            esc(&row.name),
            esc(&row.title),
            row.level.as_str()
        );
        for cell in &row.cells {
            let title = cell.reason.as_deref().unwrap_or("");
            let _ = write!(
                h,
                "<td class=\"cell v-{}\" title=\"{}\">{}</td>",
                cell.verdict.as_str(),
                esc(title),
                esc(&cell.text())
            );
        }
        h.push_str("</tr>\n");
    }
    h.push_str(
        "</table>\n</section>\n<section id=\"root-causes\">\n<h2>Root causes per server</h2>\n",
    );
    for (i, s) in matrix.servers.iter().enumerate() {
        let _ = writeln!(h, "<h3 id=\"server-{i}\">{}</h3>", esc(&s.name));
        if s.root_causes.is_empty() {
            h.push_str("<p>None.</p>\n");
            continue;
        }
        let _ = writeln!(h, "<p>{}</p>\n<ol>", esc(&root_causes_head(&s.root_causes)));
        for f in &s.root_causes {
            let _ = writeln!(
                h,
                "<li><strong>{} {}</strong>: <code>{}</code></li>",
                verdict_word(f.verdict),
                esc(&f.count_text()),
                esc(&f.finding)
            );
        }
        h.push_str("</ol>\n");
    }
    h.push_str("</section>\n</body>\n</html>\n");
    h
}
