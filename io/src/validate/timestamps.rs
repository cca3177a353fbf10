//! Kafka's per-record timestamp rules (`LogValidator.validateTimestamp`),
//! shared by v2 validation and the conversion of v0/v1 message sets.
//!
//! | topic `message.timestamp.type` | record | verdict |
//! |---|---|---|
//! | CreateTime | timestamp -1 (none, as every v0 message) | accepted |
//! | CreateTime | `now - ts > before.max.ms` or `ts - now > after.max.ms` | `INVALID_TIMESTAMP` |
//! | either | the producer marked its batch LogAppendTime (and CreateTime had no window to check) | `INVALID_TIMESTAMP` |
//! | LogAppendTime | otherwise | accepted; the broker's time replaces the timestamps |

use crate::batch::TimestampType;

/// Timestamp of a record that has none (every v0 message).
pub const NO_TIMESTAMP: i64 = -1;

/// A topic's timestamp settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimestampPolicy {
    /// `message.timestamp.type`.
    pub timestamp_type: TimestampType,
    /// `message.timestamp.before.max.ms` (or the older
    /// `message.timestamp.difference.max.ms`): how far in the past a
    /// CreateTime timestamp may be.
    pub before_max_ms: i64,
    /// `message.timestamp.after.max.ms` (or
    /// `message.timestamp.difference.max.ms`): how far in the future.
    pub after_max_ms: i64,
}

impl Default for TimestampPolicy {
    /// Kafka's defaults: CreateTime, no window.
    fn default() -> Self {
        TimestampPolicy {
            timestamp_type: TimestampType::CreateTime,
            before_max_ms: i64::MAX,
            after_max_ms: i64::MAX,
        }
    }
}

impl TimestampPolicy {
    /// Kafka 3.6's rule for the two settings and the deprecated one: each
    /// new setting wins unless it is left at its default (unbounded), in
    /// which case `message.timestamp.difference.max.ms` applies.
    pub fn from_settings(
        timestamp_type: TimestampType,
        before_max_ms: i64,
        after_max_ms: i64,
        difference_max_ms: i64,
    ) -> Self {
        let or_difference = |ms: i64| {
            if ms == i64::MAX {
                difference_max_ms
            } else {
                ms
            }
        };
        TimestampPolicy {
            timestamp_type,
            before_max_ms: or_difference(before_max_ms),
            after_max_ms: or_difference(after_max_ms),
        }
    }

    /// Checks one record's timestamp. `batch_is_log_append_time` is what the
    /// producer's batch (or v1 message) says; `offset` is the record's offset
    /// as the producer numbered it, for the message. `None` if accepted,
    /// else Kafka's message for the record.
    pub fn check(
        &self,
        timestamp_ms: i64,
        batch_is_log_append_time: bool,
        offset: i64,
        now_ms: i64,
    ) -> Option<String> {
        if self.timestamp_type == TimestampType::CreateTime && timestamp_ms != NO_TIMESTAMP {
            let too_old = now_ms.saturating_sub(timestamp_ms) > self.before_max_ms;
            let too_new = timestamp_ms.saturating_sub(now_ms) > self.after_max_ms;
            return (too_old || too_new).then(|| {
                format!(
                    "Timestamp {timestamp_ms} of message with offset {offset} is out of range. \
                     The timestamp should be within [{}, {}]",
                    now_ms.saturating_sub(self.before_max_ms),
                    now_ms.saturating_add(self.after_max_ms)
                )
            });
        }
        batch_is_log_append_time.then(|| {
            format!(
                "Invalid timestamp type in message with offset {offset}. \
                 Producer should not set timestamp type to LogAppendTime."
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000_000;

    fn window(before: i64, after: i64) -> TimestampPolicy {
        TimestampPolicy {
            timestamp_type: TimestampType::CreateTime,
            before_max_ms: before,
            after_max_ms: after,
        }
    }

    #[test]
    fn the_window_is_inclusive_on_both_sides() {
        let policy = window(1_000, 500);
        assert_eq!(policy.check(NOW - 1_000, false, 0, NOW), None);
        assert_eq!(policy.check(NOW + 500, false, 0, NOW), None);
        let old = policy.check(NOW - 1_001, false, 7, NOW).unwrap();
        assert_eq!(
            old,
            format!(
                "Timestamp {} of message with offset 7 is out of range. The timestamp should be within [{}, {}]",
                NOW - 1_001,
                NOW - 1_000,
                NOW + 500
            )
        );
        assert!(policy.check(NOW + 501, false, 0, NOW).is_some());
        // No timestamp (v0) is never out of range.
        assert_eq!(policy.check(NO_TIMESTAMP, false, 0, NOW), None);
    }

    #[test]
    fn extreme_timestamps_do_not_overflow() {
        let policy = TimestampPolicy::default();
        assert_eq!(policy.check(i64::MIN, false, 0, NOW), None);
        assert_eq!(policy.check(i64::MAX, false, 0, NOW), None);
        assert!(window(0, 0).check(i64::MIN, false, 0, NOW).is_some());
        assert!(window(0, 0).check(i64::MAX, false, 0, NOW).is_some());
    }

    #[test]
    fn a_producer_may_not_claim_log_append_time() {
        let log_append = TimestampPolicy {
            timestamp_type: TimestampType::LogAppendTime,
            ..window(0, 0)
        };
        assert_eq!(log_append.check(NOW - 99_999, false, 0, NOW), None);
        assert!(log_append
            .check(NOW, true, 3, NOW)
            .unwrap()
            .contains("Producer should not set timestamp type to LogAppendTime"));
        // A CreateTime topic checks the window first, as Kafka does.
        assert_eq!(window(10, 10).check(NOW, true, 0, NOW), None);
        assert!(window(10, 10).check(NO_TIMESTAMP, true, 0, NOW).is_some());
    }

    #[test]
    fn the_older_difference_setting_fills_in_unset_bounds() {
        let p = TimestampPolicy::from_settings(TimestampType::CreateTime, i64::MAX, 5, 100);
        assert_eq!((p.before_max_ms, p.after_max_ms), (100, 5));
        let p = TimestampPolicy::from_settings(TimestampType::CreateTime, 7, i64::MAX, i64::MAX);
        assert_eq!((p.before_max_ms, p.after_max_ms), (7, i64::MAX));
    }
}
