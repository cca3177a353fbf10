//! Throughput and latency in fixed windows, plus the whole run.
//!
//! Every recorded event (a delivered or consumed record) adds its bytes and,
//! when it has one, its latency in microseconds to the current window and to
//! the run's totals. Closing a window turns it into a [`WindowSnapshot`] and
//! starts the next one; the run's histogram keeps everything. Latencies go
//! into HdrHistograms (3 significant digits, 1 µs to 1 h), so percentiles are
//! exact to 0.1% and merging per-thread histograms is lossless.

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

/// Latencies above this are recorded as this (a stuck record is still
/// counted, at the top of the scale).
pub const LATENCY_MAX_US: u64 = 3_600_000_000;
const LATENCY_SIGNIFICANT_DIGITS: u8 = 3;

/// The percentiles every latency summary reports, as (label, quantile).
pub const PERCENTILES: [(&str, f64); 6] = [
    ("p50", 0.5),
    ("p75", 0.75),
    ("p95", 0.95),
    ("p99", 0.99),
    ("p99.9", 0.999),
    ("p99.99", 0.9999),
];

/// A new latency histogram in microseconds.
pub fn latency_histogram() -> Histogram<u64> {
    // The bounds are constants that hdrhistogram accepts (1 <= low,
    // high >= 2 * low, sigfig <= 5), so this cannot fail.
    Histogram::new_with_bounds(1, LATENCY_MAX_US, LATENCY_SIGNIFICANT_DIGITS)
        .expect("constant histogram bounds are valid")
}

/// Count, mean, max and [`PERCENTILES`] of a latency histogram, in ms.
#[derive(Debug, Clone, PartialEq)]
pub struct LatencySummary {
    pub count: u64,
    pub mean_ms: f64,
    pub max_ms: f64,
    /// One value per entry of [`PERCENTILES`], in that order.
    pub percentiles_ms: [f64; PERCENTILES.len()],
}

impl LatencySummary {
    pub fn of(histogram: &Histogram<u64>) -> Option<LatencySummary> {
        if histogram.is_empty() {
            return None;
        }
        let mut percentiles_ms = [0.0; PERCENTILES.len()];
        for (slot, (_, quantile)) in percentiles_ms.iter_mut().zip(PERCENTILES) {
            *slot = us_to_ms(histogram.value_at_quantile(quantile));
        }
        Some(LatencySummary {
            count: histogram.len(),
            mean_ms: histogram.mean() / 1000.0,
            max_ms: us_to_ms(histogram.max()),
            percentiles_ms,
        })
    }

    /// The value for a label of [`PERCENTILES`] ("p99").
    pub fn percentile_ms(&self, label: &str) -> Option<f64> {
        PERCENTILES
            .iter()
            .position(|(name, _)| *name == label)
            .map(|i| self.percentiles_ms[i])
    }
}

fn us_to_ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

/// One closed window.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowSnapshot {
    /// Seconds from the start of the run to the start of the window.
    pub start_s: f64,
    pub elapsed: Duration,
    pub records: u64,
    pub bytes: u64,
    /// Records that failed (delivery errors) in the window.
    pub errors: u64,
    pub latency: Option<LatencySummary>,
}

impl WindowSnapshot {
    pub fn records_per_sec(&self) -> f64 {
        per_sec(self.records as f64, self.elapsed)
    }

    /// MiB/s, the unit Kafka's tools call "MB/sec".
    pub fn mib_per_sec(&self) -> f64 {
        per_sec(self.bytes as f64 / (1024.0 * 1024.0), self.elapsed)
    }
}

fn per_sec(amount: f64, elapsed: Duration) -> f64 {
    let secs = elapsed.as_secs_f64();
    if secs > 0.0 {
        amount / secs
    } else {
        0.0
    }
}

/// The windows of one run and its totals. Not thread-safe by itself; the
/// modes share it behind a `Mutex` (one lock per recorded event is cheap
/// next to a librdkafka callback).
#[derive(Debug)]
pub struct Windows {
    run_start: Instant,
    window_start: Instant,
    window_length: Duration,
    window: Histogram<u64>,
    window_records: u64,
    window_bytes: u64,
    window_errors: u64,
    total: Histogram<u64>,
    total_records: u64,
    total_bytes: u64,
    total_errors: u64,
    closed: Vec<WindowSnapshot>,
}

impl Windows {
    pub fn new(run_start: Instant, window_length: Duration) -> Windows {
        Windows {
            run_start,
            window_start: run_start,
            window_length,
            window: latency_histogram(),
            window_records: 0,
            window_bytes: 0,
            window_errors: 0,
            total: latency_histogram(),
            total_records: 0,
            total_bytes: 0,
            total_errors: 0,
            closed: Vec::new(),
        }
    }

    /// One record of `bytes`, with its latency if it has one.
    pub fn record(&mut self, bytes: u64, latency_us: Option<u64>) {
        self.window_records += 1;
        self.window_bytes += bytes;
        self.total_records += 1;
        self.total_bytes += bytes;
        if let Some(us) = latency_us {
            let us = us.clamp(1, LATENCY_MAX_US);
            self.window.saturating_record(us);
            self.total.saturating_record(us);
        }
    }

    /// Many records without latencies at once (a consumer's batch).
    pub fn record_many(&mut self, records: u64, bytes: u64) {
        self.window_records += records;
        self.window_bytes += bytes;
        self.total_records += records;
        self.total_bytes += bytes;
    }

    pub fn record_error(&mut self) {
        self.window_errors += 1;
        self.total_errors += 1;
    }

    /// Whether the current window is at least one window length old.
    pub fn window_due(&self, now: Instant) -> bool {
        now.saturating_duration_since(self.window_start) >= self.window_length
    }

    /// Closes the current window at `now` and starts the next.
    pub fn close_window(&mut self, now: Instant) -> WindowSnapshot {
        let snapshot = WindowSnapshot {
            start_s: self
                .window_start
                .saturating_duration_since(self.run_start)
                .as_secs_f64(),
            elapsed: now.saturating_duration_since(self.window_start),
            records: self.window_records,
            bytes: self.window_bytes,
            errors: self.window_errors,
            latency: LatencySummary::of(&self.window),
        };
        self.closed.push(snapshot.clone());
        self.window.reset();
        self.window_records = 0;
        self.window_bytes = 0;
        self.window_errors = 0;
        self.window_start = now;
        snapshot
    }

    /// Closes the last, partial window if anything happened in it.
    pub fn finish(&mut self, now: Instant) -> Option<WindowSnapshot> {
        (self.window_records > 0 || self.window_errors > 0).then(|| self.close_window(now))
    }

    pub fn run_start(&self) -> Instant {
        self.run_start
    }

    pub fn closed(&self) -> &[WindowSnapshot] {
        &self.closed
    }

    pub fn total_histogram(&self) -> &Histogram<u64> {
        &self.total
    }

    pub fn total_records(&self) -> u64 {
        self.total_records
    }

    pub fn total_bytes(&self) -> u64 {
        self.total_bytes
    }

    pub fn total_errors(&self) -> u64 {
        self.total_errors
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_counts_its_own_records_and_the_total_counts_all() {
        let start = Instant::now();
        let mut windows = Windows::new(start, Duration::from_secs(5));
        for latency_us in [1000, 2000, 3000] {
            windows.record(100, Some(latency_us));
        }
        assert!(!windows.window_due(start + Duration::from_secs(4)));
        assert!(windows.window_due(start + Duration::from_secs(5)));
        let first = windows.close_window(start + Duration::from_secs(5));
        assert_eq!(first.records, 3);
        assert_eq!(first.bytes, 300);
        assert_eq!(first.start_s, 0.0);
        assert_eq!(first.records_per_sec(), 0.6);
        let latency = first.latency.as_ref().unwrap();
        assert_eq!(latency.count, 3);
        assert!((latency.mean_ms - 2.0).abs() < 0.01);
        assert!((latency.max_ms - 3.0).abs() < 0.01);
        assert!((latency.percentile_ms("p50").unwrap() - 2.0).abs() < 0.01);

        windows.record(50, Some(10_000));
        let second = windows.close_window(start + Duration::from_secs(10));
        assert_eq!(second.records, 1);
        assert_eq!(second.bytes, 50);
        assert_eq!(second.start_s, 5.0);
        assert!((second.latency.unwrap().max_ms - 10.0).abs() < 0.01);

        assert_eq!(windows.total_records(), 4);
        assert_eq!(windows.total_bytes(), 350);
        assert_eq!(windows.total_histogram().len(), 4);
        assert_eq!(windows.closed().len(), 2);
    }

    #[test]
    fn an_empty_window_has_no_latency_and_is_not_kept_at_the_end() {
        let start = Instant::now();
        let mut windows = Windows::new(start, Duration::from_secs(1));
        windows.record_many(10, 10_000);
        let snapshot = windows.close_window(start + Duration::from_secs(2));
        assert_eq!(snapshot.latency, None);
        assert_eq!(snapshot.mib_per_sec(), 10_000.0 / 1048576.0 / 2.0);
        assert_eq!(windows.finish(start + Duration::from_secs(3)), None);
        windows.record_error();
        let last = windows.finish(start + Duration::from_secs(3)).unwrap();
        assert_eq!(last.errors, 1);
        assert_eq!(windows.total_errors(), 1);
    }

    #[test]
    fn percentiles_are_in_order_and_the_tail_is_seen() {
        let start = Instant::now();
        let mut windows = Windows::new(start, Duration::from_secs(10));
        // 9,990 fast records and 10 slow ones: p99 is fast, p99.99 is slow.
        for _ in 0..9_990 {
            windows.record(1, Some(500));
        }
        for _ in 0..10 {
            windows.record(1, Some(250_000));
        }
        let summary = LatencySummary::of(windows.total_histogram()).unwrap();
        let values = summary.percentiles_ms;
        assert!(values.windows(2).all(|pair| pair[0] <= pair[1]));
        assert!((summary.percentile_ms("p99").unwrap() - 0.5).abs() < 0.01);
        assert!((summary.percentile_ms("p99.99").unwrap() - 250.0).abs() < 0.5);
        assert!((summary.max_ms - 250.0).abs() < 0.5);
    }

    #[test]
    fn latencies_out_of_range_are_clamped_not_lost() {
        let mut windows = Windows::new(Instant::now(), Duration::from_secs(1));
        windows.record(1, Some(0));
        windows.record(1, Some(u64::MAX));
        assert_eq!(windows.total_histogram().len(), 2);
        let summary = LatencySummary::of(windows.total_histogram()).unwrap();
        assert!(summary.max_ms >= LATENCY_MAX_US as f64 / 1000.0 * 0.999);
    }
}
