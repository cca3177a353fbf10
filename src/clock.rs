//! Wall-clock time as Kafka's protocol counts it: milliseconds since the
//! Unix epoch. Every layer needs it (record timestamps, group sessions,
//! offset expiry), so it sits below all of them.

/// Milliseconds since the Unix epoch (0 if the clock is before it).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
