//! The deterministic upload file: any byte range of it can be produced on its own,
//! so a fragment, a re-sent fragment and the final verification agree without ever
//! holding the whole file in memory.

/// Fills `buf` with the bytes at `offset..offset + buf.len()` of the file generated from `seed`.
pub fn fill(seed: u64, offset: u64, buf: &mut [u8]) {
    // The unaligned head, then whole 8-byte blocks (the bench generates gigabytes
    // with this, so the loop must vectorise), then the tail.
    let head = ((8 - offset % 8) % 8).min(buf.len() as u64) as usize;
    let (first, rest) = buf.split_at_mut(head);
    fill_slow(seed, offset, first);
    let mut index = (offset + head as u64) / 8;
    let mut blocks = rest.chunks_exact_mut(8);
    for out in &mut blocks {
        out.copy_from_slice(&block(seed, index).to_le_bytes());
        index += 1;
    }
    fill_slow(seed, index * 8, blocks.into_remainder());
}

/// Byte by byte, for pieces shorter than a block.
fn fill_slow(seed: u64, offset: u64, buf: &mut [u8]) {
    for (i, byte) in buf.iter_mut().enumerate() {
        let position = offset + i as u64;
        *byte = block(seed, position / 8).to_le_bytes()[(position % 8) as usize];
    }
}

/// The bytes `first..=last` of the file generated from `seed`.
pub fn range(seed: u64, first: u64, last: u64) -> Vec<u8> {
    let len = usize::try_from(last - first + 1).unwrap_or(usize::MAX);
    let mut buf = vec![0; len];
    fill(seed, first, &mut buf);
    buf
}

/// SplitMix64 over (seed, block index): fast, well mixed, no state to carry.
fn block(seed: u64, index: u64) -> u64 {
    let mut z =
        seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ index.wrapping_add(0xD1B5_4A32_D192_ED03);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Compares a stream of received bytes with the expected file, chunk by chunk.
#[derive(Debug)]
pub struct StreamComparer {
    seed: u64,
    size: u64,
    offset: u64,
    first_difference: Option<u64>,
    scratch: Vec<u8>,
}

impl StreamComparer {
    pub fn new(seed: u64, size: u64) -> Self {
        StreamComparer {
            seed,
            size,
            offset: 0,
            first_difference: None,
            scratch: Vec::new(),
        }
    }

    pub fn update(&mut self, chunk: &[u8]) {
        if self.first_difference.is_none() {
            self.scratch.resize(chunk.len(), 0);
            fill(self.seed, self.offset, &mut self.scratch);
            if let Some(i) = chunk.iter().zip(&self.scratch).position(|(a, b)| a != b) {
                self.first_difference = Some(self.offset + i as u64);
            }
        }
        self.offset += chunk.len() as u64;
    }

    /// `Ok` when every byte matched and the length is right; otherwise why not.
    pub fn finish(self) -> Result<(), String> {
        if let Some(at) = self.first_difference.filter(|at| *at < self.size) {
            return Err(format!(
                "content differs from the uploaded file at byte {at}"
            ));
        }
        match self.offset.cmp(&self.size) {
            std::cmp::Ordering::Equal => Ok(()),
            std::cmp::Ordering::Less => Err(format!(
                "{} bytes instead of {} (truncated)",
                self.offset, self.size
            )),
            std::cmp::Ordering::Greater => Err(format!(
                "{} bytes instead of {} (too long)",
                self.offset, self.size
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_range_agrees_with_the_whole() {
        let whole = range(7, 0, 99);
        assert_eq!(range(7, 13, 58), whole[13..=58]);
        assert_ne!(range(8, 0, 99), whole, "another seed gives other bytes");
        for (first, last) in [(0, 0), (3, 4), (5, 17), (8, 15), (9, 99)] {
            let mut one = [0u8; 1];
            for at in first..=last {
                fill_slow(7, at, &mut one);
                assert_eq!(one[0], whole[at as usize]);
            }
            assert_eq!(range(7, first, last), whole[first as usize..=last as usize]);
        }
    }

    #[test]
    fn comparer_finds_the_first_difference_and_length_errors() {
        let whole = range(3, 0, 49);
        let mut ok = StreamComparer::new(3, 50);
        ok.update(&whole[..20]);
        ok.update(&whole[20..]);
        assert_eq!(ok.finish(), Ok(()));

        let mut changed = whole.clone();
        changed[33] ^= 1;
        let mut bad = StreamComparer::new(3, 50);
        bad.update(&changed);
        assert_eq!(
            bad.finish(),
            Err("content differs from the uploaded file at byte 33".into())
        );

        let mut short = StreamComparer::new(3, 50);
        short.update(&whole[..10]);
        assert!(short.finish().unwrap_err().contains("truncated"));
    }
}
