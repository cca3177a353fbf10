//! The progress line on stderr during long runs: elapsed time, what was
//! done so far and the machine's load (a shared machine skews figures).

use std::io::Write;
use std::time::{Duration, Instant};

use crate::host::load_1m;

/// How often the progress line is printed.
pub const PROGRESS_EVERY: Duration = Duration::from_secs(5);

/// Prints one progress line at most every [`PROGRESS_EVERY`].
#[derive(Debug)]
pub struct Progress {
    mode: &'static str,
    start: Instant,
    last: Instant,
}

impl Progress {
    pub fn new(mode: &'static str, start: Instant) -> Progress {
        Progress {
            mode,
            start,
            last: start,
        }
    }

    /// Prints `what` if the last line is old enough.
    pub fn tick(&mut self, what: impl FnOnce() -> String) {
        let now = Instant::now();
        if now.duration_since(self.last) >= PROGRESS_EVERY {
            self.last = now;
            self.print(&what());
        }
    }

    pub fn print(&self, what: &str) {
        let load = load_1m()
            .map(|l| format!(", load {l:.2}"))
            .unwrap_or_default();
        let _ = writeln!(
            std::io::stderr(),
            "[perf {}] {:.1} s: {what}{load}",
            self.mode,
            self.start.elapsed().as_secs_f64()
        );
    }
}
