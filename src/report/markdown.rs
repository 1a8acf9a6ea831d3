//! `report.md`: the conformance report as Markdown, fit to be a CI job summary
//! (`cat reports/report.md >> "$GITHUB_STEP_SUMMARY"`).

use super::RunReport;
use super::console::{following, root_causes_head};
use super::findings::{Finding, root_causes};
use super::summary::{self, Counts, Row, VERDICTS};
use crate::report::render::{failure_text, verdict_word};
use crate::scenario::requirements::coverage_totals;
use crate::shared::outcome::BaselineState;
use std::fmt::Write;

/// The Markdown text of a run.
pub fn render(report: &RunReport) -> String {
    let outcomes = report.outcomes;
    let mut md = String::new();
    let _ = writeln!(md, "# {}\n", report.title());
    let _ = writeln!(
        md,
        "- **{}:** {}",
        report.target_label(),
        text(report.target)
    );
    let _ = writeln!(
        md,
        "- **Profile:** {} ({})",
        text(report.profile),
        text(report.profile_description)
    );
    let _ = writeln!(
        md,
        "- **Result:** {}{}\n",
        summary::totals_line(outcomes),
        if report.strict { " (strict)" } else { "" }
    );

    let causes = root_causes(outcomes);
    root_causes_section(&mut md, &causes);

    let _ = writeln!(md, "## By packet type\n");
    counts_table(&mut md, "Packet type", &summary::by_group(outcomes));
    let _ = writeln!(md, "## By requirement level\n");
    counts_table(&mut md, "Level", &summary::by_level(outcomes));

    let problems = summary::problems(outcomes);
    let _ = writeln!(md, "## Failures\n");
    if problems.is_empty() {
        let _ = writeln!(md, "None.\n");
    }
    for o in problems {
        let _ = writeln!(
            md,
            "### {} {}: {}\n",
            verdict_word(o.verdict),
            text(&o.name),
            text(&o.title)
        );
        if let Some(rank) = following(&causes, &o.name) {
            let _ = writeln!(
                md,
                "Follows from [root cause {rank}](#root-causes): its Create-Session hit it, so what it checks was not reached.\n"
            );
            continue;
        }
        md.push_str(&fenced(&failure_text(o, false)));
        md.push('\n');
    }

    baseline_sections(&mut md, outcomes);

    let readings = summary::readings(outcomes);
    if !readings.is_empty() {
        let _ = writeln!(md, "## Readings the {} followed\n", report.who());
        let _ = writeln!(md, "| Ambiguity / step | Reading | Citation | Count |");
        let _ = writeln!(md, "|---|---|---|---:|");
        for r in readings {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} |",
                text(&r.topic),
                text(&r.reading),
                text(&r.cite),
                r.count
            );
        }
        md.push('\n');
    }

    let notes = summary::notes(outcomes);
    if !notes.is_empty() {
        let _ = writeln!(md, "## Notes\n");
        for (name, note) in notes {
            let _ = writeln!(md, "- {}: {}", text(name), text(note));
        }
        md.push('\n');
    }

    if let Some(entries) = report.coverage {
        let t = coverage_totals(entries);
        let _ = writeln!(md, "## Requirements coverage\n");
        let _ = writeln!(
            md,
            "{} requirements: {} covered, {} not observable, {} uncovered.\n",
            t.requirements, t.covered, t.not_observable, t.uncovered
        );
        let uncovered: Vec<_> = entries
            .iter()
            .filter(|e| e.status() == "uncovered")
            .collect();
        if !uncovered.is_empty() {
            let _ = writeln!(
                md,
                "<details><summary>Uncovered requirements ({})</summary>\n",
                uncovered.len()
            );
            for e in uncovered {
                let r = &e.requirement;
                let _ = writeln!(
                    md,
                    "- {} ({}, {} {}): {}",
                    text(&r.id),
                    r.level.as_str(),
                    text(&r.source),
                    text(&r.section),
                    text(&r.text)
                );
            }
            let _ = writeln!(md, "\n</details>\n");
        }
    }
    md
}

/// The ranked findings: what to fix first.
pub fn root_causes_section(md: &mut String, causes: &[Finding]) {
    if causes.is_empty() {
        return;
    }
    let _ = writeln!(md, "## Root causes\n");
    let _ = writeln!(md, "{}\n", text(&root_causes_head(causes)));
    for f in causes {
        let _ = writeln!(
            md,
            "{}. **{}** {}: {}",
            f.rank,
            verdict_word(f.verdict),
            text(&f.count_text()),
            text(&f.finding)
        );
        let _ = writeln!(
            md,
            "   <details><summary>scenarios</summary> {}</details>",
            text(&f.scenarios.join(", "))
        );
    }
    md.push('\n');
}

/// Known deviations (not failures of this run) and baseline entries that can go.
fn baseline_sections(md: &mut String, outcomes: &[crate::shared::outcome::ScenarioOutcome]) {
    let known = summary::baselined(outcomes, BaselineState::ExpectedFailure);
    if !known.is_empty() {
        let _ = writeln!(md, "## Known deviations (baseline)\n");
        for o in known {
            let reason = o.baseline.as_ref().map_or("", |b| b.reason.as_str());
            let _ = writeln!(
                md,
                "<details><summary>{} {}: {}</summary>\n",
                verdict_word(o.verdict),
                text(&o.name),
                text(reason)
            );
            md.push_str(&fenced(&failure_text(o, false)));
            let _ = writeln!(md, "\n</details>\n");
        }
    }
    let passing = summary::baselined(outcomes, BaselineState::NowPasses);
    if !passing.is_empty() {
        let _ = writeln!(md, "## Now passing: remove from the baseline\n");
        for o in passing {
            let reason = o.baseline.as_ref().map_or("", |b| b.reason.as_str());
            let _ = writeln!(md, "- {} (listed: {})", text(&o.id), text(reason));
        }
        md.push('\n');
    }
}

fn counts_table(md: &mut String, label: &str, rows: &[Row]) {
    let _ = write!(md, "| {label} |");
    for v in VERDICTS {
        let _ = write!(md, " {} |", v.as_str());
    }
    let _ = writeln!(md, " total |");
    let _ = writeln!(md, "|---|---:|---:|---:|---:|---:|---:|");
    let row = |md: &mut String, name: &str, c: &Counts| {
        let _ = write!(md, "| {name} |");
        for n in c.0 {
            let _ = write!(md, " {n} |");
        }
        let _ = writeln!(md, " {} |", c.total());
    };
    for (name, c) in rows {
        row(md, &text(name), c);
    }
    row(md, "**total**", &summary::total(rows));
    md.push('\n');
}

/// Inline text that renders as itself: Markdown punctuation and HTML are escaped,
/// and line breaks (which would end a table row) become spaces. Server-sent values
/// reach these reports, so nothing they contain may become markup.
pub fn text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '#' | '&' | '!' | '~' => {
                out.push('\\');
                out.push(c);
            }
            '\r' | '\n' => out.push(' '),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// A fenced block that its content cannot close: the fence is longer than any
/// backtick run inside.
pub fn fenced(body: &str) -> String {
    let longest = body.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat((longest + 1).max(3));
    let body = body.trim_end_matches('\n');
    format!("{fence}text\n{body}\n{fence}\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_text_cannot_become_markup() {
        assert_eq!(text("a|b<script>\n*x*"), "a\\|b\\<script\\> \\*x\\*");
        let block = fenced("x ``` y\n");
        assert!(block.starts_with("````text\n"), "{block}");
        assert!(block.ends_with("\n````\n"), "{block}");
    }
}
