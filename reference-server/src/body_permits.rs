//! Body permits: how many fragment bodies are received at once, each with a
//! write buffer of its own.
//!
//! hyper hands a body over in frames of at most its read buffer (16 KiB, see
//! `wide_reads::MAX_HEAD`), and a `write(2)` per frame cost a dozen system calls
//! per 64 KiB fragment. Frames are instead gathered into a buffer lent with the
//! permit and written once it is full or the body ends: one call per 64 KiB.
//! The buffers are pooled, allocated on first use and at most one per permit,
//! so their memory is fixed (`BODIES_IN_FLIGHT` x [`WRITE_BUFFER`]) however
//! many connections are open; holding hyper's frames instead would make hyper
//! allocate a fresh read buffer for each one.

use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Size of one write buffer.
pub const WRITE_BUFFER: usize = 64 * 1024;

/// The permits and their pooled buffers.
#[derive(Debug)]
pub struct BodyPermits {
    permits: Arc<Semaphore>,
    buffers: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl BodyPermits {
    pub fn new(count: usize) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(count)),
            buffers: Arc::new(Mutex::new(Vec::with_capacity(count))),
        }
    }

    /// Waits for a permit; the buffer comes with it, empty.
    pub async fn receive(&self) -> Receiving {
        let permit = self.permits.clone().acquire_owned().await.ok();
        let buffer = self
            .buffers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(WRITE_BUFFER));
        Receiving {
            buffer,
            pool: Arc::clone(&self.buffers),
            _permit: permit,
        }
    }
}

/// A body being received: the permit and its buffer, both given back on drop.
#[derive(Debug)]
pub struct Receiving {
    buffer: Vec<u8>,
    pool: Arc<Mutex<Vec<Vec<u8>>>>,
    _permit: Option<OwnedSemaphorePermit>,
}

impl Receiving {
    /// The write buffer: empty, with [`WRITE_BUFFER`] bytes of capacity.
    pub fn buffer(&mut self) -> &mut Vec<u8> {
        &mut self.buffer
    }
}

impl Drop for Receiving {
    fn drop(&mut self) {
        let mut buffer = std::mem::take(&mut self.buffer);
        buffer.clear();
        // A buffer that grew (it never should) is not kept.
        if buffer.capacity() == WRITE_BUFFER {
            self.pool
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(buffer);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn buffers_are_lent_empty_and_reused() {
        let permits = BodyPermits::new(2);
        let mut first = permits.receive().await;
        first.buffer().extend_from_slice(b"gathered");
        let address = first.buffer().as_ptr();
        drop(first);
        let mut again = permits.receive().await;
        assert!(again.buffer().is_empty());
        assert_eq!(again.buffer().capacity(), WRITE_BUFFER);
        assert_eq!(
            again.buffer().as_ptr(),
            address,
            "the pooled buffer is reused"
        );
    }

    #[tokio::test]
    async fn no_more_bodies_than_permits() {
        let permits = BodyPermits::new(2);
        let _a = permits.receive().await;
        let mut b = permits.receive().await;
        let address = b.buffer().as_ptr();
        let waiting = tokio::time::timeout(std::time::Duration::from_millis(50), permits.receive());
        assert!(waiting.await.is_err(), "a third body must wait");
        drop(b);
        let third = tokio::time::timeout(std::time::Duration::from_secs(5), permits.receive());
        let mut third = third
            .await
            .expect("a released permit lets the next body in");
        assert_eq!(third.buffer().as_ptr(), address, "with the released buffer");
    }
}
