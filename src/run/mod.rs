//! Stage 3: running scenarios against a target.

mod engine;
pub mod generate;
mod liveness;
mod nodes;
mod options;
mod probe;
pub mod proxy;
mod step;
pub mod target;
mod tls;
mod transport;
mod wire;

pub use engine::{grade, run_all, run_scenario};
pub use liveness::{DEFAULT_TIMEOUTS_IN_A_ROW, Liveness, Stopped, utc_time};
pub use options::{
    BITS_15_UPLOAD_PROTOCOL, DEFAULT_IDLE_GRACE, Judge, Role, RunOptions, millis, normalise_target,
    run_nonce,
};
pub use probe::{PING_ANSWER_TIMEOUT, ProbeError, probe, probe_target};
pub use step::build_request;
pub use tls::{TlsClient, TlsOptions};
pub use transport::{Connection, OutgoingRequest, WatchClose, WireRequest, canonical_header_name};
pub use wire::{Exchange, Stream};
