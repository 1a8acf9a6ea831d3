//! What the runner observed of an exchange beyond the response itself: produced by
//! `run`, judged by `check`.

/// What the transport learnt about the response body.
#[derive(Debug, Clone, Default)]
pub struct BodyObservation {
    pub len: u64,
    /// The body as text, when it was kept (small bodies only).
    pub text: Option<String>,
    /// The comparison with the upload file, when the step asked for it.
    pub matches_file: Option<Result<(), String>>,
}

/// What the transport observed, beyond the response itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TransportObservation {
    /// The server closed (or reset) the connection by the end of the exchange;
    /// `None` when that was not watched for.
    pub closed: Option<bool>,
    /// Why no complete response came, when none did.
    pub failure: Option<String>,
    /// No answer, or not a whole head, came before the deadline on an open connection.
    pub timed_out: bool,
    /// The response's body had no delimiter (no Content-Length, not chunked) and the
    /// server kept the connection open: the transport detail, for the failure.
    pub undelimited: Option<String>,
}

/// A failure that is only the absence of an answer (close, reset, silence), not bytes.
pub fn is_silence(failure: &str) -> bool {
    failure.starts_with("no response")
        || failure.starts_with("the target closed")
        || failure.starts_with("the target reset")
}
