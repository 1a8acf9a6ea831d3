//! Header predicates: does one response header satisfy one expectation?

use crate::scenario::plan::{HeaderExpectation, HeaderMatch};
use crate::scenario::template::{Template, Vars};
use crate::scenario::validate::parse_hex;
use crate::shared::outcome::{Mismatch, RecordedResponse};

/// Checks one header expectation; `None` when it holds.
pub fn check_header(
    exp: &HeaderExpectation,
    response: &RecordedResponse,
    vars: &Vars,
) -> Option<Mismatch> {
    let actual = response.header(&exp.name).map(str::trim);
    let render = |t: &Template| t.render(vars).unwrap_or_else(|e| format!("<{e}>"));
    let (holds, expected, expected_line) = match &exp.check {
        HeaderMatch::Present => (
            actual.is_some(),
            "present".to_owned(),
            Some(actual.unwrap_or("<any value>").to_owned()),
        ),
        HeaderMatch::Absent => (actual.is_none(), "absent".to_owned(), None),
        HeaderMatch::Equals(t) => {
            let want = render(t);
            (actual == Some(want.trim()), format!("{want:?}"), Some(want))
        }
        HeaderMatch::EqualsIgnoreCase(t) => {
            let want = render(t);
            (
                actual.is_some_and(|a| a.eq_ignore_ascii_case(want.trim())),
                format!("{want:?} (any case)"),
                Some(want),
            )
        }
        HeaderMatch::AbsentOrEquals(t) => {
            let want = render(t);
            let holds = actual.is_none_or(|a| a.eq_ignore_ascii_case(want.trim()));
            (holds, format!("absent or {want:?} (any case)"), Some(want))
        }
        HeaderMatch::OneOf(ts) => {
            let wants: Vec<String> = ts.iter().map(render).collect();
            let holds =
                actual.is_some_and(|a| wants.iter().any(|w| a.eq_ignore_ascii_case(w.trim())));
            let words = wants
                .iter()
                .map(|w| format!("{w:?}"))
                .collect::<Vec<_>>()
                .join(", ");
            (
                holds,
                format!("one of {words} (any case)"),
                Some(wants.join(" | ")),
            )
        }
        HeaderMatch::Matches(re) => (
            actual.is_some_and(|a| re.is_match(a)),
            format!("matching /{}/", re.as_str()),
            Some(format!("/{}/", re.as_str())),
        ),
        HeaderMatch::Between(a, b) => {
            let (first, last) = (render(a), render(b));
            let bound = |t: &str| t.trim().parse::<u64>().ok();
            let holds = match (actual.and_then(bound), bound(&first), bound(&last)) {
                (Some(n), Some(lo), Some(hi)) => lo <= n && n <= hi,
                _ => false,
            };
            (
                holds,
                format!("a number from {first} to {last}"),
                Some(format!("{first}..={last}")),
            )
        }
        HeaderMatch::Hex(n) => {
            let holds = actual.and_then(parse_hex) == Some(*n);
            (
                holds,
                format!("{n:#X} (any hexadecimal spelling)"),
                Some(format!("{n:#X}")),
            )
        }
    };
    (!holds).then(|| Mismatch {
        kind: "header",
        header: Some(exp.name.clone()),
        expected,
        actual: actual.map(str::to_owned),
        expected_line: if matches!(exp.check, HeaderMatch::Present) && actual.is_none() {
            Some("<any value>".into())
        } else {
            expected_line
        },
        loc: exp.loc.clone(),
        graded: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shared::location::Loc;
    use std::sync::Arc;

    fn response(headers: &[(&str, &str)]) -> RecordedResponse {
        RecordedResponse::new(200, headers)
    }

    fn exp(name: &str, check: HeaderMatch) -> HeaderExpectation {
        HeaderExpectation {
            name: name.into(),
            check,
            loc: Loc::new(&Arc::from("t.yaml"), 3, 7),
        }
    }

    fn t(s: &str) -> Template {
        Template::parse(s).expect("template")
    }

    #[test]
    fn names_are_case_insensitive_and_values_trimmed() {
        let r = response(&[("bits-packet-type", " Ack ")]);
        assert!(
            check_header(
                &exp("BITS-Packet-Type", HeaderMatch::Equals(t("Ack"))),
                &r,
                &Vars::new()
            )
            .is_none()
        );
        assert!(
            check_header(
                &exp("BITS-PACKET-TYPE", HeaderMatch::EqualsIgnoreCase(t("ACK"))),
                &r,
                &Vars::new()
            )
            .is_none()
        );
        let m = check_header(
            &exp("BITS-Packet-Type", HeaderMatch::Equals(t("ACK"))),
            &r,
            &Vars::new(),
        )
        .expect("case matters for equals");
        assert_eq!(m.actual.as_deref(), Some("Ack"));
        assert_eq!(m.expected, "\"ACK\"");
    }

    #[test]
    fn absent_or_equals_accepts_absence_and_the_echo_only() {
        let mut vars = Vars::new();
        vars.insert("session".into(), "{AB}".into());
        let e = exp(
            "BITS-Session-Id",
            HeaderMatch::AbsentOrEquals(t("${session}")),
        );
        assert!(check_header(&e, &response(&[]), &vars).is_none());
        assert!(check_header(&e, &response(&[("BITS-Session-Id", "{ab}")]), &vars).is_none());
        assert!(check_header(&e, &response(&[("BITS-Session-Id", "{CD}")]), &vars).is_some());
    }

    #[test]
    fn hex_and_presence() {
        let r = response(&[("BITS-Error-Context", "5")]);
        assert!(
            check_header(
                &exp("bits-error-context", HeaderMatch::Hex(5)),
                &r,
                &Vars::new()
            )
            .is_none()
        );
        let missing = check_header(
            &exp("BITS-Received-Content-Range", HeaderMatch::Present),
            &r,
            &Vars::new(),
        )
        .expect("missing");
        assert_eq!(
            (missing.expected.as_str(), missing.actual.as_deref()),
            ("present", None)
        );
        assert!(
            check_header(
                &exp("BITS-Error-Context", HeaderMatch::Absent),
                &r,
                &Vars::new()
            )
            .is_some()
        );
    }
}
