//! Per-partition log settings, named after Kafka's topic configs.

use std::time::Duration;

/// When written data is made durable against power loss with `fdatasync`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlushPolicy {
    /// Every group commit is written and synced before any append in it is
    /// reported durable: acknowledged appends survive power loss.
    EveryWrite,
    /// Appends are reported durable once written to the device (O_DIRECT, so
    /// not in the page cache: they survive a process kill). `fdatasync` runs
    /// once `messages` appended messages or `ms` milliseconds have passed
    /// since the last one (Kafka's `flush.messages` / `flush.ms`), at roll and
    /// at close. Power loss can lose what was written since the last sync.
    Interval { messages: u64, ms: u64 },
}

impl FlushPolicy {
    /// Kafka's default: no periodic fsync at all.
    pub const KAFKA_DEFAULT: FlushPolicy = FlushPolicy::Interval {
        messages: u64::MAX,
        ms: u64::MAX,
    };
}

/// Settings of one partition's log. Defaults are Kafka's where Kafka has the
/// setting; the rest were chosen by `io/benches/append.rs`.
#[derive(Clone, Debug)]
pub struct LogConfig {
    /// `segment.bytes`: a segment rolls before it would grow past this.
    pub segment_bytes: u64,
    /// `segment.ms`: a segment rolls once its first append is this old.
    pub segment_ms: i64,
    /// `index.interval.bytes`: bytes of log between sparse index entries.
    pub index_interval_bytes: u64,
    pub flush_policy: FlushPolicy,
    /// A write-out waits (up to `write_linger`) until this many bytes are
    /// pending, so the device sees large writes however the load is spread.
    pub write_min_bytes: usize,
    /// The longest an append waits for more appends to share its write.
    /// Zero writes at once (group commit still merges concurrent appends).
    pub write_linger: Duration,
    /// Largest write buffer, and so the largest single device write (a batch
    /// larger than this gets a buffer of its own size).
    pub write_buffer_bytes_max: usize,
    /// Device writes of one partition in flight at once. The buffers of one
    /// write-out never share a block, so they may be written together; on
    /// the virtio disk measured (`io/benches/append.rs`) one at a time was
    /// faster (1 MiB writes: 1290 MB/s at queue depth 1, 1084 at 4), so the
    /// default is 1. Raise it for devices that gain from queue depth.
    pub write_ios_in_flight_max: usize,
    /// Recently written buffers kept for reads, per partition.
    pub cache_bytes_max: usize,
    /// Segment files are reserved (fallocate, size kept) this far ahead of the
    /// write position, so appends do not allocate blocks one write at a time.
    pub preallocate_bytes: u64,
    /// Bytes read from disk at a time while scanning for a batch.
    pub read_window_bytes: usize,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            segment_bytes: 1 << 30,
            segment_ms: 7 * 24 * 60 * 60 * 1000,
            index_interval_bytes: 4096,
            flush_policy: FlushPolicy::KAFKA_DEFAULT,
            write_min_bytes: 64 << 10,
            write_linger: Duration::ZERO,
            write_buffer_bytes_max: 1 << 20,
            write_ios_in_flight_max: 1,
            cache_bytes_max: 8 << 20,
            preallocate_bytes: 16 << 20,
            read_window_bytes: 256 << 10,
        }
    }
}

/// Hard limits of the on-disk format.
pub mod limits {
    /// Index entries hold positions as u32, so a segment stays below 4 GiB.
    pub const SEGMENT_BYTES_MAX: u64 = u32::MAX as u64;
    /// Index entries hold offsets relative to the segment base as u32.
    pub const RELATIVE_OFFSET_MAX: u64 = u32::MAX as u64;
    /// Smallest write buffer: one block plus room for a header.
    pub const WRITE_BUFFER_BYTES_MIN: usize = crate::storage::BLOCK_BYTES * 2;
}

impl LogConfig {
    /// Rejects settings the engine cannot honour.
    pub fn validate(&self) -> Result<(), String> {
        if self.segment_bytes < 14 || self.segment_bytes > limits::SEGMENT_BYTES_MAX {
            return Err(format!(
                "segment.bytes {} must be between 14 and {}",
                self.segment_bytes,
                limits::SEGMENT_BYTES_MAX
            ));
        }
        if self.segment_ms <= 0 {
            return Err(format!("segment.ms {} must be positive", self.segment_ms));
        }
        if self.write_buffer_bytes_max < limits::WRITE_BUFFER_BYTES_MIN {
            return Err(format!(
                "write buffer {} is smaller than {}",
                self.write_buffer_bytes_max,
                limits::WRITE_BUFFER_BYTES_MIN
            ));
        }
        if self.read_window_bytes < crate::storage::BLOCK_BYTES {
            return Err("read window must be at least one block".into());
        }
        if let FlushPolicy::Interval { messages, ms } = self.flush_policy {
            if messages == 0 || ms == 0 {
                return Err("flush interval of 0: use FlushPolicy::EveryWrite".into());
            }
        }
        Ok(())
    }
}
