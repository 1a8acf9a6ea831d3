//! The wire, without an HTTP library in between: requests are sent as exact bytes and
//! responses are read by a lenient parser, so the harness can send what ordinary
//! clients refuse to (no Content-Length, two BITS-Packet-Type headers, bare LF) and
//! survive what a broken server answers (garbage, HTTP/1.0, no length, trickled heads).
//!
//! Everything here is pure (bytes in, data out) so it can be fuzzed; the sockets are in
//! [`crate::run`].

pub mod request;
pub mod response;

pub use response::{ChunkedDecoder, Framing, ResponseHead, framing, parse_head};
