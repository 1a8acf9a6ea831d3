pub mod location;
pub mod scenario;
