//! [`PartitionLog`]: one partition's log: segments, appends with group
//! commit, reads, recovery, retention and truncation.
//!
//! Lifecycle: [`PartitionLog::open`] (runs recovery) → appends and reads →
//! [`PartitionLog::close`]. A log lives on the shard that owns its partition
//! and is used from that shard's executor only (it is `!Send`).
//!
//! Concurrency rules (all on one thread, between `.await`s):
//! - Appends are ordered by the append lock, held across an append only
//!   while it rolls a segment; the copy into the write buffer is synchronous.
//! - One write-out at a time (the write lock). A write-out writes every
//!   buffer sealed before it started, so concurrent appends waiting for
//!   durability share one device write and one `fdatasync` (group commit).
//! - Sealed segments are removed or replaced (retention, truncation, the
//!   cleaner's swaps) under the segments lock, taken after the others.
//! - Reads take no lock; they see bytes on the device (or in the write
//!   cache), never bytes still being buffered.

mod cache;
pub mod compact;
mod read;
mod recovery;
pub mod retention;
pub mod segment;
mod write;
mod write_buffer;

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use futures::lock::Mutex;

use crate::config::LogConfig;
use crate::error::{IoError, Result};
use crate::storage::Storage;
use cache::WriteCache;
use segment::Segment;
use write_buffer::WriteState;

pub use read::LogRead;

/// What an append did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AppendInfo {
    /// Offset given to the first record.
    pub base_offset: u64,
    /// Offset given to the last record.
    pub last_offset: u64,
    /// Largest batch max timestamp of the append (the append time when set).
    pub max_timestamp_ms: i64,
    /// Records (offsets) appended.
    pub record_count: u64,
}

/// How timestamps are treated on append.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AppendTime {
    /// Keep the producer's timestamps (`message.timestamp.type=CreateTime`).
    Create,
    /// Stamp batches with this broker time (`LogAppendTime`).
    LogAppend(i64),
    /// Keep the producer's timestamps but write this max timestamp (the
    /// records' real maximum, which the producer's header got wrong) into
    /// the batch's header, so the time index and ListOffsets see it. For
    /// appends of one batch, as a produce is.
    CreateWithMaxTimestamp(i64),
}

/// Counters for benchmarks and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LogStats {
    pub appends: u64,
    pub device_writes: u64,
    pub device_write_bytes: u64,
    pub syncs: u64,
    pub cache_read_bytes: u64,
    pub disk_reads: u64,
    pub disk_read_bytes: u64,
}

struct LogState<S: Storage> {
    /// All segments by base offset; the last is the active one.
    segments: BTreeMap<u64, Segment<S::File>>,
    log_start_offset: u64,
    write: WriteState<S::Buf>,
    cache: WriteCache,
    /// Bytes of the tail block read from disk by recovery or truncation,
    /// for the first write buffer after it.
    tail_from_disk: Option<Vec<u8>>,
    messages_appended: u64,
    messages_synced: u64,
    last_sync_at: Instant,
    /// Where the log cleaner stopped (compacted topics).
    cleaner: compact::CleanerState,
    /// Set by a failed write or sync; the partition then refuses appends.
    failed: bool,
    closed: bool,
}

impl<S: Storage> LogState<S> {
    fn active(&self) -> &Segment<S::File> {
        self.segments
            .values()
            .next_back()
            .expect("a log has a segment")
    }

    fn log_end_offset(&self) -> u64 {
        self.active().next_offset
    }
}

/// One partition's log. See the module doc for its rules.
pub struct PartitionLog<S: Storage> {
    storage: S,
    dir: PathBuf,
    config: LogConfig,
    /// `segment.bytes` and `segment.ms` as they are now: a topic config
    /// change sets them on the open log and the next append's roll check
    /// uses them (the rest of `config` is fixed at open).
    segment_bytes: Cell<u64>,
    segment_ms: Cell<i64>,
    state: RefCell<LogState<S>>,
    append_lock: Mutex<()>,
    write_lock: WriteGate,
    /// Held by whatever removes or replaces sealed segments (retention, log
    /// start moves, truncation, the cleaner's swaps), never by appends.
    segments_lock: Mutex<()>,
    stats: Cell<LogStats>,
    /// Written into every appended batch's `partitionLeaderEpoch` while
    /// this replica leads (Kafka stamps the leader's epoch on append);
    /// None keeps the batch's own (a follower's copy, the embedded node).
    leader_epoch_stamp: Cell<Option<i32>>,
}

/// The write lock: one write-out (or roll, truncation, close) at a time.
/// Its release is announced, so appends waiting for durability can watch
/// for it instead of queueing on the lock: `futures`' mutex is not fair, and
/// a queue of waiters behind it would each write a batch of their own
/// instead of finding their batch already written by the holder (no group
/// commit).
pub(crate) struct WriteGate {
    lock: Mutex<()>,
    released: crate::notify::Notify,
}

pub(crate) struct WriteGuard<'a> {
    _guard: futures::lock::MutexGuard<'a, ()>,
    released: &'a crate::notify::Notify,
}

impl Drop for WriteGuard<'_> {
    fn drop(&mut self) {
        self.released.notify();
    }
}

impl WriteGate {
    pub(crate) fn new() -> Self {
        WriteGate {
            lock: Mutex::new(()),
            released: crate::notify::Notify::default(),
        }
    }

    pub(crate) async fn lock(&self) -> WriteGuard<'_> {
        WriteGuard {
            _guard: self.lock.lock().await,
            released: &self.released,
        }
    }

    fn try_lock(&self) -> Option<WriteGuard<'_>> {
        Some(WriteGuard {
            _guard: self.lock.try_lock()?,
            released: &self.released,
        })
    }
}

/// Which durability a write-out must reach.
#[derive(Clone, Copy, PartialEq, Eq)]
enum SyncWanted {
    /// Sync as the flush policy says.
    Policy,
    /// Sync whatever is written (roll, close, explicit flush).
    Always,
}

impl<S: Storage> PartitionLog<S> {
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn config(&self) -> &LogConfig {
        &self.config
    }

    /// Changes `segment.bytes` and `segment.ms` of the open log (a live
    /// topic config change). The active segment keeps what it has; the next
    /// append rolls it if it is now too large or too old.
    pub fn set_segment_limits(&self, segment_bytes: u64, segment_ms: i64) {
        self.segment_bytes.set(segment_bytes);
        self.segment_ms.set(segment_ms);
    }

    /// The `segment.bytes` in force.
    pub fn segment_bytes(&self) -> u64 {
        self.segment_bytes.get()
    }

    /// First offset still in the log.
    pub fn log_start_offset(&self) -> u64 {
        self.state.borrow().log_start_offset
    }

    /// One past the last offset appended (Kafka's LEO).
    pub fn log_end_offset(&self) -> u64 {
        self.state.borrow().log_end_offset()
    }

    /// One past the last offset on the device: readable, and durable against
    /// a process kill.
    pub fn written_offset(&self) -> u64 {
        self.state.borrow().write.written_offset
    }

    /// One past the last offset durable against power loss.
    pub fn synced_offset(&self) -> u64 {
        self.state.borrow().write.synced_offset
    }

    /// Bytes in all segments.
    pub fn size_bytes(&self) -> u64 {
        let state = self.state.borrow();
        state.segments.values().map(|s| s.size_bytes).sum()
    }

    /// Base offsets of the segments, oldest first.
    pub fn segment_base_offsets(&self) -> Vec<u64> {
        self.state.borrow().segments.keys().copied().collect()
    }

    pub fn stats(&self) -> LogStats {
        self.stats.get()
    }

    fn count(&self, update: impl FnOnce(&mut LogStats)) {
        let mut stats = self.stats.get();
        update(&mut stats);
        self.stats.set(stats);
    }

    fn check_usable(&self) -> Result<()> {
        let state = self.state.borrow();
        if state.closed {
            return Err(IoError::Closed {
                path: self.dir.clone(),
            });
        }
        if state.failed {
            return Err(IoError::Fenced {
                path: self.dir.clone(),
            });
        }
        Ok(())
    }

    /// Marks the partition failed after a write or sync error and passes the
    /// error on. What is on disk is unknown now; reopening runs recovery.
    fn fail(&self, error: IoError) -> IoError {
        tracing::error!(dir = %self.dir.display(), %error, "partition log failed; refusing appends until reopened");
        self.state.borrow_mut().failed = true;
        error
    }

    /// Writes and syncs everything, writes the active segment's indexes and
    /// cuts its file to size. Appends and reads fail afterwards.
    pub async fn close(&self) -> Result<()> {
        let _append = self.append_lock.lock().await;
        let _write = self.write_lock.lock().await;
        let _segments = self.segments_lock.lock().await;
        if self.state.borrow().closed {
            return Ok(());
        }
        let result = if self.state.borrow().failed {
            Ok(())
        } else {
            match self.write_out(SyncWanted::Always).await {
                Ok(()) => self.seal_active_files().await,
                Err(error) => Err(error),
            }
        };
        // Files close when the log (and any read still holding one) drops.
        let mut state = self.state.borrow_mut();
        state.closed = true;
        state.cache = WriteCache::default();
        drop(state);
        result
    }
}
