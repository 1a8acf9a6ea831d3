//! What a bench run measured, as a table for people and JSON for machines.

use serde::Serialize;
use std::time::Duration;

/// Ack latency percentiles in milliseconds.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq)]
pub struct Latency {
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Latency {
    /// Nearest-rank percentiles of `samples` (microseconds); sorts them.
    pub fn of(samples: &mut [u32]) -> Latency {
        samples.sort_unstable();
        let rank = |p: f64| {
            if samples.is_empty() {
                return 0.0;
            }
            let i = ((p * samples.len() as f64).ceil() as usize).clamp(1, samples.len()) - 1;
            f64::from(samples[i]) / 1000.0
        };
        Latency {
            p50_ms: rank(0.50),
            p99_ms: rank(0.99),
            max_ms: rank(1.0),
        }
    }
}

/// The result of `bitspec bench`, also its `--json` output.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub target: String,
    pub sessions: usize,
    pub file_size: u64,
    pub fragment_size: u64,
    /// Fragment body bytes the target acknowledged.
    pub bytes: u64,
    pub seconds: f64,
    /// Millions of bytes per second (10^6).
    pub mb_per_s: f64,
    /// Every BITS packet sent: Create-Session, Fragments, Close-Session.
    pub packets: u64,
    pub packets_per_s: f64,
    /// From the last request byte handed to the connection to the Ack's head.
    pub ack_latency: Latency,
    /// Sessions that did not complete (each stops at its first error).
    pub errors: u64,
    /// A few of the error messages, distinct.
    pub error_samples: Vec<String>,
}

impl Report {
    pub fn new(
        target: String,
        shape: (usize, u64, u64),
        bytes: u64,
        packets: u64,
        elapsed: Duration,
        latencies: &mut [u32],
        errors: Vec<String>,
    ) -> Report {
        let seconds = elapsed.as_secs_f64().max(1e-9);
        let mut error_samples: Vec<String> = Vec::new();
        for e in &errors {
            if error_samples.len() < 5 && !error_samples.contains(e) {
                error_samples.push(e.clone());
            }
        }
        Report {
            target,
            sessions: shape.0,
            file_size: shape.1,
            fragment_size: shape.2,
            bytes,
            seconds,
            mb_per_s: bytes as f64 / seconds / 1e6,
            packets,
            packets_per_s: packets as f64 / seconds,
            ack_latency: Latency::of(latencies),
            errors: errors.len() as u64,
            error_samples,
        }
    }

    /// The closing table.
    pub fn table(&self) -> String {
        let l = &self.ack_latency;
        let mut out = format!(
            "target      {}\nworkload    {} session(s) x {} in fragments of {}\n\n",
            self.target,
            self.sessions,
            human(self.file_size),
            human(self.fragment_size)
        );
        let rows = [
            ("throughput", format!("{:.1} MB/s", self.mb_per_s)),
            (
                "uploaded",
                format!("{} in {:.2} s", human(self.bytes), self.seconds),
            ),
            (
                "packets",
                format!("{} ({:.0}/s)", self.packets, self.packets_per_s),
            ),
            (
                "Ack latency",
                format!(
                    "p50 {:.2} ms   p99 {:.2} ms   max {:.2} ms",
                    l.p50_ms, l.p99_ms, l.max_ms
                ),
            ),
            ("errors", self.errors.to_string()),
        ];
        for (name, value) in rows {
            out.push_str(&format!("{name:<12}{value}\n"));
        }
        for e in &self.error_samples {
            out.push_str(&format!("  error: {e}\n"));
        }
        out
    }
}

/// `1048576` -> `1 MiB`, for the table.
pub fn human(bytes: u64) -> String {
    const UNITS: [(&str, u64); 3] = [("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)];
    for (unit, size) in UNITS {
        if bytes >= size && bytes.is_multiple_of(size) {
            return format!("{} {unit}", bytes / size);
        }
    }
    format!("{bytes} B")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let mut samples: Vec<u32> = (1..=100).rev().map(|ms| ms * 1000).collect();
        let l = Latency::of(&mut samples);
        assert_eq!((l.p50_ms, l.p99_ms, l.max_ms), (50.0, 99.0, 100.0));
        assert_eq!(Latency::of(&mut []), Latency::default());
    }

    #[test]
    fn sizes_read_as_binary_units() {
        assert_eq!(human(1 << 30), "1 GiB");
        assert_eq!(human(64 << 10), "64 KiB");
        assert_eq!(human(1000), "1000 B");
    }
}
