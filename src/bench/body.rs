//! A fragment body generated on the fly from the deterministic upload file, so a
//! session never holds more than one chunk of it in memory.

use bytes::{Bytes, BytesMut};
use http_body::{Body, Frame, SizeHint};
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;

/// Bytes generated per body frame: large enough to keep per-frame costs small,
/// and under glibc's 128 KiB mmap threshold, so buffers come from the heap
/// instead of fresh pages (page faults and zeroing were 20 % of the client).
pub const CHUNK: usize = 64 * 1024;

/// Where the body records the moment its last byte was handed to the connection.
pub type Finished = Arc<Mutex<Option<Instant>>>;

/// The bytes `offset..end` of the file generated from `seed`.
#[derive(Debug)]
pub struct FileRange {
    seed: u64,
    offset: u64,
    end: u64,
    finished: Finished,
}

impl FileRange {
    pub fn new(seed: u64, offset: u64, end: u64, finished: Finished) -> Self {
        FileRange {
            seed,
            offset,
            end,
            finished,
        }
    }

    fn mark_finished(&self) {
        let mut slot = self.finished.lock().unwrap_or_else(|e| e.into_inner());
        slot.get_or_insert_with(Instant::now);
    }
}

impl Body for FileRange {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let remaining = self.end - self.offset;
        if remaining == 0 {
            self.mark_finished();
            return Poll::Ready(None);
        }
        let len = usize::try_from(remaining).map_or(CHUNK, |r| r.min(CHUNK));
        let mut buf = BytesMut::zeroed(len);
        crate::shared::upload_data::fill(self.seed, self.offset, &mut buf);
        self.offset += len as u64;
        if self.offset == self.end {
            self.mark_finished();
        }
        Poll::Ready(Some(Ok(Frame::data(buf.freeze()))))
    }

    fn is_end_stream(&self) -> bool {
        self.offset == self.end
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.end - self.offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[tokio::test]
    async fn the_body_is_the_file_range() {
        let finished = Finished::default();
        let body = FileRange::new(5, 1000, 1000 + 3 * CHUNK as u64 + 17, finished.clone());
        let bytes = body.collect().await.map(|c| c.to_bytes());
        let Ok(bytes) = bytes;
        assert_eq!(
            bytes.as_ref(),
            crate::shared::upload_data::range(5, 1000, 1000 + 3 * CHUNK as u64 + 16).as_slice()
        );
        assert!(finished.lock().map(|f| f.is_some()).unwrap_or(false));
    }
}
