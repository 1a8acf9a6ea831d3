//! Stage 4 of the pipeline: compare one response with its step's expectations.
//! Order per step: status, BITS error headers, other headers, body, then readings.

use super::header::check_header;
use super::transport::check_transport;
use crate::scenario::plan::{
    BodyExpectation, ErrorExpectation, ExpectPlan, HeaderExpectation, Located, ReadingPlan,
};
use crate::scenario::template::Vars;
use crate::scenario::validate::parse_hex;
use crate::shared::location::Loc;
use crate::shared::observation::{BodyObservation, TransportObservation};
use crate::shared::outcome::{Graded, Mismatch, ReadingChoice, RecordedResponse};

/// The two names documents give the error-code header: MSDN's and MC-BUP's.
pub const ERROR_CODE_HEADERS: [(&str, &str, &str); 2] = [
    ("BITS-Error-Code", "msdn", "ack-for-*.md (BITS-Error-Code)"),
    ("BITS-Error", "mc-bup", "MC-BUP 2.2.1.2 (BITS-Error)"),
];
pub const ERROR_CONTEXT_HEADER: &str = "BITS-Error-Context";

/// Every broken expectation of one response, and the readings it followed.
pub fn check_response(
    plan: &ExpectPlan,
    response: &RecordedResponse,
    body: &BodyObservation,
    vars: &Vars,
) -> (Vec<Mismatch>, Vec<ReadingChoice>) {
    check_exchange(
        plan,
        Some(response),
        body,
        &TransportObservation::default(),
        vars,
    )
}

/// Every broken expectation of one exchange, answered or not, and the readings it followed.
pub fn check_exchange(
    plan: &ExpectPlan,
    response: Option<&RecordedResponse>,
    body: &BodyObservation,
    observed: &TransportObservation,
    vars: &Vars,
) -> (Vec<Mismatch>, Vec<ReadingChoice>) {
    let mut mismatches = check_transport(
        response,
        plan.response.as_ref(),
        plan.connection.as_ref(),
        observed,
    );
    grade_transport(plan, &mut mismatches);
    let mut readings = Vec::new();
    if let Some(response) = response {
        if let Some(versions) = &plan.version
            && !versions
                .value
                .iter()
                .any(|v| v.eq_ignore_ascii_case(&response.version))
        {
            mismatches.push(Mismatch {
                kind: "version",
                header: None,
                expected: versions.value.join(" or "),
                actual: Some(response.version.clone()),
                expected_line: None,
                loc: versions.loc.clone(),
                graded: requirement_grade(plan, "version"),
            });
        }
        if let Some(loc) = &plan.strict_format {
            mismatches.extend(response.format_deviations.iter().map(|d| Mismatch {
                kind: "format",
                header: None,
                expected: "the message syntax of RFC 2616 section 6".into(),
                actual: Some(d.clone()),
                expected_line: None,
                loc: loc.clone(),
                graded: requirement_grade(plan, "format"),
            }));
        }
        if let Some(status) = &plan.status {
            mismatches.extend(graded(plan, "status", check_status(status, response)));
        }
        if let Some(error) = &plan.error {
            let (found, reading) = check_error(error, response);
            mismatches.extend(graded(plan, "error", found));
            readings.extend(reading);
        }
        for check in &plan.headers {
            let found = check_header(check, response, vars);
            mismatches.extend(graded(plan, &check.name, found));
        }
        if let Some(expected) = &plan.body {
            mismatches.extend(graded(plan, "body", check_body(expected, body, vars)));
        }
    }
    if !plan.readings.is_empty() {
        match check_readings(&plan.readings, response, observed, vars) {
            Ok(choice) => readings.push(choice),
            Err(found) => mismatches.extend(graded(plan, "readings", found)),
        }
    }
    (mismatches, readings)
}

/// The requirement a check names (or its step does), at its catalogue level; `None`
/// when neither names one or the level is not known yet (the scenario's level applies).
fn requirement_grade(plan: &ExpectPlan, check: &str) -> Option<Graded> {
    plan.requirement_of(check).and_then(|r| {
        r.level.map(|level| Graded {
            requirement: Some(r.id.clone()),
            level,
        })
    })
}

/// Mismatches of one check, graded at its requirement.
fn graded(
    plan: &ExpectPlan,
    check: &str,
    found: impl IntoIterator<Item = Mismatch>,
) -> impl Iterator<Item = Mismatch> {
    let grade = requirement_grade(plan, check);
    found.into_iter().map(move |mut m| {
        m.graded = grade.clone();
        m
    })
}

/// Grades the `response:` and `connection:` mismatches (their kind is the check's name).
fn grade_transport(plan: &ExpectPlan, found: &mut [Mismatch]) {
    for m in found {
        m.graded = requirement_grade(plan, m.kind);
    }
}

fn check_status(expected: &Located<Vec<u16>>, response: &RecordedResponse) -> Option<Mismatch> {
    if expected.value.contains(&response.status) {
        return None;
    }
    let words = match expected.value.as_slice() {
        [one] => one.to_string(),
        many => format!(
            "one of {}",
            many.iter()
                .map(u16::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    Some(Mismatch {
        kind: "status",
        header: None,
        expected: words,
        actual: Some(response.status.to_string()),
        expected_line: None,
        loc: expected.loc.clone(),
        graded: None,
    })
}

fn check_headers(
    checks: &[HeaderExpectation],
    response: &RecordedResponse,
    vars: &Vars,
) -> Vec<Mismatch> {
    checks
        .iter()
        .filter_map(|c| check_header(c, response, vars))
        .collect()
}

/// The error code under each name the target used, with the reading each name implies.
fn error_codes(
    response: &RecordedResponse,
) -> Vec<(&'static str, &'static str, &'static str, &str)> {
    ERROR_CODE_HEADERS
        .iter()
        .filter_map(|(name, reading, cite)| {
            response
                .header(name)
                .map(|v| (*name, *reading, *cite, v.trim()))
        })
        .collect()
}

fn check_error(
    expected: &Located<ErrorExpectation>,
    response: &RecordedResponse,
) -> (Vec<Mismatch>, Option<ReadingChoice>) {
    let loc = &expected.loc;
    let codes = error_codes(response);
    let context = response.header(ERROR_CONTEXT_HEADER).map(str::trim);
    match &expected.value {
        ErrorExpectation::None => {
            let mut found = Vec::new();
            for (name, _, _) in ERROR_CODE_HEADERS {
                if let Some(v) = response.header(name) {
                    found.push(error_mismatch(
                        name,
                        "absent (no error on this Ack)",
                        Some(v.trim()),
                        None,
                        loc,
                    ));
                }
            }
            if let Some(v) = context {
                found.push(error_mismatch(
                    ERROR_CONTEXT_HEADER,
                    "absent (no error on this Ack)",
                    Some(v),
                    None,
                    loc,
                ));
            }
            (found, None)
        }
        ErrorExpectation::Is {
            code: want_code,
            context: want_context,
        } => {
            let mut found = Vec::new();
            let mut reading = None;
            if let Some(want) = want_code {
                let expected_words = format!(
                    "{want:#010X} under BITS-Error-Code or BITS-Error (any hexadecimal spelling)"
                );
                // Every name the target used must carry the expected code; the first
                // name used tells which reading it followed.
                if codes.is_empty() {
                    found.push(error_mismatch(
                        "BITS-Error-Code",
                        &expected_words,
                        None,
                        Some(format!("{want:#010X}")),
                        loc,
                    ));
                }
                for (name, _, _, value) in &codes {
                    if parse_hex(value) != Some(*want) {
                        found.push(error_mismatch(
                            name,
                            &expected_words,
                            Some(value),
                            Some(format!("{want:#010X}")),
                            loc,
                        ));
                    }
                }
                if found.is_empty()
                    && let Some((_, r, cite, _)) = codes.first()
                {
                    reading = Some(ReadingChoice {
                        topic: "error header name".into(),
                        reading: if codes.len() > 1 {
                            "both".into()
                        } else {
                            (*r).into()
                        },
                        cite: (*cite).into(),
                    });
                }
            }
            if let Some(want) = want_context
                && context.and_then(parse_hex) != Some(*want)
            {
                found.push(error_mismatch(
                    ERROR_CONTEXT_HEADER,
                    &format!("{want:#X} (any hexadecimal spelling)"),
                    context,
                    Some(format!("{want:#X}")),
                    loc,
                ));
            }
            (found, reading)
        }
    }
}

fn error_mismatch(
    header: &str,
    expected: &str,
    actual: Option<&str>,
    expected_line: Option<String>,
    loc: &Loc,
) -> Mismatch {
    Mismatch {
        kind: "error",
        header: Some(header.to_owned()),
        expected: expected.to_owned(),
        actual: actual.map(str::to_owned),
        expected_line,
        loc: loc.clone(),
        graded: None,
    }
}

fn check_body(
    expected: &Located<BodyExpectation>,
    body: &BodyObservation,
    vars: &Vars,
) -> Option<Mismatch> {
    let loc = expected.loc.clone();
    let make = |expected: String, actual: String| Mismatch {
        kind: "body",
        header: None,
        expected,
        actual: Some(actual),
        expected_line: None,
        loc: loc.clone(),
        graded: None,
    };
    match &expected.value {
        BodyExpectation::Empty => {
            (body.len != 0).then(|| make("no body".into(), format!("{} bytes", body.len)))
        }
        BodyExpectation::File => match &body.matches_file {
            Some(Ok(())) => None,
            Some(Err(why)) => Some(make("the uploaded file, byte for byte".into(), why.clone())),
            None => Some(make(
                "the uploaded file, byte for byte".into(),
                "not compared".into(),
            )),
        },
        BodyExpectation::Contains(t) => {
            let want = t.render(vars).unwrap_or_default();
            match &body.text {
                Some(text) if text.contains(&want) => None,
                Some(text) => Some(make(
                    format!("a body containing {want:?}"),
                    format!("{text:?}"),
                )),
                None => Some(make(
                    format!("a body containing {want:?}"),
                    format!("{} bytes, too large to search", body.len),
                )),
            }
        }
        BodyExpectation::Matches(re) => match &body.text {
            Some(text) if re.is_match(text) => None,
            Some(text) => Some(make(
                format!("a body matching /{}/", re.as_str()),
                format!("{text:?}"),
            )),
            None => Some(make(
                format!("a body matching /{}/", re.as_str()),
                format!("{} bytes, too large to match", body.len),
            )),
        },
        BodyExpectation::Equals(t) => {
            let want = t.render(vars).unwrap_or_default();
            match &body.text {
                Some(text) if *text == want => None,
                Some(text) => Some(make(format!("{want:?}"), format!("{text:?}"))),
                None => Some(make(
                    format!("{want:?}"),
                    format!("{} bytes, not text", body.len),
                )),
            }
        }
    }
}

/// The first reading that holds, or the mismatches of every reading.
fn check_readings(
    readings: &[ReadingPlan],
    response: Option<&RecordedResponse>,
    observed: &TransportObservation,
    vars: &Vars,
) -> Result<ReadingChoice, Vec<Mismatch>> {
    let mut all = Vec::new();
    for reading in readings {
        let mut found = check_transport(
            response,
            reading.response.as_ref(),
            reading.connection.as_ref(),
            observed,
        );
        let checks_answer =
            reading.status.is_some() || reading.error.is_some() || !reading.headers.is_empty();
        match response {
            Some(response) => {
                if let Some(status) = &reading.status {
                    found.extend(check_status(status, response));
                }
                if let Some(error) = &reading.error {
                    found.extend(check_error(error, response).0);
                }
                found.extend(check_headers(&reading.headers, response, vars));
            }
            None if checks_answer => found.push(Mismatch {
                kind: "response",
                header: None,
                expected: "a response".into(),
                actual: observed.failure.clone(),
                expected_line: None,
                loc: reading.loc.clone(),
                graded: None,
            }),
            None => {}
        }
        if found.is_empty() {
            return Ok(ReadingChoice {
                topic: format!("step at {}", reading.loc),
                reading: reading.name.clone(),
                cite: reading.cite.clone(),
            });
        }
        for mut m in found {
            m.expected = format!("[reading {}] {}", reading.name, m.expected);
            all.push(m);
        }
    }
    Err(all)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn loc() -> Loc {
        Loc::new(&Arc::from("t.yaml"), 9, 7)
    }

    fn response(status: u16, headers: &[(&str, &str)]) -> RecordedResponse {
        RecordedResponse::new(status, headers)
    }

    fn error_plan(code: Option<u64>, context: Option<u64>) -> ExpectPlan {
        ExpectPlan {
            error: Some(Located {
                value: ErrorExpectation::Is { code, context },
                loc: loc(),
            }),
            ..ExpectPlan::default()
        }
    }

    #[test]
    fn error_code_matches_under_either_name_and_records_the_reading() {
        let plan = error_plan(Some(0x8020001F), Some(5));
        let msdn = response(
            500,
            &[
                ("BITS-Error-Code", "0x8020001F"),
                ("BITS-Error-Context", "0x5"),
            ],
        );
        let (m, r) = check_response(&plan, &msdn, &BodyObservation::default(), &Vars::new());
        assert!(m.is_empty(), "{m:?}");
        assert_eq!(r[0].reading, "msdn");
        let mcbup = response(
            500,
            &[("bits-error", "8020001f"), ("bits-error-context", "5")],
        );
        let (m, r) = check_response(&plan, &mcbup, &BodyObservation::default(), &Vars::new());
        assert!(m.is_empty(), "{m:?}");
        assert_eq!(r[0].reading, "mc-bup");
    }

    #[test]
    fn both_error_header_names_must_carry_the_code() {
        let plan = error_plan(Some(0x8020001F), None);
        let same = response(
            500,
            &[
                ("BITS-Error-Code", "0x8020001F"),
                ("BITS-Error", "0x8020001f"),
            ],
        );
        let (m, r) = check_response(&plan, &same, &BodyObservation::default(), &Vars::new());
        assert!(m.is_empty(), "{m:?}");
        assert_eq!(r[0].reading, "both");
        let differ = response(
            500,
            &[
                ("BITS-Error-Code", "0x8020001F"),
                ("BITS-Error", "0x80070057"),
            ],
        );
        let (m, _) = check_response(&plan, &differ, &BodyObservation::default(), &Vars::new());
        assert_eq!(m.len(), 1, "{m:?}");
        assert_eq!(m[0].header.as_deref(), Some("BITS-Error"));
    }

    #[test]
    fn wrong_or_missing_error_code_is_a_mismatch() {
        let plan = error_plan(Some(0x8020001F), Some(5));
        let (m, _) = check_response(
            &plan,
            &response(500, &[("BITS-Error-Code", "0x80070057")]),
            &BodyObservation::default(),
            &Vars::new(),
        );
        assert_eq!(m.len(), 2, "code and missing context: {m:?}");
        assert_eq!(m[0].actual.as_deref(), Some("0x80070057"));
        assert_eq!(m[1].header.as_deref(), Some("BITS-Error-Context"));
    }

    #[test]
    fn error_none_rejects_any_error_header() {
        let plan = ExpectPlan {
            error: Some(Located {
                value: ErrorExpectation::None,
                loc: loc(),
            }),
            ..ExpectPlan::default()
        };
        let (m, _) = check_response(
            &plan,
            &response(200, &[("BITS-Error", "0")]),
            &BodyObservation::default(),
            &Vars::new(),
        );
        assert_eq!(m.len(), 1);
        let (m, _) = check_response(
            &plan,
            &response(200, &[]),
            &BodyObservation::default(),
            &Vars::new(),
        );
        assert!(m.is_empty());
    }

    #[test]
    fn readings_pick_the_first_that_holds_or_report_all() {
        let reading = |name: &str, status: u16| ReadingPlan {
            name: name.into(),
            cite: format!("{name} doc"),
            note: None,
            capability_absent: None,
            loc: loc(),
            status: Some(Located {
                value: vec![status],
                loc: loc(),
            }),
            headers: Vec::new(),
            error: None,
            response: None,
            connection: None,
        };
        let plan = ExpectPlan {
            readings: vec![reading("msdn", 200), reading("mc-bup", 416)],
            ..ExpectPlan::default()
        };
        let (m, r) = check_response(
            &plan,
            &response(416, &[]),
            &BodyObservation::default(),
            &Vars::new(),
        );
        assert!(m.is_empty());
        assert_eq!(r[0].reading, "mc-bup");
        let (m, _) = check_response(
            &plan,
            &response(500, &[]),
            &BodyObservation::default(),
            &Vars::new(),
        );
        assert_eq!(m.len(), 2);
        assert!(m[0].expected.starts_with("[reading msdn]"), "{m:?}");
    }

    #[test]
    fn status_list_and_body() {
        let plan = ExpectPlan {
            status: Some(Located {
                value: vec![200, 201],
                loc: loc(),
            }),
            body: Some(Located {
                value: BodyExpectation::Empty,
                loc: loc(),
            }),
            ..ExpectPlan::default()
        };
        let body = BodyObservation {
            len: 3,
            text: Some("abc".into()),
            matches_file: None,
        };
        let (m, _) = check_response(&plan, &response(404, &[]), &body, &Vars::new());
        assert_eq!(
            m.iter().map(|m| m.kind).collect::<Vec<_>>(),
            ["status", "body"]
        );
        assert_eq!(m[0].expected, "one of 200, 201");
    }
}
