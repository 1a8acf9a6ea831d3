//! Stage 3: running scenarios against a target.

mod engine;
mod liveness;
mod nodes;
mod probe;
mod step;
mod tls;
mod transport;
mod wire;

pub use engine::{
    BITS_15_UPLOAD_PROTOCOL, RunOptions, normalise_target, run_all, run_nonce, run_scenario,
};
pub use engine::{grade, millis};
pub use liveness::{DEFAULT_TIMEOUTS_IN_A_ROW, Liveness, Stopped, utc_time};
pub use probe::{PING_ANSWER_TIMEOUT, ProbeError, probe, probe_target};
pub use step::build_request;
pub use tls::{TlsClient, TlsOptions};
pub use transport::{
    Connection, DEFAULT_IDLE_GRACE, OutgoingRequest, WatchClose, WireRequest, canonical_header_name,
};
pub use wire::{Exchange, Stream};
