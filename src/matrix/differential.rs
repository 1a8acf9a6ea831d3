//! Differential mode: the same scenarios against two servers, and where their Acks
//! differ, header by header. Values that are unique per server by design (session
//! ids, reply URLs, dates) are compared by presence only; error codes as numbers.

use crate::scenario::validate::parse_hex;
use crate::shared::outcome::{RecordedResponse, ScenarioOutcome};
use serde::Serialize;

/// Headers that say nothing about protocol behaviour.
const IGNORED: &[&str] = &[
    "date",
    "server",
    "connection",
    "keep-alive",
    "pragma",
    "cache-control",
    "x-powered-by",
    "last-modified",
    "etag",
    "expires",
    "content-type",
    "transfer-encoding",
    "www-authenticate",
];
/// Headers whose values are unique to each server: only presence is compared.
const OPAQUE: &[&str] = &[
    "bits-session-id",
    "bits-reply-url",
    "location",
    "bits-host-id",
];
/// Headers compared as hexadecimal numbers.
const NUMERIC: &[&str] = &["bits-error-code", "bits-error", "bits-error-context"];

/// One difference between the two targets' answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Difference {
    pub scenario: String,
    pub step: usize,
    pub label: String,
    /// `status`, a header name, `verdict` or `steps`.
    pub what: String,
    pub a: Option<String>,
    pub b: Option<String>,
}

/// Every difference between two runs of the same scenarios (paired by id).
pub fn compare(a: &[ScenarioOutcome], b: &[ScenarioOutcome]) -> Vec<Difference> {
    let mut out = Vec::new();
    for left in a {
        let Some(right) = b.iter().find(|o| o.id == left.id) else {
            continue;
        };
        let diff = |step: usize, label: &str, what: &str, x: Option<String>, y: Option<String>| {
            Difference {
                scenario: left.name.clone(),
                step,
                label: label.to_owned(),
                what: what.to_owned(),
                a: x,
                b: y,
            }
        };
        if left.verdict != right.verdict {
            out.push(diff(
                0,
                "",
                "verdict",
                Some(left.verdict.as_str().into()),
                Some(right.verdict.as_str().into()),
            ));
        }
        for (x, y) in left.steps.iter().zip(&right.steps) {
            match (&x.response, &y.response) {
                (Some(rx), Some(ry)) => {
                    for (what, vx, vy) in compare_responses(rx, ry) {
                        out.push(diff(x.number, &x.label, &what, vx, vy));
                    }
                }
                (rx, ry) => {
                    if rx.is_some() != ry.is_some() {
                        let words = |r: &Option<RecordedResponse>| {
                            Some(
                                if r.is_some() {
                                    "answered"
                                } else {
                                    "no response"
                                }
                                .to_owned(),
                            )
                        };
                        out.push(diff(x.number, &x.label, "response", words(rx), words(ry)));
                    }
                }
            }
        }
        if left.steps.len() != right.steps.len() {
            out.push(diff(
                0,
                "",
                "steps run",
                Some(left.steps.len().to_string()),
                Some(right.steps.len().to_string()),
            ));
        }
    }
    out
}

/// (what, value from A, value from B) for each difference between two responses.
fn compare_responses(
    a: &RecordedResponse,
    b: &RecordedResponse,
) -> Vec<(String, Option<String>, Option<String>)> {
    let mut out = Vec::new();
    if a.status != b.status {
        out.push((
            "status".to_owned(),
            Some(a.status.to_string()),
            Some(b.status.to_string()),
        ));
    }
    let mut names: Vec<String> = a
        .headers
        .iter()
        .chain(&b.headers)
        .map(|(n, _)| n.to_ascii_lowercase())
        .collect();
    names.sort();
    names.dedup();
    for name in names.iter().filter(|n| !IGNORED.contains(&n.as_str())) {
        let (va, vb) = (a.header(name).map(str::trim), b.header(name).map(str::trim));
        let same = if OPAQUE.contains(&name.as_str()) {
            va.is_some() == vb.is_some()
        } else if NUMERIC.contains(&name.as_str()) {
            va.map(|v| {
                parse_hex(v)
                    .map(|n| n.to_string())
                    .unwrap_or_else(|| v.to_owned())
            }) == vb.map(|v| {
                parse_hex(v)
                    .map(|n| n.to_string())
                    .unwrap_or_else(|| v.to_owned())
            })
        } else {
            match (va, vb) {
                (Some(x), Some(y)) => x.eq_ignore_ascii_case(y),
                (x, y) => x == y,
            }
        };
        if !same {
            let show = |v: Option<&str>| {
                v.map(|v| {
                    if OPAQUE.contains(&name.as_str()) {
                        "<present>".to_owned()
                    } else {
                        v.to_owned()
                    }
                })
            };
            out.push((crate::run::canonical_header_name(name), show(va), show(vb)));
        }
    }
    out
}

/// The differences as text, grouped by scenario.
pub fn render(differences: &[Difference], a: &str, b: &str) -> String {
    let mut text = format!("A = {a}\nB = {b}\n");
    let mut current = "";
    for d in differences {
        if d.scenario != current {
            text.push_str(&format!("\n{}\n", d.scenario));
            current = &d.scenario;
        }
        let at = if d.step == 0 {
            String::new()
        } else {
            format!("step {} ({}): ", d.step, d.label)
        };
        let show = |v: &Option<String>| v.clone().unwrap_or_else(|| "absent".into());
        text.push_str(&format!(
            "  {at}{}: A {} | B {}\n",
            d.what,
            show(&d.a),
            show(&d.b)
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: u16, headers: &[(&str, &str)]) -> RecordedResponse {
        RecordedResponse::new(status, headers)
    }

    #[test]
    fn ignores_volatile_and_opaque_values_but_not_protocol_headers() {
        let a = response(
            200,
            &[
                ("Date", "x"),
                ("BITS-Session-Id", "{A}"),
                ("BITS-Received-Content-Range", "1500"),
                ("BITS-Error-Code", "0x8020001F"),
            ],
        );
        let b = response(
            416,
            &[
                ("Date", "y"),
                ("BITS-Session-Id", "{B}"),
                ("BITS-Received-Content-Range", "1000"),
                ("BITS-Error-Code", "8020001f"),
            ],
        );
        let found = compare_responses(&a, &b);
        let what: Vec<&str> = found.iter().map(|(w, _, _)| w.as_str()).collect();
        assert_eq!(what, ["status", "BITS-Received-Content-Range"]);
        let c = response(200, &[("BITS-Session-Id", "{A}")]);
        let d = response(200, &[]);
        assert_eq!(
            compare_responses(&c, &d),
            vec![(
                "BITS-Session-Id".to_owned(),
                Some("<present>".to_owned()),
                None
            )]
        );
    }
}
