//! bitspec: a conformance test suite for BITS upload servers.
//!
//! Scenarios are YAML files describing packet exchanges (`scenarios/`). They flow
//! through one pipeline; the stages are folders, in pipeline order, and a stage only
//! uses the stages before it (checked by `cargo test --test architecture`):
//!
//! 1. **load + validate** ([`scenario`]): read a file into the serde model
//!    ([`scenario::model`]; unknown keys and syntax errors come back located
//!    `file:line:column` with a did-you-mean), then check it semantically into a
//!    runnable [`scenario::plan::Scenario`]. The other inputs load here too: target
//!    profiles, the requirements catalogue, the suite embedded in the binary.
//! 2. **run** ([`run`]): render each step's request, send it over bitspec's own TCP
//!    connection (through the fault proxy, [`run::proxy`], when a step asks for a
//!    fault; seeded schedules for `generate` steps, [`run::generate`]) and read the
//!    answer with a lenient, bounded parser ([`raw`]). [`run::target`] starts the
//!    bundled reference server when no URL is given.
//! 3. **check** ([`check`]): compare each response with its expectations, tolerating
//!    every reading the documents allow and recording the one the target chose. The
//!    runner calls it through the [`run::Judge`] trait it is handed, so `run` never
//!    imports `check`.
//! 4. **report** ([`report`]): results are plain data ([`shared::outcome`]); only
//!    reporters print them (console, JSON, JUnit, Markdown, HTML).
//!
//! Below the stages: [`shared`] (locations, outcomes, upload data, exit codes),
//! [`raw`] (bytes to responses, pure) and [`auth`] (NTLM/Negotiate).
//!
//! Above them, [`options`] (what every command shares: scenario selection, TLS and
//! pacing options, the async runtime), then the features that use the pipeline: [`selftest`] (planted faults),
//! [`matrix`] (several servers, and `diff`), [`baseline`], [`bench`], [`upload`] (a
//! BITS client), [`client_test`], [`record`], [`schema`] and [`harness`] (`cargo test`
//! through libtest-mimic).
//!
//! On top, [`cli`]: argument types and one file per command; it depends on everything
//! and nothing depends on it. The reference server (`bitspec-server`) is only started
//! from [`run::target`], never consulted by the checks.

// Below the stages.
pub mod auth;
pub mod raw;
pub mod shared;

// The stages, in pipeline order.
pub mod check;
pub mod report;
pub mod run;
pub mod scenario;

// What every command shares (options, runtime), above the stages.
pub mod options;

// Features built on the pipeline.
pub mod baseline;
pub mod bench;
pub mod client_test;
pub mod harness;
pub mod matrix;
pub mod record;
pub mod schema;
pub mod selftest;
pub mod upload;

// The command line, on top of everything.
pub mod cli;
