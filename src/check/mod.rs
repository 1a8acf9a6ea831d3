//! Stage 4: checking responses against expectations.

mod expect;
mod header;
mod judge;
mod transport;

pub use expect::{ERROR_CODE_HEADERS, ERROR_CONTEXT_HEADER, check_exchange, check_response};
pub use header::check_header;
pub use judge::{Checks, judge};
pub use transport::{check_framing, check_transport};
