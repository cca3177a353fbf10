//! The lines of Kafka's perf tools, byte for byte, so that scripts written
//! for `kafka-producer-perf-test` and `kafka-consumer-perf-test` parse ours.
//!
//! The format strings are those of Apache Kafka's
//! `tools/.../ProducerPerformance.java` (`Stats.printWindow`,
//! `Stats.printTotal`) and `ConsumerPerformance.java` (`printHeader`, the
//! final `printf`). Java's `%.Nf` rounds the shortest decimal form of a
//! double half-up, where Rust's `{:.N}` rounds the exact binary value
//! half-to-even (0.15 prints as "0.2" in Java and "0.1" in Rust), so numbers
//! go through [`java_fixed`]. Note that the total line prints records/sec with
//! `%f`: six decimals, unlike the window line's one.

/// One window of `kafka-producer-perf-test` (every 5 s).
#[derive(Debug, Clone, PartialEq)]
pub struct ProducerWindowLine {
    pub records: u64,
    /// Whole milliseconds, as Java's `System.currentTimeMillis` differences.
    pub elapsed_ms: u64,
    pub bytes: u64,
    pub avg_latency_ms: f64,
    pub max_latency_ms: u64,
}

impl std::fmt::Display for ProducerWindowLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let elapsed_ms = self.elapsed_ms.max(1) as f64;
        let records_per_sec = 1000.0 * self.records as f64 / elapsed_ms;
        let mb_per_sec = 1000.0 * self.bytes as f64 / elapsed_ms / (1024.0 * 1024.0);
        // "%d records sent, %.1f records/sec (%.2f MB/sec), %.1f ms avg latency, %.1f ms max latency.%n"
        write!(
            f,
            "{} records sent, {} records/sec ({} MB/sec), {} ms avg latency, {} ms max latency.",
            self.records,
            java_fixed(records_per_sec, 1),
            java_fixed(mb_per_sec, 2),
            java_fixed(self.avg_latency_ms, 1),
            java_fixed(self.max_latency_ms as f64, 1),
        )
    }
}

/// The final line of `kafka-producer-perf-test`.
#[derive(Debug, Clone, PartialEq)]
pub struct ProducerTotalLine {
    pub records: u64,
    pub elapsed_ms: u64,
    pub bytes: u64,
    pub avg_latency_ms: f64,
    pub max_latency_ms: u64,
    /// Whole milliseconds at the 50th, 95th, 99th and 99.9th percentiles.
    pub p50_ms: u64,
    pub p95_ms: u64,
    pub p99_ms: u64,
    pub p999_ms: u64,
}

impl std::fmt::Display for ProducerTotalLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let elapsed_ms = self.elapsed_ms.max(1) as f64;
        let records_per_sec = 1000.0 * self.records as f64 / elapsed_ms;
        let mb_per_sec = 1000.0 * self.bytes as f64 / elapsed_ms / (1024.0 * 1024.0);
        // "%d%s records sent, %f records/sec (%.2f MB/sec), %.2f ms avg latency,
        //  %.2f ms max latency, %d ms 50th, %d ms 95th, %d ms 99th, %d ms 99.9th.%n"
        // (%s is " steady state" after warm-up records, which we do not have.)
        write!(
            f,
            "{} records sent, {} records/sec ({} MB/sec), {} ms avg latency, {} ms max latency, \
             {} ms 50th, {} ms 95th, {} ms 99th, {} ms 99.9th.",
            self.records,
            java_fixed(records_per_sec, 6),
            java_fixed(mb_per_sec, 2),
            java_fixed(self.avg_latency_ms, 2),
            java_fixed(self.max_latency_ms as f64, 2),
            self.p50_ms,
            self.p95_ms,
            self.p99_ms,
            self.p999_ms,
        )
    }
}

/// The header of `kafka-consumer-perf-test` (without detailed stats).
pub const CONSUMER_HEADER: &str = "start.time, end.time, data.consumed.in.MB, MB.sec, \
     data.consumed.in.nMsg, nMsg.sec, rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec";

/// The result line of `kafka-consumer-perf-test`.
#[derive(Debug, Clone, PartialEq)]
pub struct ConsumerLine {
    /// Milliseconds since the Unix epoch.
    pub start_ms: u64,
    pub end_ms: u64,
    pub bytes: u64,
    pub records: u64,
    /// Time spent joining the group (0 without a group).
    pub rebalance_ms: u64,
}

impl std::fmt::Display for ConsumerLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let elapsed_s = self.end_ms.saturating_sub(self.start_ms) as f64 / 1000.0;
        let fetch_ms = self
            .end_ms
            .saturating_sub(self.start_ms)
            .saturating_sub(self.rebalance_ms);
        let fetch_s = fetch_ms as f64 / 1000.0;
        let mb = self.bytes as f64 / (1024.0 * 1024.0);
        let rate = |amount: f64, secs: f64| if secs > 0.0 { amount / secs } else { 0.0 };
        // "%s, %s, %.4f, %.4f, %d, %.4f, %d, %d, %.4f, %.4f%n"
        write!(
            f,
            "{}, {}, {}, {}, {}, {}, {}, {}, {}, {}",
            java_date(self.start_ms),
            java_date(self.end_ms),
            java_fixed(mb, 4),
            java_fixed(rate(mb, elapsed_s), 4),
            self.records,
            java_fixed(rate(self.records as f64, elapsed_s), 4),
            self.rebalance_ms,
            fetch_ms,
            java_fixed(rate(mb, fetch_s), 4),
            java_fixed(rate(self.records as f64, fetch_s), 4),
        )
    }
}

/// `value` as Java's `String.format("%.<decimals>f", value)` prints it: the
/// shortest decimal digits that round-trip the double, rounded half-up.
pub fn java_fixed(value: f64, decimals: usize) -> String {
    if value.is_nan() {
        return "NaN".to_string();
    }
    if value.is_infinite() {
        return if value > 0.0 { "Infinity" } else { "-Infinity" }.to_string();
    }
    // Rust's `{:e}` is the shortest round-trip form: "1.2345e3", "5e-1".
    let scientific = format!("{:e}", value.abs());
    let (mantissa, exponent) = scientific
        .split_once('e')
        .unwrap_or((scientific.as_str(), "0"));
    let exponent: i64 = exponent.parse().unwrap_or(0);
    let digits: Vec<u8> = mantissa
        .bytes()
        .filter(u8::is_ascii_digit)
        .map(|b| b - b'0')
        .collect();
    // The decimal point sits after `point` digits of `digits`.
    let point = exponent + 1;
    let (mut integer, mut fraction): (Vec<u8>, Vec<u8>) = if point > 0 {
        let point = point as usize;
        let mut integer: Vec<u8> = digits.iter().copied().take(point).collect();
        integer.resize(point, 0);
        let fraction = digits.iter().copied().skip(point).collect();
        (integer, fraction)
    } else {
        let mut fraction = vec![0; (-point) as usize];
        fraction.extend_from_slice(&digits);
        (vec![0], fraction)
    };
    if fraction.len() > decimals {
        let round_up = fraction[decimals] >= 5;
        fraction.truncate(decimals);
        if round_up {
            let mut carry = true;
            for digit in fraction.iter_mut().rev().chain(integer.iter_mut().rev()) {
                if *digit == 9 {
                    *digit = 0;
                } else {
                    *digit += 1;
                    carry = false;
                    break;
                }
            }
            if carry {
                integer.insert(0, 1);
            }
        }
    }
    fraction.resize(decimals, 0);
    let negative = value < 0.0;
    let mut out = String::with_capacity(integer.len() + decimals + 2);
    if negative {
        out.push('-');
    }
    out.extend(integer.iter().map(|d| char::from(b'0' + d)));
    if decimals > 0 {
        out.push('.');
        out.extend(fraction.iter().map(|d| char::from(b'0' + d)));
    }
    out
}

/// `ms` since the epoch as Kafka's default consumer date format
/// `yyyy-MM-dd HH:mm:ss:SSS`, in local time like Java's `SimpleDateFormat`.
#[allow(unsafe_code)] // the unsafe block says why (SAFETY:)
pub fn java_date(ms: u64) -> String {
    let seconds = (ms / 1000) as libc::time_t;
    // SAFETY: `tm` is plain old data that localtime_r fills in; both
    // pointers are valid for the call and localtime_r keeps neither.
    let tm = unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&seconds, &mut tm).is_null() {
            return format!("{ms}");
        }
        tm
    };
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}:{:03}",
        tm.tm_year + 1900,
        tm.tm_mon + 1,
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec,
        ms % 1000
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_total_line_is_kafkas() {
        let line = ProducerTotalLine {
            records: 100_000,
            elapsed_ms: 2001,
            bytes: 100_000 * 1024,
            avg_latency_ms: 12.344,
            max_latency_ms: 250,
            p50_ms: 10,
            p95_ms: 40,
            p99_ms: 60,
            p999_ms: 200,
        };
        assert_eq!(
            line.to_string(),
            "100000 records sent, 49975.012494 records/sec (48.80 MB/sec), 12.34 ms avg latency, \
             250.00 ms max latency, 10 ms 50th, 40 ms 95th, 60 ms 99th, 200 ms 99.9th."
        );
        assert!(matches_total_pattern(&line.to_string()));
    }

    /// Kafka's final line as a script parses it (`\d+ records sent,
    /// \d+\.\d{6} records/sec \(\d+\.\d{2} MB/sec\), ...`), matched word by
    /// word to spare a regex dependency: literal words and number shapes.
    fn matches_total_pattern(line: &str) -> bool {
        let words: Vec<&str> = line.split(' ').collect();
        let expected = [
            "#",
            "records",
            "sent,",
            "#.6",
            "records/sec",
            "(#.2",
            "MB/sec),",
            "#.2",
            "ms",
            "avg",
            "latency,",
            "#.2",
            "ms",
            "max",
            "latency,",
            "#",
            "ms",
            "50th,",
            "#",
            "ms",
            "95th,",
            "#",
            "ms",
            "99th,",
            "#",
            "ms",
            "99.9th.",
        ];
        let number = |word: &str, decimals: Option<usize>| -> bool {
            match (word.split_once('.'), decimals) {
                (None, None) => !word.is_empty() && word.bytes().all(|b| b.is_ascii_digit()),
                (Some((i, f)), Some(n)) => {
                    !i.is_empty()
                        && i.bytes().all(|b| b.is_ascii_digit())
                        && f.len() == n
                        && f.bytes().all(|b| b.is_ascii_digit())
                }
                _ => false,
            }
        };
        words.len() == expected.len()
            && words.iter().zip(expected).all(|(word, shape)| match shape {
                "#" => number(word, None),
                "#.6" => number(word, Some(6)),
                "#.2" => number(word, Some(2)),
                "(#.2" => word.strip_prefix('(').is_some_and(|w| number(w, Some(2))),
                literal => *word == literal,
            })
    }

    #[test]
    fn the_window_line_is_kafkas() {
        let line = ProducerWindowLine {
            records: 249_876,
            elapsed_ms: 5000,
            bytes: 249_876 * 1024,
            avg_latency_ms: 3.25,
            max_latency_ms: 47,
        };
        assert_eq!(
            line.to_string(),
            "249876 records sent, 49975.2 records/sec (48.80 MB/sec), 3.3 ms avg latency, 47.0 ms max latency."
        );
    }

    #[test]
    fn an_empty_window_does_not_divide_by_zero() {
        let line = ProducerWindowLine {
            records: 0,
            elapsed_ms: 0,
            bytes: 0,
            avg_latency_ms: 0.0,
            max_latency_ms: 0,
        };
        assert_eq!(
            line.to_string(),
            "0 records sent, 0.0 records/sec (0.00 MB/sec), 0.0 ms avg latency, 0.0 ms max latency."
        );
    }

    #[test]
    fn numbers_round_like_java_half_up_on_the_shortest_digits() {
        assert_eq!(java_fixed(0.15, 1), "0.2"); // Rust's {:.1} gives "0.1"
        assert_eq!(java_fixed(0.125, 2), "0.13"); // Rust's {:.2} gives "0.12"
        assert_eq!(java_fixed(2.5, 0), "3");
        assert_eq!(java_fixed(9.995, 2), "10.00");
        assert_eq!(java_fixed(99.96, 1), "100.0");
        assert_eq!(java_fixed(0.0, 2), "0.00");
        assert_eq!(java_fixed(1234.5, 6), "1234.500000");
        assert_eq!(java_fixed(0.000123, 4), "0.0001");
        assert_eq!(java_fixed(0.00005, 4), "0.0001");
        assert_eq!(java_fixed(1e21, 1), "1000000000000000000000.0");
        assert_eq!(java_fixed(-1.25, 1), "-1.3");
        assert_eq!(java_fixed(f64::NAN, 1), "NaN");
        assert_eq!(java_fixed(f64::INFINITY, 1), "Infinity");
    }

    #[test]
    fn the_consumer_line_has_kafkas_ten_columns() {
        let line = ConsumerLine {
            start_ms: 1_700_000_000_000,
            end_ms: 1_700_000_002_000,
            bytes: 100 * 1024 * 1024,
            records: 102_400,
            rebalance_ms: 0,
        }
        .to_string();
        let columns: Vec<&str> = line.split(", ").collect();
        assert_eq!(columns.len(), CONSUMER_HEADER.split(", ").count());
        assert_eq!(
            &columns[2..],
            &[
                "100.0000",
                "50.0000",
                "102400",
                "51200.0000",
                "0",
                "2000",
                "50.0000",
                "51200.0000"
            ]
        );
        // yyyy-MM-dd HH:mm:ss:SSS
        let date = columns[0];
        assert_eq!(date.len(), 23);
        assert_eq!(&date[4..5], "-");
        assert_eq!(&date[19..20], ":");
        assert!(date.ends_with(":000"));
    }

    #[test]
    fn the_fetch_columns_exclude_the_rebalance_time() {
        let line = ConsumerLine {
            start_ms: 1_000,
            end_ms: 5_000,
            bytes: 1024 * 1024,
            records: 1000,
            rebalance_ms: 3000,
        }
        .to_string();
        let columns: Vec<&str> = line.split(", ").collect();
        assert_eq!(columns[6], "3000");
        assert_eq!(columns[7], "1000");
        assert_eq!(columns[8], "1.0000");
        assert_eq!(columns[9], "1000.0000");
    }
}
