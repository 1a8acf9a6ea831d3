//! Stage 4: checking responses against expectations.

mod expect;
mod header;
mod transport;

pub use expect::{
    BodyObservation, ERROR_CODE_HEADERS, ERROR_CONTEXT_HEADER, check_exchange, check_response,
};
pub use header::check_header;
pub use transport::{FRAMING, TransportObservation, check_framing, check_transport, is_silence};
