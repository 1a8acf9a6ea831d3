//! Data every stage and feature shares: source locations, results, the deterministic
//! upload data and the exit codes. Depends on nothing else in the crate.

pub mod exit;
pub mod level;
pub mod location;
pub mod observation;
pub mod outcome;
pub mod selftest;
pub mod upload_data;
