//! The async runtime of the I/O edge, for every command that talks to a target.

use crate::shared::exit;

/// The multi-threaded runtime the I/O runs on; `Err` is the exit code after the
/// problem was printed.
pub fn runtime() -> Result<tokio::runtime::Runtime, u8> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            eprintln!("error: cannot start the async runtime: {e}");
            exit::UNREACHABLE
        })
}
