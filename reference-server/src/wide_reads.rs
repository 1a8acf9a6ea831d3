//! Wide read buffers for a few connections, 16 KiB for the rest.
//!
//! hyper hands a body over in frames of at most its read buffer, and each
//! frame costs a `recvfrom`, a pass through the connection's task and a copy:
//! with 16 KiB frames a 1 MiB fragment took 64 of each, about a tenth of the
//! server's time. But hyper never shrinks a connection's buffer once grown,
//! and a thousand connections must not keep 80 KiB each. So a connection gets
//! a buffer of up to [`WIDE_BUFFER`] only while it holds one of
//! [`WIDE_CONNECTIONS`] licences, taken when it is accepted (if one is free)
//! and given back when it closes: 1.25 MiB at most in all. Every other connection
//! has the 16 KiB buffer. The 16 KiB head limit (IIS's) is hyper's
//! `max_header_size` on every connection.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Largest request head (request line + headers); IIS's default (http.sys
/// MaxRequestBytes) is the same 16 KB. It is also hyper's buffer limit on all
/// but a few connections (`wide_reads.rs`): body reads fill that buffer and
/// hyper never shrinks it, so at 64 KiB a thousand uploading connections held
/// 64 MB.
pub(crate) const MAX_HEAD: usize = 16 * 1024;

/// hyper's buffer limit on a licensed connection: its largest read. A 64 KiB
/// fragment with its head (at most [`MAX_HEAD`]) arrives in one read and is
/// written with one call; at exactly 64 KiB the last few hundred bytes took a
/// second `recvfrom` and `write`, about a tenth of the CPU time for 64 KiB
/// fragments.
pub const WIDE_BUFFER: usize = 64 * 1024 + MAX_HEAD;

/// Connections with a wide buffer at once.
pub const WIDE_CONNECTIONS: usize = 16;

/// The licences for wide buffers.
#[derive(Debug)]
pub struct WideLicences(Arc<Semaphore>);

impl Default for WideLicences {
    fn default() -> Self {
        Self(Arc::new(Semaphore::new(WIDE_CONNECTIONS)))
    }
}

impl WideLicences {
    /// A licence if one is free, held for the connection's life.
    pub fn try_take(&self) -> Option<OwnedSemaphorePermit> {
        Arc::clone(&self.0).try_acquire_owned().ok()
    }
}
