//! The process exit codes: part of the interface, documented in the README.

/// Every scenario passed (or was skipped).
pub const PASSED: u8 = 0;
/// At least one scenario failed or could not complete its exchange.
pub const FAILED: u8 = 1;
/// Invalid scenario files or command-line usage.
pub const INVALID: u8 = 2;
/// The target could not be reached (or the reference server could not start).
pub const UNREACHABLE: u8 = 3;
/// No scenario matched the selection.
pub const NOTHING_SELECTED: u8 = 4;
/// `bitspec upload`: a transient failure (connection, 5xx, timeout, Ctrl-C with
/// `--keep-on-interrupt`); the journal is kept and running again resumes
/// (EX_TEMPFAIL). A fatal refusal is [`FAILED`], bad input [`INVALID`].
pub const UPLOAD_RETRYABLE: u8 = 75;
/// `bitspec upload` stopped by Ctrl-C; the session was cancelled.
pub const INTERRUPTED: u8 = 130;
