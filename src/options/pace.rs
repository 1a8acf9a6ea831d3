//! How long to wait for slow or silent targets.

use clap::Args;
use std::time::Duration;

/// How long to wait for a slow or silent target before judging it.
#[derive(Debug, Clone, Args)]
pub struct PaceArgs {
    /// Seconds a response body with no Content-Length (and not chunked) may pause on a
    /// connection the server keeps open before it is judged: a failure naming Content-Length.
    #[arg(long, value_name = "SECS", default_value_t = 1.0)]
    pub idle_grace: f64,
    /// Stop the run after N exchanges in a row time out with none answered between
    /// them (the target stopped answering): the rest is `not run`, exit code 3. 0: never.
    #[arg(long, value_name = "N", default_value_t = crate::run::DEFAULT_TIMEOUTS_IN_A_ROW)]
    pub max_timeouts: usize,
}

pub fn seconds(value: f64) -> Option<Duration> {
    (value.is_finite() && value > 0.0 && value < 1e6).then(|| Duration::from_secs_f64(value))
}
