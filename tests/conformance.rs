//! Every scenario under `scenarios/` as a test: `cargo test --test conformance`.
//! Runs against the in-process reference server, or `BITSPEC_TARGET` when set.

use std::path::Path;
use std::process::ExitCode;

fn main() -> ExitCode {
    bitspec::harness::run_conformance(&Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios"))
}
