//! Generated fragment schedules and the model of the protocol they are checked against.
//!
//! A schedule is the random part of an upload: fragments in order, duplicates, overlaps,
//! gaps and old data, drawn from a seed. The model says, from the offset the server
//! expects next (`E`), every Ack a server may legally send for a fragment (summary §4.2,
//! §10.9-10): it accepts the MSDN reading (overlap written from `E`, 200) and the MC-BUP
//! one (416 whenever `first != E`) alike, and it follows whichever the server chose.

/// One fragment: bytes `first..=last` of the upload file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frag {
    pub first: u64,
    pub last: u64,
}

/// A legal Ack for a fragment: the status and the BITS-Received-Content-Range it carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LegalAck {
    pub status: u16,
    pub received: u64,
}

impl std::fmt::Display for LegalAck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} with BITS-Received-Content-Range {}",
            self.status, self.received
        )
    }
}

/// Every Ack a server may send for `frag` when it expects offset `expected` next.
pub fn legal_acks(expected: u64, frag: Frag) -> Vec<LegalAck> {
    let ok = |received| LegalAck {
        status: 200,
        received,
    };
    let out_of_sync = LegalAck {
        status: 416,
        received: expected,
    };
    if frag.first == expected {
        // In order: written, 200 with last + 1.
        vec![ok(frag.last + 1)]
    } else if frag.first > expected {
        // A gap: 416 with the offset to resume from (both documents).
        vec![out_of_sync]
    } else if frag.last >= expected {
        // An overlap: MSDN writes from E on (200), MC-BUP answers 416 (summary §10.9).
        vec![ok(frag.last + 1), out_of_sync]
    } else {
        // Old data only: unspecified; 200 or 416, always with E and nothing written (§10.10).
        vec![ok(expected), out_of_sync]
    }
}

/// The largest fragment a generated run sends, whatever `max_fragment` or the file size
/// ask for: each fragment's bytes are built in memory.
pub const MAX_FRAGMENT_BYTES: u64 = 64 * 1024 * 1024;

/// What a schedule's fragments may look like.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    pub file_size: u64,
    pub max_fragment: u64,
}

impl Shape {
    /// The shape of a `generate` step: `max_fragment` as asked (0: a quarter of the file),
    /// at least 1 and at most the file size and [`MAX_FRAGMENT_BYTES`].
    pub fn new(file_size: u64, max_fragment: u64) -> Shape {
        let asked = if max_fragment == 0 {
            file_size / 4
        } else {
            max_fragment
        };
        Shape {
            file_size,
            max_fragment: asked.clamp(1, file_size.clamp(1, MAX_FRAGMENT_BYTES)),
        }
    }
}

/// `count` fragments drawn from `seed`: mostly in order, with duplicates, overlaps,
/// gaps and old data. Positions follow the offset an MSDN-reading server would expect;
/// the model checks them against whatever the server actually reports.
pub fn generate(seed: u64, count: u32, shape: Shape) -> Vec<Frag> {
    let size = shape.file_size.max(1);
    let max = shape.max_fragment.clamp(1, size.min(MAX_FRAGMENT_BYTES));
    let mut rng = SplitMix(seed);
    let mut next = 0u64;
    let mut out: Vec<Frag> = Vec::new();
    for _ in 0..count {
        let len = 1 + rng.below(max);
        let roll = rng.below(100);
        let frag = if roll < 15 && !out.is_empty() {
            // A duplicate of an earlier fragment.
            out[usize::try_from(rng.below(out.len() as u64)).unwrap_or(0)]
        } else if roll < 30 && next > 0 && next < size && max >= 2 {
            // An overlap: starts before `next`, ends at or after it.
            let back = 1 + rng.below(next.min(max - 1));
            let first = next - back;
            Frag {
                first,
                last: next.saturating_add(rng.below(max - back)).min(size - 1),
            }
        } else if roll < 42 && next < size - 1 {
            // A gap: starts after `next`.
            let first = next + 1 + rng.below(size - next - 1);
            Frag {
                first,
                last: first.saturating_add(len - 1).min(size - 1),
            }
        } else if roll < 52 && next > 0 {
            // Old data: entirely before `next`.
            let first = rng.below(next);
            Frag {
                first,
                last: first.saturating_add(len - 1).min(next - 1),
            }
        } else if next < size {
            Frag {
                first: next,
                last: next.saturating_add(len - 1).min(size - 1),
            }
        } else {
            let first = rng.below(size);
            Frag {
                first,
                last: first.saturating_add(len - 1).min(size - 1),
            }
        };
        if frag.first <= next && frag.last >= next {
            next = frag.last + 1;
        }
        out.push(frag);
    }
    out
}

/// Smaller schedules to try when `schedule` fails, most promising first: without a
/// half, a quarter, ... one fragment, then each fragment shortened.
pub fn shrink_candidates(schedule: &[Frag]) -> Vec<Vec<Frag>> {
    let mut out = Vec::new();
    let n = schedule.len();
    let mut chunk = n.div_ceil(2).max(1);
    while chunk >= 1 && n > 0 {
        let mut start = 0;
        while start < n {
            let end = (start + chunk).min(n);
            let mut c = schedule[..start].to_vec();
            c.extend_from_slice(&schedule[end..]);
            out.push(c);
            start += chunk;
        }
        if chunk == 1 {
            break;
        }
        chunk /= 2;
    }
    for (i, f) in schedule.iter().enumerate() {
        let len = f.last - f.first + 1;
        if len > 1 {
            let mut c = schedule.to_vec();
            c[i].last = f.first + len / 2 - 1;
            out.push(c);
        }
    }
    out
}

/// A small, seedable generator (SplitMix64): deterministic across platforms.
#[derive(Debug, Clone)]
pub struct SplitMix(pub u64);

impl SplitMix {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform-enough in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next_u64() % n }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_model_accepts_both_readings_of_an_overlap() {
        assert_eq!(
            legal_acks(
                100,
                Frag {
                    first: 100,
                    last: 199
                }
            ),
            [LegalAck {
                status: 200,
                received: 200
            }]
        );
        assert_eq!(
            legal_acks(
                100,
                Frag {
                    first: 150,
                    last: 199
                }
            ),
            [LegalAck {
                status: 416,
                received: 100
            }]
        );
        assert_eq!(
            legal_acks(
                100,
                Frag {
                    first: 50,
                    last: 149
                }
            ),
            [
                LegalAck {
                    status: 200,
                    received: 150
                },
                LegalAck {
                    status: 416,
                    received: 100
                }
            ]
        );
        assert_eq!(
            legal_acks(100, Frag { first: 0, last: 49 }),
            [
                LegalAck {
                    status: 200,
                    received: 100
                },
                LegalAck {
                    status: 416,
                    received: 100
                }
            ]
        );
    }

    #[test]
    fn schedules_are_deterministic_and_in_bounds() {
        let shape = Shape {
            file_size: 5000,
            max_fragment: 700,
        };
        let a = generate(7, 40, shape);
        assert_eq!(a, generate(7, 40, shape));
        assert_ne!(a, generate(8, 40, shape));
        assert!(
            a.iter()
                .all(|f| f.first <= f.last && f.last < 5000 && f.last - f.first < 700)
        );
    }

    #[test]
    fn huge_files_and_fragments_stay_in_bounds() {
        for (file_size, max_fragment) in [
            (u64::MAX, u64::MAX),
            (u64::MAX, 0),
            (u64::MAX - 1, u64::MAX / 2),
            (10, u64::MAX),
        ] {
            let shape = Shape::new(file_size, max_fragment);
            assert!(shape.max_fragment >= 1 && shape.max_fragment <= MAX_FRAGMENT_BYTES);
            assert!(shape.max_fragment <= file_size);
            for seed in 0..200 {
                for f in generate(seed, 50, shape) {
                    assert!(f.first <= f.last && f.last < file_size, "{f:?}");
                    assert!(f.last - f.first < shape.max_fragment, "{f:?}");
                }
            }
        }
        // A shape written out by hand is clamped as well.
        let raw = Shape {
            file_size: u64::MAX,
            max_fragment: u64::MAX,
        };
        for seed in 0..200 {
            for f in generate(seed, 50, raw) {
                assert!(
                    f.first <= f.last && f.last - f.first < MAX_FRAGMENT_BYTES,
                    "{f:?}"
                );
            }
        }
        assert_eq!(Shape::new(4000, 0).max_fragment, 1000);
        assert_eq!(Shape::new(3, 0).max_fragment, 1);
        assert_eq!(Shape::new(4000, 600).max_fragment, 600);
    }

    #[test]
    fn shrink_candidates_are_smaller() {
        let s = generate(
            3,
            8,
            Shape {
                file_size: 1000,
                max_fragment: 300,
            },
        );
        for c in shrink_candidates(&s) {
            let size =
                |v: &[Frag]| v.iter().map(|f| f.last - f.first + 1).sum::<u64>() + v.len() as u64;
            assert!(size(&c) < size(&s));
        }
    }
}
