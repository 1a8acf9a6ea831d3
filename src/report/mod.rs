//! Stage 5: reporters. The only code that prints or writes results.
//!
//! Every run writes every file format ([`write_all`]), so CI can pick whichever it
//! reads without the run having to know.

pub mod console;
mod files;
pub mod findings;
pub mod html;
pub mod json;
pub mod junit;
pub mod markdown;
pub mod output;
pub mod progress;
pub mod render;
mod run_report;
pub mod selftest;
pub mod summary;

pub use console::Console;
pub use files::{write_all, write_atomic};
pub use run_report::{RunReport, suite_coverage};
