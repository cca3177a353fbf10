//! The append path: [`PartitionLog::append`] validates batches, copies them
//! into the active segment's write buffer ([`super::write_buffer`]) and
//! assigns offsets; write-outs send sealed buffers to the device one
//! write-out at a time (group commit) and sync as the flush policy says.

use std::time::Instant;

use super::cache::CacheEntry;
use super::write_buffer::{BufferSizing, LogEnd, SealedBuffer};
use super::{AppendInfo, AppendTime, PartitionLog, SyncWanted};
use crate::batch;
use crate::config::{limits, FlushPolicy};
use crate::error::{IoError, Result};
use crate::storage::{Storage, StorageFile};

/// The cache's view of a written buffer. A buffer mostly empty (a quiet
/// partition's small write) is copied into one of its own size, so the
/// cache's byte budget bounds the memory it really holds.
fn cache_entry<B: crate::storage::IoBuf>(
    segment_base: u64,
    written: &SealedBuffer<B>,
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

/// Whether an append gives batches their offsets or keeps the leader's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Offsets {
    Assign,
    Keep,
}

impl<S: Storage> PartitionLog<S> {
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
        self.append_batches(batches, now_ms, time, Offsets::Assign)
            .await
    }

    /// Appends batches copied from the leader (a follower's fetch): their
    /// offsets, timestamps and leader epochs are kept as they are, so the
    /// replica's log is the leader's byte for byte. The first batch must
    /// start at or after this log's end (a compacted leader's log may skip
    /// offsets); a batch that would go backwards is refused.
    pub async fn append_replicated(&self, batches: &[u8], now_ms: i64) -> Result<AppendInfo> {
        self.append_batches(batches, now_ms, AppendTime::Create, Offsets::Keep)
            .await
    }

    /// Sets (or clears) the leader epoch written into appended batches.
    pub fn set_leader_epoch_stamp(&self, epoch: Option<i32>) {
        self.leader_epoch_stamp.set(epoch);
    }

    async fn append_batches(
        &self,
        batches: &[u8],
        now_ms: i64,
        time: AppendTime,
        offsets: Offsets,
    ) -> Result<AppendInfo> {
        let _append = self.append_lock.lock().await;
        self.check_usable()?;
        let mut total_bytes = 0usize;
        let mut offset_span = 0u64;
        let mut next_kept = self.log_end_offset();
        for item in batch::iter(batches) {
            let (position, bytes) =
                item.map_err(|(position, source)| IoError::InvalidBatch { position, source })?;
            let header = batch::header(bytes).expect("validated");
            total_bytes = position + bytes.len();
            offset_span += header.last_offset_delta.get() as u64 + 1;
            if offsets == Offsets::Keep {
                let base = header.base_offset();
                if base < next_kept as i64 {
                    return Err(IoError::Limit {
                        what: "replicated batch out of order",
                        detail: format!("batch at offset {base} is below the log end {next_kept}"),
                    });
                }
                offset_span = header.last_offset() as u64 + 1 - self.log_end_offset();
                next_kept = header.last_offset() as u64 + 1;
            }
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
        Ok(self.copy_into_buffer(batches, total_bytes, now_ms, time, offsets))
    }

    pub(super) fn needs_roll(&self, bytes: u64, offset_span: u64, now_ms: i64) -> bool {
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
    pub(super) fn copy_into_buffer(
        &self,
        batches: &[u8],
        total_bytes: usize,
        now_ms: i64,
        time: AppendTime,
        offsets: Offsets,
    ) -> AppendInfo {
        let stamp = match offsets {
            Offsets::Assign => self.leader_epoch_stamp.get(),
            Offsets::Keep => None,
        };
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
            LogEnd {
                segment_size_bytes: active.size_bytes,
                end_offset: active.next_offset,
            },
            BufferSizing::new(&self.config),
            tail_from_disk.as_deref(),
        );
        let open = state.write.open.as_mut().expect("reserved");
        let start = open.data_len;
        let region = &mut open.buf.as_mut()[start..start + total_bytes];
        region.copy_from_slice(batches);

        let base_offset = match offsets {
            Offsets::Assign => active.next_offset,
            Offsets::Keep => batch::header(region).expect("validated").base_offset() as u64,
        };
        let mut max_timestamp_ms = -1;
        let mut position_in_region = 0usize;
        while position_in_region < total_bytes {
            let bytes = &mut region[position_in_region..];
            let header = batch::header_mut(bytes).expect("validated");
            let batch_bytes = header.total_bytes();
            if offsets == Offsets::Assign {
                header.base_offset.set(active.next_offset as i64);
            }
            if let Some(epoch) = stamp {
                // Outside the CRC's span: the batch stays valid.
                header.partition_leader_epoch.set(epoch);
            }
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
        debug_assert!(
            offsets == Offsets::Keep || record_count > 0,
            "an assigned append covers its offsets"
        );
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

    pub(super) fn is_durable(&self, end_offset: u64) -> bool {
        let state = self.state.borrow();
        let reached = match self.config.flush_policy {
            FlushPolicy::EveryWrite => state.write.synced_offset,
            FlushPolicy::Interval { .. } => state.write.written_offset,
        };
        reached >= end_offset
    }

    /// With a linger configured, holds a small write back until enough bytes
    /// are pending or the oldest pending append has waited `write_linger`.
    pub(super) async fn linger(&self) {
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
    pub(super) async fn write_out(&self, sync: SyncWanted) -> Result<()> {
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

    pub(super) fn sync_due(&self, sync: SyncWanted) -> bool {
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
}
