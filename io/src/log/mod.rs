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
//! - Reads take no lock; they see bytes on the device (or in the write
//!   cache), never bytes still being buffered.

mod cache;
mod read;
mod recovery;
pub mod retention;
pub mod segment;
mod write;

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use futures::lock::Mutex;

use crate::batch;
use crate::config::{limits, FlushPolicy, LogConfig};
use crate::error::{IoError, Result};
use crate::storage::{Storage, StorageFile};
use cache::{CacheEntry, WriteCache};
use segment::Segment;
use write::WriteState;

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
    stats: Cell<LogStats>,
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

/// The cache's view of a written buffer. A buffer mostly empty (a quiet
/// partition's small write) is copied into one of its own size, so the
/// cache's byte budget bounds the memory it really holds.
fn cache_entry<B: crate::storage::IoBuf>(
    segment_base: u64,
    written: &write::SealedBuffer<B>,
) -> CacheEntry {
    let data = &(*written.buf).as_ref()[..written.data_len];
    let (buffer, memory_bytes): (std::rc::Rc<dyn AsRef<[u8]>>, usize) =
        if written.data_len.saturating_mul(4) < written.capacity_bytes {
            (std::rc::Rc::new(data.to_vec()), written.data_len)
        } else {
            (written.buf.clone(), written.capacity_bytes)
        };
    CacheEntry {
        segment_base,
        file_position: written.file_position,
        data_len: written.data_len,
        buffer,
        memory_bytes,
    }
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

    /// Appends the v2 batches in `batches` (one or more, back to back).
    ///
    /// Every batch is validated first; if any is invalid nothing is appended.
    /// Offsets are assigned by rewriting each batch's base offset in the
    /// write buffer. Returns once the bytes are in the write buffer: call
    /// [`wait_durable`](Self::wait_durable) with the returned last offset to
    /// wait for the flush policy's durability. `now_ms` is the caller's clock
    /// (segment.ms rolls).
    pub async fn append(
        &self,
        batches: &[u8],
        now_ms: i64,
        time: AppendTime,
    ) -> Result<AppendInfo> {
        let _append = self.append_lock.lock().await;
        self.check_usable()?;
        let mut total_bytes = 0usize;
        let mut offset_span = 0u64;
        for item in batch::iter(batches) {
            let (position, bytes) =
                item.map_err(|(position, source)| IoError::InvalidBatch { position, source })?;
            let header = batch::header(bytes).expect("validated");
            total_bytes = position + bytes.len();
            offset_span += header.last_offset_delta.get() as u64 + 1;
        }
        if total_bytes == 0 {
            return Err(IoError::InvalidBatch {
                position: 0,
                source: batch::BatchError::TooShort { available: 0 },
            });
        }
        if total_bytes as u64 > self.segment_bytes.get() {
            return Err(IoError::Limit {
                what: "record batch too large",
                detail: format!(
                    "{total_bytes} bytes exceed segment.bytes {}",
                    self.segment_bytes.get()
                ),
            });
        }
        if self.needs_roll(total_bytes as u64, offset_span, now_ms) {
            let _write = self.write_lock.lock().await;
            self.roll().await?;
            self.check_usable()?;
        }
        Ok(self.copy_into_buffer(batches, total_bytes, now_ms, time))
    }

    fn needs_roll(&self, bytes: u64, offset_span: u64, now_ms: i64) -> bool {
        let state = self.state.borrow();
        let active = state.active();
        if active.size_bytes == 0 {
            return false;
        }
        let too_big = active.size_bytes + bytes > self.segment_bytes.get();
        let too_old = active
            .first_append_ms
            .is_some_and(|first| now_ms - first >= self.segment_ms.get());
        let offsets_overflow =
            active.next_offset + offset_span - active.base_offset > limits::RELATIVE_OFFSET_MAX;
        too_big || too_old || offsets_overflow
    }

    /// The synchronous half of an append: copy, assign offsets, index.
    fn copy_into_buffer(
        &self,
        batches: &[u8],
        total_bytes: usize,
        now_ms: i64,
        time: AppendTime,
    ) -> AppendInfo {
        let mut guard = self.state.borrow_mut();
        let state = &mut *guard;
        let active = state
            .segments
            .values_mut()
            .next_back()
            .expect("a log has a segment");
        let tail_from_disk = state.tail_from_disk.take();
        state.write.reserve(
            &*active.file,
            total_bytes,
            write::LogEnd {
                segment_size_bytes: active.size_bytes,
                end_offset: active.next_offset,
            },
            write::BufferSizing::new(&self.config),
            tail_from_disk.as_deref(),
        );
        let open = state.write.open.as_mut().expect("reserved");
        let start = open.data_len;
        let region = &mut open.buf.as_mut()[start..start + total_bytes];
        region.copy_from_slice(batches);

        let base_offset = active.next_offset;
        let mut max_timestamp_ms = -1;
        let mut position_in_region = 0usize;
        while position_in_region < total_bytes {
            let bytes = &mut region[position_in_region..];
            let header = batch::header_mut(bytes).expect("validated");
            let batch_bytes = header.total_bytes();
            let batch_base = active.next_offset;
            header.base_offset.set(batch_base as i64);
            match time {
                AppendTime::Create => {}
                AppendTime::LogAppend(append_ms) => {
                    batch::set_log_append_time(&mut bytes[..batch_bytes], append_ms)
                }
                AppendTime::CreateWithMaxTimestamp(max_timestamp_ms) => {
                    debug_assert_eq!(batch_bytes, total_bytes, "one batch per append");
                    batch::set_max_timestamp(&mut bytes[..batch_bytes], max_timestamp_ms)
                }
            }
            let header = batch::header(bytes).expect("validated");
            let last_offset = header.last_offset() as u64;
            let batch_max_timestamp = header.max_timestamp();
            max_timestamp_ms = max_timestamp_ms.max(batch_max_timestamp);
            let position = open.file_position + (start + position_in_region) as u64;
            active.index_batch(
                position,
                batch_bytes as u64,
                last_offset,
                batch_max_timestamp,
                self.config.index_interval_bytes,
            );
            position_in_region += batch_bytes;
        }
        open.data_len += total_bytes;
        open.end_offset = active.next_offset;
        open.batch_ends.push((open.data_len, open.end_offset));
        active.size_bytes += total_bytes as u64;
        active.first_append_ms.get_or_insert(now_ms);
        let record_count = active.next_offset - base_offset;
        state.messages_appended += record_count;
        state
            .write
            .oldest_unwritten_at
            .get_or_insert_with(Instant::now);
        drop(guard);
        self.count(|s| s.appends += 1);
        AppendInfo {
            base_offset,
            last_offset: base_offset + record_count - 1,
            max_timestamp_ms,
            record_count,
        }
    }

    /// Waits until offsets below `end_offset` are as durable as the flush
    /// policy promises: on the device (`Interval`) or synced (`EveryWrite`).
    /// Writes them out itself if no write-out in flight covers them; appends
    /// that arrive meanwhile share the next write (group commit).
    pub async fn wait_durable(&self, end_offset: u64) -> Result<()> {
        loop {
            if self.is_durable(end_offset) {
                return Ok(());
            }
            self.check_usable()?;
            // Read before trying the lock: a holder that releases after this
            // point announces it, so the wait below cannot miss it.
            let seen = self.write_lock.released.version();
            let Some(_write) = self.write_lock.try_lock() else {
                // A write-out is in flight and may well cover this append.
                self.write_lock.released.changed_since(seen).await;
                continue;
            };
            if self.is_durable(end_offset) {
                return Ok(());
            }
            self.check_usable()?;
            self.linger().await;
            self.write_out(SyncWanted::Policy).await?;
        }
    }

    fn is_durable(&self, end_offset: u64) -> bool {
        let state = self.state.borrow();
        let reached = match self.config.flush_policy {
            FlushPolicy::EveryWrite => state.write.synced_offset,
            FlushPolicy::Interval { .. } => state.write.written_offset,
        };
        reached >= end_offset
    }

    /// With a linger configured, holds a small write back until enough bytes
    /// are pending or the oldest pending append has waited `write_linger`.
    async fn linger(&self) {
        if self.config.write_linger.is_zero() {
            return;
        }
        let deadline = {
            let state = self.state.borrow();
            let pending = state.write.pending_bytes(state.active().size_bytes);
            match state.write.oldest_unwritten_at {
                Some(oldest) if pending < self.config.write_min_bytes as u64 => {
                    oldest + self.config.write_linger
                }
                _ => return,
            }
        };
        let now = Instant::now();
        if deadline > now {
            glommio::timer::sleep(deadline - now).await;
        }
    }

    /// Writes every buffer sealed so far, then syncs if wanted. The caller
    /// holds the write lock.
    ///
    /// The buffers of one write-out never share a block (see
    /// `WriteState::seal_open`), so their writes are in flight together;
    /// the log counts as written only once all of them completed. A buffer
    /// of an earlier write-out may share its last block with this one's
    /// first, which is why write-outs themselves go one at a time.
    async fn write_out(&self, sync: SyncWanted) -> Result<()> {
        let (file, batch, preallocate_to) = {
            let mut state = self.state.borrow_mut();
            state.write.seal_open(false);
            let batch: Vec<_> = state.write.unwritten.drain(..).collect();
            let end = batch
                .iter()
                .map(|b| b.file_position + (*b.buf).as_ref().len() as u64)
                .max()
                .unwrap_or(0);
            let preallocate_to =
                (end > state.write.preallocated_bytes && self.config.preallocate_bytes > 0).then(
                    || (end + self.config.preallocate_bytes).min(self.segment_bytes.get().max(end)),
                );
            (state.active().file.clone(), batch, preallocate_to)
        };
        if !batch.is_empty() {
            if let Some(preallocate_to) = preallocate_to {
                // Reserving blocks is an optimisation; a failure here shows
                // up again, as an error, on the write that needs the space.
                match file.preallocate(preallocate_to).await {
                    Ok(()) => self.state.borrow_mut().write.preallocated_bytes = preallocate_to,
                    Err(error) => tracing::debug!(%error, "preallocation failed"),
                }
            }
            for group in batch.chunks(self.config.write_ios_in_flight_max.max(1)) {
                let writes = group
                    .iter()
                    .map(|b| file.write_at(b.buf.clone(), b.file_position));
                for result in futures::future::join_all(writes).await {
                    result.map_err(|e| self.fail(e))?;
                }
                // Everything up to this group is on the device: let the
                // appends it covers go now (they need not wait for the rest
                // of the write-out, and their producers can send more).
                let mut guard = self.state.borrow_mut();
                let state = &mut *guard;
                let segment_base = state.active().base_offset;
                let mut group_bytes = 0u64;
                for written in group {
                    let write_bytes = (*written.buf).as_ref().len();
                    group_bytes += write_bytes as u64;
                    state.write.written_bytes = written.file_position + written.whole_len as u64;
                    state.write.written_offset = written.end_offset;
                    state.write.last_write_bytes = write_bytes;
                    state.cache.insert(
                        cache_entry(segment_base, written),
                        self.config.cache_bytes_max,
                    );
                }
                drop(guard);
                self.count(|s| {
                    s.device_writes += group.len() as u64;
                    s.device_write_bytes += group_bytes;
                });
                if self.config.flush_policy != FlushPolicy::EveryWrite {
                    self.write_lock.released.notify();
                }
            }
            let mut state = self.state.borrow_mut();
            if state.write.unwritten.is_empty()
                && state.write.open.as_ref().is_none_or(|o| !o.has_new_data())
            {
                state.write.oldest_unwritten_at = None;
            }
        }
        if self.sync_due(sync) {
            let (target, messages) = {
                let state = self.state.borrow();
                (state.write.written_offset, state.messages_appended)
            };
            file.sync().await.map_err(|e| self.fail(e))?;
            let mut state = self.state.borrow_mut();
            state.write.synced_offset = state.write.synced_offset.max(target);
            state.messages_synced = messages;
            state.last_sync_at = Instant::now();
            drop(state);
            self.count(|s| s.syncs += 1);
        }
        Ok(())
    }

    fn sync_due(&self, sync: SyncWanted) -> bool {
        let state = self.state.borrow();
        if state.write.synced_offset >= state.write.written_offset {
            return false;
        }
        match (sync, self.config.flush_policy) {
            (SyncWanted::Always, _) | (_, FlushPolicy::EveryWrite) => true,
            (SyncWanted::Policy, FlushPolicy::Interval { messages, ms }) => {
                state.messages_appended - state.messages_synced >= messages
                    || state.last_sync_at.elapsed().as_millis() as u64 >= ms
            }
        }
    }

    /// Writes and syncs everything appended so far.
    pub async fn flush(&self) -> Result<()> {
        let _write = self.write_lock.lock().await;
        self.check_usable()?;
        self.write_out(SyncWanted::Always).await
    }

    /// Periodic work for the owning shard's timer: writes out appends nobody
    /// waits for (acks=0) once they have lingered, and syncs when the
    /// `Interval` policy's time is up.
    pub async fn tick(&self) -> Result<()> {
        let due = {
            let state = self.state.borrow();
            let unwritten_due = state
                .write
                .oldest_unwritten_at
                .is_some_and(|at| at.elapsed() >= self.config.write_linger);
            unwritten_due || (!state.failed && !state.closed && self.sync_due(SyncWanted::Policy))
        };
        if !due {
            return Ok(());
        }
        let _write = self.write_lock.lock().await;
        self.check_usable()?;
        self.write_out(SyncWanted::Policy).await
    }

    /// Seals the active segment and starts a new one at the log end offset.
    pub async fn roll_now(&self) -> Result<()> {
        let _append = self.append_lock.lock().await;
        let _write = self.write_lock.lock().await;
        self.check_usable()?;
        if self.state.borrow().active().size_bytes == 0 {
            return Ok(());
        }
        self.roll().await
    }

    /// Caller holds both locks. The old segment is written, synced, cut to
    /// its exact size and its indexes written before the new file exists, so
    /// after a crash every segment but the last is whole.
    async fn roll(&self) -> Result<()> {
        self.write_out(SyncWanted::Always).await?;
        self.seal_active_files().await.map_err(|e| self.fail(e))?;
        let base_offset = self.log_end_offset();
        let segment = self
            .create_segment(base_offset)
            .await
            .map_err(|e| self.fail(e))?;
        let mut state = self.state.borrow_mut();
        state.segments.insert(base_offset, segment);
        state.write.reset(0, base_offset);
        state.tail_from_disk = None;
        tracing::debug!(dir = %self.dir.display(), base_offset, "rolled segment");
        Ok(())
    }

    /// Cuts the active segment's file to its exact size and writes its
    /// indexes. Everything must already be written.
    async fn seal_active_files(&self) -> Result<()> {
        let (file, size, base, offset_index, time_index) = {
            let mut state = self.state.borrow_mut();
            let active = state
                .segments
                .values_mut()
                .next_back()
                .expect("a log has a segment");
            // Kafka's last time index entry: the segment's max timestamp, so
            // a reopened sealed segment knows it without a scan.
            active
                .time_index
                .maybe_push(active.max_timestamp_ms, active.max_timestamp_offset);
            (
                active.file.clone(),
                active.size_bytes,
                active.base_offset,
                active.offset_index.encode(),
                active.time_index.encode(),
            )
        };
        file.truncate(size).await?;
        file.sync().await?;
        let index_path = segment::segment_path(&self.dir, base, segment::OFFSET_INDEX_SUFFIX);
        crate::storage::write_whole(&self.storage, &index_path, &offset_index).await?;
        let time_path = segment::segment_path(&self.dir, base, segment::TIME_INDEX_SUFFIX);
        crate::storage::write_whole(&self.storage, &time_path, &time_index).await
    }

    async fn create_segment(&self, base_offset: u64) -> Result<Segment<S::File>> {
        let path = segment::segment_path(&self.dir, base_offset, segment::LOG_SUFFIX);
        let file = self
            .storage
            .open(&path, crate::storage::OpenMode::CreateIfMissing)
            .await?;
        self.storage.sync_dir(&self.dir).await?;
        Ok(Segment::new(base_offset, file, path))
    }

    /// Writes and syncs everything, writes the active segment's indexes and
    /// cuts its file to size. Appends and reads fail afterwards.
    pub async fn close(&self) -> Result<()> {
        let _append = self.append_lock.lock().await;
        let _write = self.write_lock.lock().await;
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
