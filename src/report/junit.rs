//! `junit.xml` for CI test tabs (Jenkins, GitLab): a testsuite per packet type, a
//! testcase per scenario, the failure body being the console's failure text; after a
//! self-test, a `selftest` suite with a testcase per fault.

use super::RunReport;
use crate::report::render::{failure_text, mismatch_line};
use crate::shared::outcome::{BaselineState, ScenarioOutcome, Subject, Verdict};
use crate::shared::selftest::{FaultState, Selftest};
use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};
use std::fmt::Write;
use std::time::Duration;

/// The JUnit XML text of a run.
pub fn to_xml(report: &RunReport) -> Result<String, String> {
    to_xml_with(report, None)
}

/// The JUnit XML text of a self-test's control run, plus a `selftest` suite: a
/// testcase per fault, failing when no failure of the suite named what it breaks.
pub fn selftest_xml(report: &RunReport, selftest: &Selftest) -> Result<String, String> {
    to_xml_with(report, Some(selftest))
}

fn to_xml_with(report: &RunReport, selftest: Option<&Selftest>) -> Result<String, String> {
    let mut junit = Report::new("bitspec");
    let mut groups: Vec<&str> = Vec::new();
    for o in report.outcomes {
        if !groups.contains(&o.group.as_str()) {
            groups.push(&o.group);
        }
    }
    let mut total_ms = 0;
    for group in groups {
        let mut suite = TestSuite::new(group);
        suite.add_property(Property::new("target", report.target));
        if report.subject() == Subject::Client {
            suite.add_property(Property::new("subject", "client"));
        }
        suite.add_property(Property::new("profile", report.profile));
        suite.add_property(Property::new("strict", report.strict.to_string()));
        let mut suite_ms = 0;
        for o in report.outcomes.iter().filter(|o| o.group == group) {
            suite.add_test_case(test_case(o, report.strict));
            suite_ms += o.duration_ms;
        }
        suite.set_time(Duration::from_millis(suite_ms));
        total_ms += suite_ms;
        junit.add_test_suite(suite);
    }
    if let Some(selftest) = selftest {
        junit.add_test_suite(fault_suite(selftest));
        // The self-test's time includes its control run.
        total_ms = total_ms.max(selftest.duration_ms);
    }
    junit.set_time(Duration::from_millis(total_ms));
    let text = junit
        .to_string()
        .map_err(|e| format!("cannot encode junit.xml: {e}"))?;
    Ok(without_root_skipped(text))
}

/// quick-junit puts `skipped` on `<testsuites>`, which the Jenkins xunit schema
/// (junit-10.xsd) does not allow there; the per-suite counts carry it anyway.
fn without_root_skipped(text: String) -> String {
    let Some(start) = text.find("<testsuites") else {
        return text;
    };
    let end = text[start..].find('>').map_or(text.len(), |e| start + e);
    let Some(at) = text[start..end].find(" skipped=\"").map(|a| start + a) else {
        return text;
    };
    let value_start = at + " skipped=\"".len();
    let Some(close) = text[value_start..end]
        .find('"')
        .map(|c| value_start + c + 1)
    else {
        return text;
    };
    format!("{}{}", &text[..at], &text[close..])
}

/// The `selftest` suite: one testcase per injected fault.
fn fault_suite(selftest: &Selftest) -> TestSuite {
    let mut suite = TestSuite::new("selftest");
    suite.add_property(Property::new("profile", selftest.profile.as_str()));
    suite.add_property(Property::new(
        "score",
        super::selftest::score_line(&selftest.score),
    ));
    for r in &selftest.faults {
        let status = match r.state() {
            FaultState::Error(e) => {
                let mut s = TestCaseStatus::non_success(NonSuccessKind::Error);
                s.set_message(e).set_type("error");
                s
            }
            FaultState::Named => TestCaseStatus::success(),
            state => {
                let caught = state == FaultState::NotNamed;
                let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                let message = if caught {
                    format!(
                        "caught by {} scenario(s), none naming {}",
                        r.caught_by.len(),
                        r.breaks
                    )
                } else {
                    "no scenario failed".to_owned()
                };
                s.set_message(message)
                    .set_type(if caught { "not-named" } else { "missed" })
                    .set_description(r.description.as_str());
                s
            }
        };
        let mut case = TestCase::new(r.fault.as_str(), status);
        case.set_classname(format!("selftest.{}", r.area))
            .set_time(Duration::from_millis(r.duration_ms));
        if !r.named_by.is_empty() {
            case.set_system_out(format!("named by: {}", r.named_by.join(", ")));
        }
        suite.add_test_case(case);
    }
    suite.set_time(Duration::from_millis(selftest.duration_ms));
    suite
}

fn test_case(o: &ScenarioOutcome, strict: bool) -> TestCase {
    let known = o
        .baseline
        .as_ref()
        .filter(|b| b.state == BaselineState::ExpectedFailure);
    let status = match o.verdict {
        // A known deviation is reported like an expected failure (xfail): skipped, with why.
        Verdict::Fail | Verdict::Error | Verdict::Warn if known.is_some() => {
            let mut s = TestCaseStatus::skipped();
            let reason = known.map_or("", |b| b.reason.as_str());
            s.set_message(format!("known deviation (baseline): {reason}"))
                .set_type("baselined")
                .set_description(failure_text(o, false));
            s
        }
        Verdict::Pass => TestCaseStatus::success(),
        Verdict::Warn if !strict => TestCaseStatus::success(),
        Verdict::Fail | Verdict::Warn => {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
            s.set_message(summary(o))
                .set_type(o.verdict.as_str())
                .set_description(failure_text(o, false));
            s
        }
        Verdict::Error => {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Error);
            s.set_message(summary(o))
                .set_type("error")
                .set_description(failure_text(o, false));
            s
        }
        Verdict::Skip => {
            let mut s = TestCaseStatus::skipped();
            s.set_message(o.reason.as_deref().unwrap_or("not run"));
            s
        }
    };
    let mut case = TestCase::new(&o.name, status);
    case.set_classname(&o.group)
        .set_time(Duration::from_millis(o.duration_ms));
    let out = system_out(o, strict);
    if !out.is_empty() {
        case.set_system_out(out);
    }
    case
}

/// One line for the `message` attribute: the first broken expectation, or the reason.
fn summary(o: &ScenarioOutcome) -> String {
    o.failing_step()
        .and_then(|s| s.mismatches.first())
        .map(mismatch_line)
        .or_else(|| o.reason.clone())
        .unwrap_or_else(|| format!("{} ({})", o.title, o.verdict.as_str()))
}

/// What a CI viewer shows beside the verdict: warnings, readings and notes.
fn system_out(o: &ScenarioOutcome, strict: bool) -> String {
    let mut out = String::new();
    if let Some(b) = &o.baseline
        && b.state == BaselineState::NowPasses
    {
        let _ = writeln!(
            out,
            "NOW PASSES: the baseline lists it ({}); remove the entry",
            b.reason
        );
    }
    if o.verdict == Verdict::Warn && !strict && o.baseline.is_none() {
        let _ = writeln!(
            out,
            "WARNING: a SHOULD-level expectation was not met (a failure with --strict)\n{}",
            failure_text(o, false)
        );
    }
    let readings: Vec<_> = o.readings().collect();
    if !readings.is_empty() {
        let who = match o.subject {
            Subject::Server => "target",
            Subject::Client => "client",
        };
        let _ = writeln!(out, "readings the {who} followed:");
        for (step, r) in readings {
            let _ = writeln!(
                out,
                "  step {step}: {} -> {} ({})",
                r.topic, r.reading, r.cite
            );
        }
    }
    if !o.notes.is_empty() {
        let _ = writeln!(out, "notes:");
        for note in &o.notes {
            let _ = writeln!(out, "  {note}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::without_root_skipped;

    #[test]
    fn only_the_root_skipped_attribute_goes() {
        let xml = "<?xml?>\n<testsuites name=\"bitspec\" tests=\"2\" skipped=\"1\" failures=\"0\">\n<testsuite name=\"p\" tests=\"2\" skipped=\"1\">";
        assert_eq!(
            without_root_skipped(xml.to_owned()),
            "<?xml?>\n<testsuites name=\"bitspec\" tests=\"2\" failures=\"0\">\n<testsuite name=\"p\" tests=\"2\" skipped=\"1\">"
        );
    }
}
