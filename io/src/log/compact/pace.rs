//! How the cleaner shares its shard with the data path: after every batch it
//! asks its [`Pacer`], which may make it wait (the byte rate limit,
//! `log.cleaner.io.max.bytes.per.second`) or give the executor to other
//! tasks, and may ask it to stop (shutdown).

use std::time::{Duration, Instant};

/// Paces a cleaning. Called between batches, never inside a swap.
#[allow(async_fn_in_trait)] // used on one thread; futures are never sent
pub trait Pacer {
    /// The cleaner read or wrote `bytes` more; returns when it may go on.
    async fn pace(&mut self, bytes: u64);
    /// True when the cleaning should stop at the next batch.
    fn should_stop(&self) -> bool {
        false
    }
}

/// No limit, no yielding: tests and benchmarks that run nothing else.
pub struct Unpaced;

impl Pacer for Unpaced {
    async fn pace(&mut self, _bytes: u64) {}
}

/// The rate over which [`Throttle`] measures (Kafka's throttler checks every
/// 300 ms).
const THROTTLE_WINDOW: Duration = Duration::from_millis(300);

/// The longest the cleaner works before it gives up its task queue. That,
/// unlike a yield inside the queue, makes the executor poll for I/O, so a
/// produce or fetch that arrives while the cleaner works waits at most
/// about this long (plus one batch's decompression and recompression).
pub const SLICE: Duration = Duration::from_millis(1);
/// The pause after a slice. Long enough that the cleaner's task is not ready
/// again at once, so the executor's queue empties and it polls the ring.
pub const PAUSE: Duration = Duration::from_micros(100);

/// The broker's pacer, for a glommio executor: at most `bytes_per_second`
/// (averaged over 300 ms windows), and a pause after every [`SLICE`] of
/// work, so produce and fetch on the same shard are served while it cleans.
pub struct Throttle<F: Fn() -> bool> {
    bytes_per_second: f64,
    window_start: Instant,
    window_bytes: u64,
    slice_start: Instant,
    stop: F,
}

impl<F: Fn() -> bool> Throttle<F> {
    /// `bytes_per_second` infinite (or not positive) means no rate limit.
    pub fn new(bytes_per_second: f64, stop: F) -> Self {
        Throttle {
            bytes_per_second,
            window_start: Instant::now(),
            window_bytes: 0,
            slice_start: Instant::now(),
            stop,
        }
    }

    /// How long to wait now that `window_bytes` went through since
    /// `elapsed` ago, to keep to the rate.
    fn wait_for(&self, elapsed: Duration) -> Option<Duration> {
        if !(self.bytes_per_second.is_finite() && self.bytes_per_second > 0.0) {
            return None;
        }
        let due = Duration::from_secs_f64(self.window_bytes as f64 / self.bytes_per_second);
        due.checked_sub(elapsed).filter(|d| !d.is_zero())
    }
}

impl<F: Fn() -> bool> Pacer for Throttle<F> {
    async fn pace(&mut self, bytes: u64) {
        self.window_bytes += bytes;
        let elapsed = self.window_start.elapsed();
        if let Some(wait) = self.wait_for(elapsed) {
            glommio::timer::sleep(wait).await;
            self.slice_start = Instant::now();
        } else if self.slice_start.elapsed() >= SLICE {
            glommio::timer::sleep(PAUSE).await;
            self.slice_start = Instant::now();
        } else {
            glommio::yield_if_needed().await;
        }
        if self.window_start.elapsed() >= THROTTLE_WINDOW {
            self.window_start = Instant::now();
            self.window_bytes = 0;
        }
    }

    fn should_stop(&self) -> bool {
        (self.stop)()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_only_past_the_rate() {
        let mut throttle = Throttle::new(1_000_000.0, || false);
        throttle.window_bytes = 100_000;
        assert_eq!(
            throttle.wait_for(Duration::from_millis(40)),
            Some(Duration::from_millis(60))
        );
        assert_eq!(throttle.wait_for(Duration::from_millis(150)), None);
        let unlimited = Throttle::new(f64::INFINITY, || true);
        assert_eq!(unlimited.wait_for(Duration::ZERO), None);
        assert!(unlimited.should_stop());
    }
}
