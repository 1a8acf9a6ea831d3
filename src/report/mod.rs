//! Stage 5: reporters. The only code that prints or writes results.

pub mod console;
pub mod json;

pub use console::Console;
