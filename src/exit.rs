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
