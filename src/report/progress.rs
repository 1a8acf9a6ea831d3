//! The progress line of long runs (`run`, `selftest`, `matrix`): how many of how many
//! units are done, how many went wrong, the elapsed time and an estimate of what is
//! left, redrawn in place on stderr.
//!
//! Shown only when stderr is a terminal and the command is not `--quiet`; otherwise
//! every call is a no-op, so callers need no condition of their own. Lines printed
//! while it is shown go through [`Progress::print`], which lifts the bar first, so
//! stdout and the bar never tear each other on a shared terminal.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// A progress line over `total` units (scenarios, faults, targets).
#[derive(Debug)]
pub struct Progress {
    bar: ProgressBar,
    /// Units done that went wrong (failed, errored, a fault missed).
    bad: AtomicUsize,
    /// What a unit is, plural: "scenarios", "faults".
    unit: &'static str,
}

impl Progress {
    /// A progress line on stderr when `shown` and stderr is a terminal.
    pub fn new(total: usize, unit: &'static str, shown: bool) -> Progress {
        if !(shown && std::io::stderr().is_terminal()) {
            return Progress::hidden(unit);
        }
        let bar = ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
        if let Ok(style) =
            ProgressStyle::with_template("{bar:30} {pos}/{len} {msg} [{elapsed}, eta {eta}]")
        {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message(message(unit, 0));
        // A step may wait its whole timeout: the clock keeps moving meanwhile.
        bar.enable_steady_tick(Duration::from_millis(250));
        Progress {
            bar,
            bad: AtomicUsize::new(0),
            unit,
        }
    }

    /// A progress line that never shows.
    pub fn hidden(unit: &'static str) -> Progress {
        Progress {
            bar: ProgressBar::hidden(),
            bad: AtomicUsize::new(0),
            unit,
        }
    }

    /// Whether the line is drawn.
    pub fn is_shown(&self) -> bool {
        !self.bar.is_hidden()
    }

    /// One unit done; `bad` when it went wrong.
    pub fn advance(&self, bad: bool) {
        let bad = if bad {
            self.bad.fetch_add(1, Ordering::Relaxed) + 1
        } else {
            self.bad.load(Ordering::Relaxed)
        };
        self.bar.set_message(message(self.unit, bad));
        self.bar.inc(1);
    }

    /// Runs `print` (which writes to stdout or stderr) with the bar lifted.
    pub fn print<R>(&self, print: impl FnOnce() -> R) -> R {
        self.bar.suspend(print)
    }

    /// Removes the line, before the closing summary is printed.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        // An early return must not leave a stale line (or the ticking thread).
        if !self.bar.is_finished() {
            self.bar.finish_and_clear();
        }
    }
}

/// The text after the counts: "scenarios" or "scenarios, 3 failed".
fn message(unit: &str, bad: usize) -> String {
    if bad == 0 {
        unit.to_owned()
    } else {
        format!("{unit}, {bad} failed")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_counts_what_went_wrong() {
        assert_eq!(message("scenarios", 0), "scenarios");
        assert_eq!(message("faults", 2), "faults, 2 failed");
    }

    #[test]
    fn a_hidden_line_counts_and_draws_nothing() {
        let progress = Progress::new(3, "scenarios", false);
        assert!(!progress.is_shown());
        progress.advance(true);
        progress.advance(false);
        assert_eq!(progress.bad.load(Ordering::Relaxed), 1);
        assert_eq!(progress.print(|| 7), 7);
        progress.finish();
    }
}
