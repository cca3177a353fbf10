//! The send schedule: when record `i` is meant to be sent at a fixed rate.
//!
//! The schedule is absolute (`start + i / rate`), not "sleep 1/rate after each
//! send": a sender that falls behind (a slow `send`, a descheduled thread)
//! sends the late records at once instead of silently lowering the rate, and
//! the intended time of each record stays known. Latency measured against the
//! intended time instead of the actual send time is what corrects for
//! coordinated omission: a stall of the system under test delays every record
//! scheduled during the stall, and those delays are counted.

use std::time::{Duration, Instant};

/// Below this the sender spins (yielding) instead of sleeping: a thread sleep
/// overshoots by tens of microseconds, more than the gap between records at
/// high rates.
const SLEEP_MIN: Duration = Duration::from_micros(200);

/// The schedule of one sender. Records are numbered from 0.
#[derive(Debug, Clone)]
pub struct RateSchedule {
    start: Instant,
    /// `None`: unlimited, every record is due at once.
    interval_ns: Option<f64>,
}

impl RateSchedule {
    /// `records_per_sec <= 0` means unlimited (Kafka's `--throughput -1`).
    pub fn new(start: Instant, records_per_sec: f64) -> RateSchedule {
        let interval_ns = (records_per_sec > 0.0).then(|| 1e9 / records_per_sec);
        RateSchedule { start, interval_ns }
    }

    pub fn is_unlimited(&self) -> bool {
        self.interval_ns.is_none()
    }

    /// When record `index` is due.
    pub fn intended(&self, index: u64) -> Instant {
        match self.interval_ns {
            None => self.start,
            Some(interval_ns) => {
                self.start + Duration::from_nanos((index as f64 * interval_ns) as u64)
            }
        }
    }

    /// How many records are due by `now` (records `0..due` may be sent).
    pub fn due_by(&self, now: Instant) -> u64 {
        match self.interval_ns {
            None => u64::MAX,
            Some(interval_ns) => {
                let since_ns = now.saturating_duration_since(self.start).as_nanos() as f64;
                (since_ns / interval_ns) as u64 + 1
            }
        }
    }

    /// Blocks until record `index` is due and returns its intended time.
    /// Returns at once (with the past intended time) when behind.
    pub fn wait_for(&self, index: u64) -> Instant {
        let intended = self.intended(index);
        loop {
            let now = Instant::now();
            if now >= intended {
                return intended;
            }
            let left = intended - now;
            if left > SLEEP_MIN {
                std::thread::sleep(left - SLEEP_MIN / 2);
            } else {
                std::thread::yield_now();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intended_times_follow_the_rate_from_the_start() {
        let start = Instant::now();
        let schedule = RateSchedule::new(start, 1000.0);
        assert_eq!(schedule.intended(0), start);
        assert_eq!(schedule.intended(1), start + Duration::from_millis(1));
        assert_eq!(schedule.intended(1000), start + Duration::from_secs(1));
        assert_eq!(schedule.intended(2500), start + Duration::from_millis(2500));
    }

    #[test]
    fn due_counts_the_records_whose_time_has_come() {
        let start = Instant::now();
        let schedule = RateSchedule::new(start, 100.0);
        assert_eq!(schedule.due_by(start), 1);
        assert_eq!(schedule.due_by(start + Duration::from_millis(9)), 1);
        assert_eq!(schedule.due_by(start + Duration::from_millis(10)), 2);
        assert_eq!(schedule.due_by(start + Duration::from_secs(1)), 101);
    }

    #[test]
    fn unlimited_has_everything_due_at_the_start() {
        let start = Instant::now();
        let schedule = RateSchedule::new(start, -1.0);
        assert!(schedule.is_unlimited());
        assert_eq!(schedule.intended(1_000_000), start);
        assert_eq!(schedule.due_by(start), u64::MAX);
        assert_eq!(RateSchedule::new(start, 0.0).due_by(start), u64::MAX);
    }

    #[test]
    fn a_late_sender_gets_the_past_intended_time_without_waiting() {
        // Started 1 s ago at 10 records/s: record 3 was due 700 ms ago.
        let start = Instant::now() - Duration::from_secs(1);
        let schedule = RateSchedule::new(start, 10.0);
        let before = Instant::now();
        let intended = schedule.wait_for(3);
        assert_eq!(intended, start + Duration::from_millis(300));
        assert!(intended < before);
    }

    #[test]
    fn waiting_returns_no_earlier_than_the_intended_time() {
        let start = Instant::now();
        let schedule = RateSchedule::new(start, 1000.0);
        let intended = schedule.wait_for(5);
        assert!(Instant::now() >= intended);
        assert_eq!(intended, start + Duration::from_millis(5));
    }
}
