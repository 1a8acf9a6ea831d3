//! What every command shares, the CLI's own and the features' (`bench`, `matrix`,
//! `upload`, `record`, `client-test`): scenario selection, TLS and pacing options,
//! the async runtime, terminal colour. Above the stages, below the features.

pub mod pace;
pub mod runtime;
pub mod select;
pub mod terminal;
pub mod tls;
