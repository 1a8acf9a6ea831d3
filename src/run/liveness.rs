//! Has the target stopped answering? Every exchange of a run reports here: an answer
//! resets the count, a timeout adds one. After `limit` timeouts in a row (or when the
//! opening probe gets no answer) the run is stopped: no scenario starts any more, and
//! exchanges still waiting are abandoned, so a dead target costs one timeout, not one
//! per scenario.

use std::sync::Mutex;
use std::time::{Duration, SystemTime};
use tokio::sync::watch;

/// Timeouts in a row, with no answered exchange between them, that stop a run.
pub const DEFAULT_TIMEOUTS_IN_A_ROW: usize = 4;

/// Why and when a run stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stopped {
    /// Wall-clock time, for "stopped answering at 16:05:03 UTC".
    pub at: SystemTime,
    /// What the last exchange saw (`no response within 30.0s ...`).
    pub why: String,
    /// Timeouts in a row that stopped it (0: the opening probe).
    pub timeouts: usize,
}

impl Stopped {
    /// `16:05:03 UTC`.
    pub fn time(&self) -> String {
        utc_time(self.at)
    }

    /// The reason given to scenarios that did not run.
    pub fn not_run(&self) -> String {
        format!("not run: target stopped answering at {}", self.time())
    }

    /// The one line that ends the run.
    pub fn line(&self) -> String {
        if self.timeouts == 0 {
            return format!("target stopped answering at {}: {}", self.time(), self.why);
        }
        format!(
            "target stopped answering at {}: {} exchanges in a row timed out with none answered between them (the last: {})",
            self.time(),
            self.timeouts,
            self.why
        )
    }
}

/// The shared state of one run (every scenario's connections report to it).
#[derive(Debug)]
pub struct Liveness {
    /// 0: never stop.
    limit: usize,
    in_a_row: Mutex<usize>,
    stopped: watch::Sender<Option<Stopped>>,
}

impl Liveness {
    pub fn new(limit: usize) -> Liveness {
        Liveness {
            limit,
            in_a_row: Mutex::new(0),
            stopped: watch::Sender::new(None),
        }
    }

    /// An exchange got an answer (a response head).
    pub fn answered(&self) {
        if let Ok(mut n) = self.in_a_row.lock() {
            *n = 0;
        }
    }

    /// An exchange timed out with `why`; stops the run at the limit.
    pub fn timed_out(&self, why: &str) {
        let count = match self.in_a_row.lock() {
            Ok(mut n) => {
                *n += 1;
                *n
            }
            Err(_) => return,
        };
        if self.limit > 0 && count >= self.limit {
            self.stop(why, count);
        }
    }

    /// Stops the run now (the first reason wins).
    pub fn stop(&self, why: &str, timeouts: usize) {
        self.stopped.send_if_modified(|state| {
            if state.is_some() {
                return false;
            }
            *state = Some(Stopped {
                at: SystemTime::now(),
                why: why.to_owned(),
                timeouts,
            });
            true
        });
    }

    /// Why the run stopped, if it did.
    pub fn stopped(&self) -> Option<Stopped> {
        self.stopped.borrow().clone()
    }

    /// Resolves once the run is stopped.
    pub async fn until_stopped(&self) -> Stopped {
        let mut rx = self.stopped.subscribe();
        loop {
            if let Some(s) = rx.borrow_and_update().clone() {
                return s;
            }
            if rx.changed().await.is_err() {
                // The sender lives as long as `self`: never reached while borrowed.
                std::future::pending::<()>().await;
            }
        }
    }
}

impl Default for Liveness {
    fn default() -> Liveness {
        Liveness::new(DEFAULT_TIMEOUTS_IN_A_ROW)
    }
}

/// `HH:MM:SS UTC` of a wall-clock time.
pub fn utc_time(at: SystemTime) -> String {
    let secs = at
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs();
    format!(
        "{:02}:{:02}:{:02} UTC",
        (secs / 3600) % 24,
        (secs / 60) % 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_timeouts_in_a_row_stop_a_run() {
        let l = Liveness::new(3);
        l.timed_out("a");
        l.timed_out("b");
        l.answered();
        l.timed_out("c");
        l.timed_out("d");
        assert_eq!(l.stopped(), None);
        l.timed_out("e");
        let s = l.stopped().expect("stopped after three in a row");
        assert_eq!((s.why.as_str(), s.timeouts), ("e", 3));
        assert!(
            s.not_run()
                .starts_with("not run: target stopped answering at ")
        );
    }

    #[test]
    fn a_limit_of_zero_never_stops() {
        let l = Liveness::new(0);
        for _ in 0..100 {
            l.timed_out("x");
        }
        assert_eq!(l.stopped(), None);
    }

    #[test]
    fn times_are_shown_in_utc() {
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(86_400 * 3 + 3600 * 16 + 5 * 60 + 3);
        assert_eq!(utc_time(at), "16:05:03 UTC");
    }
}
