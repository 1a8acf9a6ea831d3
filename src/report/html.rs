//! `report.html`: the Markdown report's content as one self-contained page (inline
//! CSS, no script, no external asset) with every exchange expandable. Failures come
//! first and open. Header values come from the server under test, so every piece of
//! text goes through [`esc`], and a Content-Security-Policy forbids scripts anyway.

use super::RunReport;
use super::console::{following, root_causes_head};
use super::findings::{Finding, root_causes};
use super::summary::{self, Counts, Row, VERDICTS};
use crate::report::render::{failure_text, mismatch_line, verdict_word};
use crate::scenario::requirements::coverage_totals;
use crate::shared::outcome::{BaselineState, ScenarioOutcome, StepOutcome};
use crate::shared::selftest::{FaultState, Selftest};
use std::fmt::Write;

const STYLE: &str = "
body{font:15px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:72rem;padding:0 1rem;color:#1d1d1f;background:#fff}
h1{font-size:1.6rem}h2{margin-top:2rem;border-bottom:1px solid #ddd;padding-bottom:.2rem}
dl.meta{display:grid;grid-template-columns:max-content auto;gap:.2rem 1rem}dt{font-weight:600}dd{margin:0}
table{border-collapse:collapse;margin:.5rem 0}th,td{border:1px solid #ccc;padding:.2rem .6rem;text-align:left;vertical-align:top}
td.n{text-align:right;font-variant-numeric:tabular-nums}tr.total td{font-weight:600}
pre{background:#f6f8fa;border:1px solid #ddd;padding:.6rem;overflow-x:auto;font-size:13px;white-space:pre-wrap;word-break:break-all}
.del{background:#ffe3e3;color:#8b0000}.ins{background:#e3ffe6;color:#005c14}
.verdict{display:inline-block;min-width:3.2rem;text-align:center;font-weight:700;font-size:12px;border-radius:3px;padding:0 .3rem;margin-right:.4rem}
.v-pass{background:#d8f5dd;color:#0a5a1c}.v-fail,.v-error{background:#ffd9d9;color:#8b0000}
.v-warn{background:#fff1c2;color:#6b4b00}.v-skip{background:#eee;color:#555}
details{margin:.3rem 0}summary{cursor:pointer}details.problem{border-left:4px solid #d33;padding-left:.6rem}
details.problem.warn{border-left-color:#e0a800}details.step{margin-left:1rem}
.muted{color:#666}code{font-size:13px}
";

/// The HTML text of a run.
pub fn render(report: &RunReport) -> String {
    render_page(report, None)
}

/// The HTML text of a self-test's control run, with the mutation score and a row
/// per fault before the scenarios.
pub fn render_selftest(report: &RunReport, selftest: &Selftest) -> String {
    render_page(report, Some(selftest))
}

fn render_page(report: &RunReport, selftest: Option<&Selftest>) -> String {
    let outcomes = report.outcomes;
    let mut h = String::new();
    h.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    h.push_str("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n");
    h.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    let _ = writeln!(
        h,
        "<title>{}: {}</title>\n<style>{STYLE}</style>\n</head>\n<body>",
        report.title(),
        esc(report.target)
    );
    let _ = writeln!(h, "<h1>{}</h1>\n<dl class=\"meta\">", report.title());
    let _ = writeln!(
        h,
        "<dt>{}</dt><dd id=\"subject\">{}</dd>",
        report.target_label(),
        esc(report.target)
    );
    let _ = writeln!(
        h,
        "<dt>Profile</dt><dd>{} <span class=\"muted\">({})</span></dd>",
        esc(report.profile),
        esc(report.profile_description)
    );
    let _ = writeln!(
        h,
        "<dt>Result</dt><dd id=\"result\">{}{}</dd>\n</dl>",
        esc(&summary::totals_line(outcomes)),
        if report.strict { " (strict)" } else { "" }
    );

    let causes = root_causes(outcomes);
    root_causes_section(&mut h, &causes);
    let problems = summary::problems(outcomes);
    let _ = writeln!(
        h,
        "<section id=\"failures\">\n<h2>Failures ({})</h2>",
        problems.len()
    );
    if problems.is_empty() {
        h.push_str("<p>None.</p>\n");
    }
    for o in problems {
        if let Some(rank) = following(&causes, &o.name) {
            let _ = writeln!(
                h,
                "<details class=\"problem following {}\" id=\"failure-{}\">\n<summary>{} <span class=\"muted\">follows from <a href=\"#root-cause-{rank}\">root cause {rank}</a></span></summary>",
                o.verdict.as_str(),
                esc(&o.id),
                scenario_summary(o)
            );
            steps(&mut h, o);
            h.push_str("</details>\n");
            continue;
        }
        let _ = writeln!(
            h,
            "<details class=\"problem {}\" id=\"failure-{}\" open>\n<summary>{}</summary>",
            o.verdict.as_str(),
            esc(&o.id),
            scenario_summary(o)
        );
        let _ = writeln!(
            h,
            "<pre class=\"failure-text\">{}</pre>",
            failure_html(&failure_text(o, false))
        );
        steps(&mut h, o);
        h.push_str("</details>\n");
    }
    h.push_str("</section>\n");
    baseline_sections(&mut h, outcomes);

    let _ = writeln!(
        h,
        "<section id=\"by-packet-type\">\n<h2>By packet type</h2>"
    );
    counts_table(&mut h, "Packet type", &summary::by_group(outcomes));
    let _ = writeln!(
        h,
        "</section>\n<section id=\"by-level\">\n<h2>By requirement level</h2>"
    );
    counts_table(&mut h, "Level", &summary::by_level(outcomes));
    h.push_str("</section>\n");

    let readings = summary::readings(outcomes);
    if !readings.is_empty() {
        let _ = writeln!(
            h,
            "<section id=\"readings\">\n<h2>Readings the {} followed</h2>\n<table>\n<tr><th>Ambiguity / step</th><th>Reading</th><th>Citation</th><th>Count</th></tr>",
            report.who()
        );
        for r in readings {
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td></tr>",
                esc(&r.topic),
                esc(&r.reading),
                esc(&r.cite),
                r.count
            );
        }
        h.push_str("</table>\n</section>\n");
    }

    let notes = summary::notes(outcomes);
    if !notes.is_empty() {
        h.push_str("<section id=\"notes\">\n<h2>Notes</h2>\n<ul>\n");
        for (name, note) in notes {
            let _ = writeln!(h, "<li><code>{}</code>: {}</li>", esc(name), esc(note));
        }
        h.push_str("</ul>\n</section>\n");
    }

    if let Some(entries) = report.coverage {
        let t = coverage_totals(entries);
        let _ = writeln!(
            h,
            "<section id=\"coverage\">\n<h2>Requirements coverage</h2>\n<p>{} requirements: {} covered, {} not observable, {} uncovered.</p>",
            t.requirements, t.covered, t.not_observable, t.uncovered
        );
        let uncovered: Vec<_> = entries
            .iter()
            .filter(|e| e.status() == "uncovered")
            .collect();
        if !uncovered.is_empty() {
            let _ = writeln!(
                h,
                "<details><summary>Uncovered requirements ({})</summary>\n<ul>",
                uncovered.len()
            );
            for e in uncovered {
                let r = &e.requirement;
                let _ = writeln!(
                    h,
                    "<li><code>{}</code> ({}, {} {}): {}</li>",
                    esc(&r.id),
                    r.level.as_str(),
                    esc(&r.source),
                    esc(&r.section),
                    esc(&r.text)
                );
            }
            h.push_str("</ul>\n</details>\n");
        }
        h.push_str("</section>\n");
    }

    if let Some(selftest) = selftest {
        selftest_section(&mut h, selftest);
    }
    let _ = writeln!(
        h,
        "<section id=\"scenarios\">\n<h2>All scenarios ({})</h2>",
        outcomes.len()
    );
    for o in outcomes {
        let _ = writeln!(
            h,
            "<details class=\"scenario\" id=\"scenario-{}\">\n<summary>{}</summary>",
            esc(&o.id),
            scenario_summary(o)
        );
        let _ = writeln!(
            h,
            "<p class=\"muted\">{} · spec {} · requirements: {}</p>",
            esc(&o.file),
            esc(&o.spec),
            esc(&o.requirements.join(", "))
        );
        if let Some(reason) = &o.reason {
            let _ = writeln!(h, "<p>Reason: {}</p>", esc(reason));
        }
        for note in &o.notes {
            let _ = writeln!(h, "<p>Note: {}</p>", esc(note));
        }
        steps(&mut h, o);
        h.push_str("</details>\n");
    }
    h.push_str("</section>\n</body>\n</html>\n");
    h
}

/// The ranked findings, before the failures: what to fix first.
pub fn root_causes_section(h: &mut String, causes: &[Finding]) {
    if causes.is_empty() {
        return;
    }
    let _ = writeln!(
        h,
        "<section id=\"root-causes\">\n<h2>Root causes</h2>\n<p>{}</p>\n<ol>",
        esc(&root_causes_head(causes))
    );
    for f in causes {
        let _ = writeln!(
            h,
            "<li id=\"root-cause-{}\"><span class=\"verdict v-{}\">{}</span><strong>{}</strong>: <code>{}</code>\n<details><summary>scenarios</summary><p>{}</p></details></li>",
            f.rank,
            f.verdict.as_str(),
            verdict_word(f.verdict),
            esc(&f.count_text()),
            esc(&f.finding),
            esc(&f.scenarios.join(", "))
        );
    }
    h.push_str("</ol>\n</section>\n");
}

/// The self-test: its score, then a row per fault.
fn selftest_section(h: &mut String, selftest: &Selftest) {
    let _ = writeln!(
        h,
        "<section id=\"selftest\">\n<h2>Self-test: mutation score</h2>\n<p>{} (profile {}, {} scenarios per run)</p>",
        esc(&super::selftest::score_line(&selftest.score)),
        esc(&selftest.profile),
        selftest.scenarios
    );
    h.push_str("<table>\n<tr><th>Fault</th><th>Area</th><th>Breaks</th><th>Caught by</th><th>Named by</th></tr>\n");
    for r in &selftest.faults {
        let named = match r.state() {
            FaultState::Error(e) => format!("error: {}", esc(e)),
            FaultState::Named => esc(&super::selftest::listed(&r.named_by)),
            FaultState::NotNamed => "<strong>not named</strong>".to_owned(),
            FaultState::Missed => "<strong>not caught</strong>".to_owned(),
        };
        let _ = writeln!(
            h,
            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{named}</td></tr>",
            esc(&r.fault),
            esc(&r.area),
            esc(&r.breaks),
            r.caught_by.len()
        );
    }
    h.push_str("</table>\n</section>\n");
}

/// Known deviations (closed: not this run's news) and baseline entries that can go.
fn baseline_sections(h: &mut String, outcomes: &[ScenarioOutcome]) {
    let reason = |o: &ScenarioOutcome| esc(o.baseline.as_ref().map_or("", |b| b.reason.as_str()));
    let known = summary::baselined(outcomes, BaselineState::ExpectedFailure);
    if !known.is_empty() {
        let _ = writeln!(
            h,
            "<section id=\"baselined\">\n<h2>Known deviations (baseline, {})</h2>",
            known.len()
        );
        for o in known {
            let _ = writeln!(
                h,
                "<details class=\"problem warn\">\n<summary>{}</summary>\n<p>Baseline: {}</p>\n<pre class=\"failure-text\">{}</pre>",
                scenario_summary(o),
                reason(o),
                failure_html(&failure_text(o, false))
            );
            steps(h, o);
            h.push_str("</details>\n");
        }
        h.push_str("</section>\n");
    }
    let passing = summary::baselined(outcomes, BaselineState::NowPasses);
    if !passing.is_empty() {
        h.push_str(
            "<section id=\"now-passing\">\n<h2>Now passing: remove from the baseline</h2>\n<ul>\n",
        );
        for o in passing {
            let _ = writeln!(
                h,
                "<li><code>{}</code> (listed: {})</li>",
                esc(&o.id),
                reason(o)
            );
        }
        h.push_str("</ul>\n</section>\n");
    }
}

/// `<verdict> name: title (N ms)` for a scenario's `<summary>`.
fn scenario_summary(o: &ScenarioOutcome) -> String {
    format!(
        "<span class=\"verdict v-{}\">{}</span><code>{}</code>: {} <span class=\"muted\">({}, {} ms)</span>",
        o.verdict.as_str(),
        verdict_word(o.verdict),
        esc(&o.name),
        esc(&o.title),
        o.level.as_str(),
        o.duration_ms
    )
}

/// Every step and cleanup exchange as an expandable wire transcript.
fn steps(h: &mut String, o: &ScenarioOutcome) {
    for step in o.steps.iter().chain(&o.cleanup) {
        transcript(h, step);
    }
}

fn transcript(h: &mut String, step: &StepOutcome) {
    let received = match &step.response {
        Some(r) => r.status_line(),
        None => "no response".to_owned(),
    };
    let flag = if step.error.is_some() {
        " <span class=\"verdict v-error\">ERROR</span>"
    } else if !step.mismatches.is_empty() {
        " <span class=\"verdict v-fail\">MISMATCH</span>"
    } else {
        ""
    };
    let _ = writeln!(
        h,
        "<details class=\"step\"><summary>step {} ({}): {} &rarr; {}{flag}</summary>",
        step.number,
        esc(&step.label),
        esc(&step.request.method),
        esc(&received)
    );
    let mut wire = format!("{} {}\n", step.request.method, step.request.url);
    for (name, value) in &step.request.headers {
        let _ = writeln!(wire, "{name}: {value}");
    }
    if step.request.body_len > 0 {
        let _ = writeln!(wire, "({} body bytes)", step.request.body_len);
    }
    wire.push('\n');
    match &step.response {
        Some(r) => {
            let _ = writeln!(wire, "{}", r.status_line());
            for (name, value) in &r.headers {
                let _ = writeln!(wire, "{name}: {value}");
            }
            if r.body_len > 0 {
                let _ = writeln!(wire, "\n({} body bytes) {}", r.body_len, r.body_preview);
            }
        }
        None => wire.push_str("(no response)\n"),
    }
    let _ = writeln!(
        h,
        "<p class=\"muted\">{} · {} ms</p>\n<pre class=\"wire\">{}</pre>",
        esc(&step.loc.to_string()),
        step.elapsed_ms,
        esc(wire.trim_end())
    );
    if let Some(error) = &step.error {
        let _ = writeln!(h, "<p>Error: {}</p>", esc(error));
    }
    if !step.mismatches.is_empty() {
        h.push_str("<ul class=\"mismatches\">\n");
        for m in &step.mismatches {
            let _ = writeln!(
                h,
                "<li><code>{}</code>: {}</li>",
                esc(&m.loc.to_string()),
                esc(&mismatch_line(m))
            );
        }
        h.push_str("</ul>\n");
    }
    h.push_str("</details>\n");
}

/// The failure text, escaped, with the lines of its header (or a client's request)
/// diff marked for colour.
fn failure_html(text: &str) -> String {
    let mut out = String::new();
    let mut in_diff = false;
    for line in text.lines() {
        if line.starts_with("  header diff") || line.starts_with("  request diff") {
            in_diff = true;
        } else if !line.starts_with("    ") {
            in_diff = false;
        }
        let class = match line.get(4..5) {
            Some("-") if in_diff => Some("del"),
            Some("+") if in_diff => Some("ins"),
            _ => None,
        };
        match class {
            Some(c) => {
                let _ = writeln!(out, "<span class=\"{c}\">{}</span>", esc(line));
            }
            None => {
                let _ = writeln!(out, "{}", esc(line));
            }
        }
    }
    out
}

fn counts_table(h: &mut String, label: &str, rows: &[Row]) {
    let _ = write!(h, "<table>\n<tr><th>{label}</th>");
    for v in VERDICTS {
        let _ = write!(h, "<th>{}</th>", v.as_str());
    }
    h.push_str("<th>total</th></tr>\n");
    let row = |h: &mut String, class: &str, name: &str, c: &Counts| {
        let _ = write!(h, "<tr{class}><td>{}</td>", esc(name));
        for n in c.0 {
            let _ = write!(h, "<td class=\"n\">{n}</td>");
        }
        let _ = writeln!(h, "<td class=\"n\">{}</td></tr>", c.total());
    };
    for (name, c) in rows {
        row(h, "", name, c);
    }
    row(h, " class=\"total\"", "total", &summary::total(rows));
    h.push_str("</table>\n");
}

/// Text made safe for HTML element content and quoted attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\n' | '\t' => out.push(c),
            c if c.is_control() => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_from_a_server_stays_text() {
        assert_eq!(
            esc("<img src=x onerror='a'>&\"\u{1b}"),
            "&lt;img src=x onerror=&#39;a&#39;&gt;&amp;&quot;\u{FFFD}"
        );
        let html = failure_html("  header diff (- expected, + actual):\n    -X: <b>\n    +Y: 1\n");
        assert!(
            html.contains("<span class=\"del\">    -X: &lt;b&gt;</span>"),
            "{html}"
        );
        assert!(
            html.contains("<span class=\"ins\">    +Y: 1</span>"),
            "{html}"
        );
    }
}
