//! bitspec: a conformance test suite for BITS upload servers.
//!
//! Scenarios are YAML files describing packet exchanges (`scenarios/`). They flow
//! through one pipeline, one module per stage:
//!
//! 1. **load** ([`scenario::load`]): read a file and parse it into the serde model
//!    ([`scenario::model`]); unknown keys and syntax errors come back located
//!    (`file:line:column`) with a did-you-mean.
//! 2. **validate** ([`scenario::validate`]): semantic checks (undefined variables,
//!    captures used too early, malformed ranges, bad regexes) that produce a runnable
//!    [`scenario::plan::Scenario`].
//! 3. **run** ([`run`]): render each step's request (built from its keys, or raw bytes),
//!    send it over bitspec's own TCP connection (the scenario's keep-alive one, a new
//!    one, or through the fault proxy, [`proxy`]) and read the answer with a lenient,
//!    bounded parser ([`raw`]); `generate` steps run seeded schedules ([`generate`]).
//!    Scenarios run concurrently, and an open session is cancelled at the end.
//! 4. **check** ([`check`]): compare each response with its expectations, tolerating
//!    every reading the documents allow and recording the one the target chose.
//! 5. **report** ([`report`], [`render`]): results are plain data ([`outcome`]);
//!    only reporters print them (console, `results.json`).
//!
//! [`commands`] wires the stages for the CLI; [`harness`] does the same for
//! `cargo test` through libtest-mimic. The bundled reference server
//! (`bitspec-server`) is only started from [`target`], never consulted by the checks.

pub mod baseline;
pub mod bench;
pub mod check;
pub mod cli;
pub mod client_test;
pub mod commands;
pub mod coverage_cmd;
pub mod differential;
pub mod exit;
pub mod fmt;
pub mod generate;
pub mod harness;
pub mod level_check;
pub mod location;
pub mod matrix;
pub mod outcome;
pub mod profile;
pub mod proxy;
pub mod raw;
pub mod record;
pub mod render;
pub mod report;
pub mod requirements;
pub mod run;
pub mod scenario;
pub mod schema;
pub mod selftest;
pub mod selftest_cmd;
pub mod shell_cmd;
pub mod shipped;
pub mod target;
pub mod upload;
pub mod upload_data;
pub mod windows_auth;
