//! Stage 3: running scenarios against a target.

mod engine;
mod transport;

pub use engine::{
    BITS_15_UPLOAD_PROTOCOL, RunOptions, build_request, normalise_target, probe_target, run_all,
    run_nonce, run_scenario,
};
pub use transport::{Connection, OutgoingRequest, canonical_header_name};
