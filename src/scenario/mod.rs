//! Stage 1 and 2 of the pipeline: load scenario files and validate them into plans.

pub mod discover;
pub mod error;
pub mod fmt;
pub mod level_check;
pub mod library;
pub mod load;
pub mod model;
pub mod plan;
pub mod profile;
pub mod requirements;
pub mod shipped;
pub mod template;
pub mod validate;

pub use discover::{Selection, Suite, find_scenario_files, load_files, load_suite};
pub use error::ScenarioError;
pub use library::StepLibrary;
pub use plan::Scenario;
