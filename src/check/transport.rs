//! Expectations on the transport itself: did the server answer, did it close the
//! connection, which HTTP version did it speak. They make "the server must close" and
//! "the server must answer" writable, and they are what a raw step usually checks.

use crate::scenario::model::Level;
use crate::scenario::model::{ConnectionState, ResponsePresence};
use crate::scenario::plan::Located;
use crate::shared::location::Loc;
use crate::shared::observation::{TransportObservation, is_silence};
use crate::shared::outcome::{FRAMING, Graded, Mismatch, RecordedRequest, RecordedResponse};

/// Mismatches of `response:` and `connection:` expectations.
pub fn check_transport(
    response: Option<&RecordedResponse>,
    expect_response: Option<&Located<ResponsePresence>>,
    expect_connection: Option<&Located<ConnectionState>>,
    observed: &TransportObservation,
) -> Vec<Mismatch> {
    let mut found = Vec::new();
    if let Some(want) = expect_response {
        let silent = response.is_none() && observed.failure.as_deref().is_none_or(is_silence);
        let holds = match want.value {
            ResponsePresence::Present => response.is_some(),
            ResponsePresence::None => silent,
        };
        if !holds {
            let actual = match response {
                Some(r) => Some(format!("a response ({})", r.status_line())),
                None => observed.failure.clone(),
            };
            let expected = match want.value {
                ResponsePresence::Present => "a response",
                ResponsePresence::None => "no response",
            };
            found.push(mismatch("response", expected, actual, &want.loc));
        }
    }
    if let Some(want) = expect_connection {
        let closed = observed.closed.unwrap_or(false);
        let holds = match want.value {
            ConnectionState::Closed => closed,
            ConnectionState::Open => !closed,
        };
        if !holds {
            let (expected, actual) = match want.value {
                ConnectionState::Closed => ("closed by the server", "still open"),
                ConnectionState::Open => ("kept open", "closed by the server"),
            };
            found.push(mismatch(
                "connection",
                expected,
                Some(actual.to_owned()),
                &want.loc,
            ));
        }
    }
    found
}

/// A response whose body had no delimiter while the connection stayed open, where a
/// MUST names Content-Length: a failure naming it, with the transport detail.
/// Every Ack carries Content-Length (MC-BUP 2.2.3.1, 2.2.5.1, 2.2.7.1, 2.2.9.1,
/// 2.2.11.1: "Content-Length: The value MUST be 0"; the Win32 Ack pages:
/// "Content-Length is required, even if the body of the response does not include
/// content"), and so does a successful answer to GET or HEAD (MC-BUP 3.5.5). `None`
/// for other responses (an error page to a GET): no MUST names the header there.
pub fn check_framing(
    request: &RecordedRequest,
    response: &RecordedResponse,
    observed: &TransportObservation,
    loc: &Loc,
) -> Option<Mismatch> {
    let detail = observed.undelimited.as_ref()?;
    let packet = request
        .headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("BITS-Packet-Type"))
        .map(|(_, v)| v.trim().to_ascii_lowercase());
    let rule = |section: &str| {
        format!("every Ack carries \"Content-Length: The value MUST be 0\" ({section})")
    };
    let (expected, requirement) = if request.method.eq_ignore_ascii_case("BITS_POST") {
        let (section, id) = match packet.as_deref() {
            Some("create-session") => ("MC-BUP 2.2.3.1", Some("mcbup-2.2.3.1-content-length-0")),
            Some("ping") => ("MC-BUP 2.2.5.1", Some("mcbup-2.2.5.1-content-length-0")),
            Some("fragment") => ("MC-BUP 2.2.7.1", Some("mcbup-2.2.7.1-content-length-0")),
            Some("close-session") => ("MC-BUP 2.2.9.1", Some("mcbup-2.2.9.1-content-length-0")),
            Some("cancel-session") => ("MC-BUP 2.2.11.1", Some("mcbup-2.2.11.1-content-length-0")),
            _ => ("MC-BUP 2.2.3.1, 2.2.5.1, 2.2.7.1, 2.2.9.1, 2.2.11.1", None),
        };
        (rule(section), id)
    } else if ["GET", "HEAD"]
        .iter()
        .any(|m| request.method.eq_ignore_ascii_case(m))
        && (200..300).contains(&response.status)
    {
        (
            "\"Successful responses to GET and HEAD requests MUST include the Content-Length header\" (MC-BUP 3.5.5)".to_owned(),
            Some("mcbup-3.5.5-content-length"),
        )
    } else {
        return None;
    };
    Some(Mismatch {
        kind: FRAMING,
        header: Some("Content-Length".into()),
        expected: format!("present (MUST: {expected})"),
        actual: Some(format!("absent: {detail}")),
        expected_line: Some("0".into()),
        loc: loc.clone(),
        // MUST whatever the level of the scenario that met it.
        graded: Some(Graded {
            requirement: requirement.map(str::to_owned),
            level: Level::Must,
        }),
    })
}

fn mismatch(kind: &'static str, expected: &str, actual: Option<String>, loc: &Loc) -> Mismatch {
    Mismatch {
        kind,
        header: None,
        expected: expected.to_owned(),
        actual,
        expected_line: None,
        loc: loc.clone(),
        graded: None,
    }
}
