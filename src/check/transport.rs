//! Expectations on the transport itself: did the server answer, did it close the
//! connection, which HTTP version did it speak. They make "the server must close" and
//! "the server must answer" writable, and they are what a raw step usually checks.

use crate::location::Loc;
use crate::outcome::{Mismatch, RecordedResponse};
use crate::scenario::model::{ConnectionState, ResponsePresence};
use crate::scenario::plan::Located;

/// What the transport observed, beyond the response itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TransportObservation {
    /// The server closed (or reset) the connection by the end of the exchange;
    /// `None` when that was not watched for.
    pub closed: Option<bool>,
    /// Why no complete response came, when none did.
    pub failure: Option<String>,
}

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

/// A failure that is only the absence of an answer (close, reset, silence), not bytes.
pub fn is_silence(failure: &str) -> bool {
    failure.starts_with("no response")
        || failure.starts_with("the target closed")
        || failure.starts_with("the target reset")
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
