//! Stage 4: checking responses against expectations.

mod expect;
mod header;

pub use expect::{BodyObservation, ERROR_CODE_HEADERS, ERROR_CONTEXT_HEADER, check_response};
pub use header::check_header;
