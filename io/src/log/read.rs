//! Reads: from an offset up to a byte limit, and offset-for-timestamp.
//!
//! A read finds the segment holding the offset, asks the offset index for a
//! position at or before it, and walks batch headers forward. The bytes come
//! from the write cache when recent, else from DMA reads of
//! `read_window_bytes`; either way the result is a list of [`Chunk`]s that
//! share those buffers. Batch bytes are never copied: consecutive batches in
//! one buffer become one chunk, ready for a vectored socket write.

use std::rc::Rc;

use super::cache::ReadAhead;
use super::PartitionLog;
use crate::batch::{self, BATCH_HEADER_BYTES};
use crate::error::{IoError, Result};
use crate::records;
use crate::storage::{align_down, align_up, Chunk, Storage, StorageFile};

/// How far a compressed batch may inflate while ListOffsets looks for a
/// timestamp inside it. Stored batches passed produce validation, whose
/// bound is larger only for topics with a `max.message.bytes` over 2 MiB;
/// for those the answer falls back to the batch's first offset.
pub(super) const TIMESTAMP_LOOKUP_INFLATED_BYTES_MAX: usize = 64 << 20;

/// The most a read asks of the disk at once for the bytes it expects to
/// return. A Fetch reading 1 MiB of a partition (librdkafka's and Kafka's
/// default `max.partition.fetch.bytes`) does it in one device read instead
/// of one per `read_window_bytes` awaited in turn, and a read-ahead reads
/// the next Fetch's bytes in one. The bound keeps one read's buffer modest
/// whatever `max_bytes` a client asks for; the rest of a larger read goes
/// a window at a time.
const READ_AHEAD_BYTES_MAX: usize = 4 << 20;

/// The result of [`PartitionLog::read`].
#[derive(Debug, Default)]
pub struct LogRead {
    /// Whole batches, back to back, as shared buffers.
    pub chunks: Vec<Chunk>,
    /// Total bytes in `chunks`.
    pub bytes: usize,
    /// One past the last offset returned (the next offset to read), or the
    /// requested offset when nothing was returned.
    pub next_offset: u64,
}

impl LogRead {
    /// The bytes gathered into one vector (tests and tools; the broker writes
    /// the chunks as they are).
    pub fn to_vec(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.bytes);
        for chunk in &self.chunks {
            out.extend_from_slice(chunk.as_slice());
        }
        out
    }

    fn push(&mut self, chunk: Chunk) {
        self.bytes += chunk.len();
        if let Some(last) = self.chunks.last_mut() {
            if let Some(joined) = last.join(&chunk) {
                *last = joined;
                return;
            }
        }
        self.chunks.push(chunk);
    }
}

/// Where in a segment a read looks, and how far it may go.
struct SegmentView<F> {
    base_offset: u64,
    file: Rc<F>,
    /// Bytes readable: all of a sealed segment, the written part of the active.
    readable_bytes: u64,
    start_position: u64,
}

/// Walks a segment's bytes, from the cache or the disk, a window at a time.
struct Cursor<'a, S: Storage> {
    log: &'a PartitionLog<S>,
    view: SegmentView<S::File>,
    /// Bytes from `window_position` on, from the last fetch.
    window: Option<(u64, Chunk)>,
    /// Bytes the read still expects to return from the current position
    /// (its remaining `max_bytes`, at most [`READ_AHEAD_BYTES_MAX`]): a disk
    /// read fetches that much at once rather than a window at a time.
    read_ahead_bytes: usize,
}

impl<'a, S: Storage> Cursor<'a, S> {
    /// At least `wanted` bytes from `position` (fewer only at the readable
    /// end), sharing a cache or DMA buffer.
    async fn bytes_at(&mut self, position: u64, wanted: usize) -> Result<Chunk> {
        let available = (self.view.readable_bytes.saturating_sub(position)) as usize;
        let wanted = wanted.min(available);
        if let Some((window_position, window)) = &self.window {
            if position >= *window_position {
                let start = (position - window_position) as usize;
                if start + wanted <= window.len() {
                    return Ok(window.slice(start..window.len()));
                }
            }
        }
        let cached = self
            .log
            .state
            .borrow()
            .cache
            .lookup(self.view.base_offset, position);
        if let Some(chunk) = cached {
            if chunk.len() >= wanted {
                let end = chunk.len().min(available);
                let chunk = chunk.slice(0..end);
                self.log.count(|s| s.cache_read_bytes += wanted as u64);
                self.window = Some((position, chunk.clone()));
                return Ok(chunk);
            }
        }
        self.read_disk(position, wanted).await
    }

    /// At least `wanted` bytes from `position` (within the readable end)
    /// read from the device, with the window or read-ahead beyond them.
    async fn read_disk(&mut self, position: u64, wanted: usize) -> Result<Chunk> {
        let read_start = align_down(position);
        let read_end = align_up(
            (position
                + wanted
                    .max(self.log.config.read_window_bytes)
                    .max(self.read_ahead_bytes) as u64)
                .min(self.view.readable_bytes),
        );
        let read = self
            .view
            .file
            .read_at(read_start, (read_end - read_start) as usize)
            .await?;
        self.log.count(|s| {
            s.disk_reads += 1;
            s.disk_read_bytes += read.len() as u64;
        });
        let skip = (position - read_start) as usize;
        let usable_end = read
            .len()
            .min((self.view.readable_bytes - read_start) as usize);
        if usable_end < skip + wanted {
            return Err(IoError::CorruptSegment {
                path: self.log.dir.clone(),
                position,
                detail: format!(
                    "segment {} is shorter on disk than its {} known bytes",
                    self.view.base_offset, self.view.readable_bytes
                ),
            });
        }
        let chunk = read.slice(skip..usable_end);
        self.window = Some((position, chunk.clone()));
        Ok(chunk)
    }

    /// The header of the batch at `position` and the batch's total size, or
    /// `None` at the readable end.
    async fn batch_at(&mut self, position: u64) -> Result<Option<(u64, u64, i64, usize)>> {
        if position + BATCH_HEADER_BYTES as u64 > self.view.readable_bytes {
            return Ok(None);
        }
        let bytes = self.bytes_at(position, BATCH_HEADER_BYTES).await?;
        let header = batch::header(bytes.as_slice()).map_err(|e| self.corrupt(position, e))?;
        let total = header.total_bytes();
        if total < BATCH_HEADER_BYTES || position + total as u64 > self.view.readable_bytes {
            return Err(self.corrupt(position, format!("batch length {total} runs past the log")));
        }
        Ok(Some((
            header.base_offset() as u64,
            header.last_offset() as u64,
            header.max_timestamp(),
            total,
        )))
    }

    fn corrupt(&self, position: u64, detail: impl ToString) -> IoError {
        IoError::CorruptSegment {
            path: super::segment::segment_path(
                &self.log.dir,
                self.view.base_offset,
                super::segment::LOG_SUFFIX,
            ),
            position,
            detail: detail.to_string(),
        }
    }
}

impl<S: Storage> PartitionLog<S> {
    /// Reads whole batches starting with the one holding `offset`, up to
    /// `max_bytes` (at least one whole batch if `min_one_batch`, as Kafka
    /// does for KIP-74). Only bytes on the device are visible. `offset` may
    /// be anywhere in `[log_start_offset, log_end_offset]`; outside it is
    /// [`IoError::OffsetOutOfRange`].
    pub async fn read(
        &self,
        offset: u64,
        max_bytes: usize,
        min_one_batch: bool,
    ) -> Result<LogRead> {
        self.read_to(offset, u64::MAX, max_bytes, min_one_batch)
            .await
    }

    /// [`read`](Self::read), stopping before the first batch that reaches
    /// `end_offset` (a leader serving consumers only up to its high
    /// watermark).
    pub async fn read_to(
        &self,
        offset: u64,
        end_offset: u64,
        max_bytes: usize,
        min_one_batch: bool,
    ) -> Result<LogRead> {
        let mut result = LogRead {
            next_offset: offset,
            ..LogRead::default()
        };
        let mut search_from = offset;
        loop {
            let Some(view) = self.segment_view(search_from)? else {
                return Ok(result);
            };
            let next_segment = {
                let state = self.state.borrow();
                state
                    .segments
                    .range(view.base_offset + 1..)
                    .next()
                    .map(|(b, _)| *b)
            };
            let mut cursor = Cursor {
                log: self,
                view,
                window: None,
                read_ahead_bytes: max_bytes.min(READ_AHEAD_BYTES_MAX),
            };
            let mut position = cursor.view.start_position;
            // Skip batches that end before the wanted offset.
            while let Some((_, last, _, total)) = cursor.batch_at(position).await? {
                if last >= offset {
                    break;
                }
                position += total as u64;
            }
            while let Some((_, last, _, total)) = cursor.batch_at(position).await? {
                if last >= end_offset {
                    return Ok(result);
                }
                let fits = result.bytes + total <= max_bytes;
                let first_and_allowed = min_one_batch && result.bytes == 0;
                if !(fits || first_and_allowed) {
                    break;
                }
                let chunk = cursor.bytes_at(position, total).await?;
                result.push(chunk.slice(0..total));
                cursor.read_ahead_bytes = max_bytes
                    .saturating_sub(result.bytes)
                    .min(READ_AHEAD_BYTES_MAX);
                result.next_offset = last + 1;
                position += total as u64;
            }
            // Nothing in this segment at or after the offset (compaction can
            // leave gaps): move on to the next segment.
            match next_segment {
                // (A sealed segment emptied by the cleaner is stepped over too.)
                Some(next) if result.bytes == 0 => search_from = next,
                _ => return Ok(result),
            }
        }
    }

    /// Reads into memory, ahead of the reader, up to `max_bytes` (at most
    /// [`READ_AHEAD_BYTES_MAX`]) from the batch holding `offset`: a
    /// sequential consumer's next [`read`](Self::read) then finds its bytes
    /// in the cache instead of waiting for the device. Does nothing when
    /// the bytes are cached already, nothing is on the device there yet, or
    /// another read-ahead of this partition is in flight (a read that
    /// arrives meanwhile reads the device itself: waiting for the
    /// read-ahead measured slower). The buffer is kept until the next
    /// read-ahead replaces it or a truncation or removal drops it.
    pub async fn prefetch(&self, offset: u64, max_bytes: usize) -> Result<()> {
        let Some(view) = self.segment_view(offset)? else {
            return Ok(());
        };
        let (base, position) = (view.base_offset, view.start_position);
        let read_ahead_bytes = max_bytes.min(READ_AHEAD_BYTES_MAX);
        let generation = {
            let mut state = self.state.borrow_mut();
            let cached = state.cache.lookup(base, position).map_or(0, |c| c.len());
            let readable = (view.readable_bytes - position) as usize;
            if cached >= read_ahead_bytes.min(readable) {
                return Ok(());
            }
            match state.cache.start_read_ahead() {
                Some(generation) => generation,
                None => return Ok(()),
            }
        };
        let mut cursor = Cursor {
            log: self,
            view,
            window: None,
            read_ahead_bytes,
        };
        let read = if position < cursor.view.readable_bytes {
            cursor.read_disk(position, 0).await
        } else {
            Ok(Chunk::empty())
        };
        let mut state = self.state.borrow_mut();
        let kept = match &read {
            Ok(chunk) if !chunk.is_empty() && !state.closed => Some(ReadAhead {
                segment_base: base,
                file_position: position,
                chunk: chunk.clone(),
            }),
            _ => None,
        };
        state.cache.finish_read_ahead(generation, kept);
        read.map(drop)
    }

    /// Finds the segment for `offset` and the position to start walking from.
    fn segment_view(&self, offset: u64) -> Result<Option<SegmentView<S::File>>> {
        let state = self.state.borrow();
        let log_end_offset = state.log_end_offset();
        if offset < state.log_start_offset || offset > log_end_offset {
            return Err(IoError::OffsetOutOfRange {
                offset,
                log_start_offset: state.log_start_offset,
                log_end_offset,
            });
        }
        if offset >= state.write.written_offset {
            return Ok(None);
        }
        let active_base = state.active().base_offset;
        let (base, segment) = state
            .segments
            .range(..=offset)
            .next_back()
            .or_else(|| state.segments.iter().next())
            .expect("a log has a segment");
        let readable_bytes = if *base == active_base {
            state.write.written_bytes
        } else {
            segment.size_bytes
        };
        Ok(Some(SegmentView {
            base_offset: *base,
            file: segment.file.clone(),
            readable_bytes,
            start_position: segment.offset_index.lookup(offset).position,
        }))
    }

    /// The largest batch max timestamp in the log and the last offset of the
    /// batch that first reached it (Kafka's `MAX_TIMESTAMP` lookup); `None`
    /// for a log with no timestamps.
    pub fn max_timestamp(&self) -> Option<(i64, u64)> {
        let state = self.state.borrow();
        state
            .segments
            .values()
            .filter(|s| s.max_timestamp_ms >= 0 && s.next_offset > state.log_start_offset)
            .max_by_key(|s| s.max_timestamp_ms)
            .map(|s| (s.max_timestamp_ms, s.max_timestamp_offset))
    }

    /// Kafka's offset-for-timestamp: the first record whose timestamp is at
    /// least `timestamp_ms`, as `(its timestamp, its offset)`; `None` when no
    /// batch on the device is that recent. Records are found inside
    /// uncompressed batches and inside compressed ones that inflate within
    /// [`TIMESTAMP_LOOKUP_INFLATED_BYTES_MAX`]; past that the answer is the
    /// batch (its max timestamp and first offset), at or before the record.
    pub async fn offset_for_timestamp(&self, timestamp_ms: i64) -> Result<Option<(i64, u64)>> {
        let candidates: Vec<(u64, u64)> = {
            let state = self.state.borrow();
            state
                .segments
                .values()
                .filter(|s| s.max_timestamp_ms >= timestamp_ms)
                .map(|s| {
                    let from = s
                        .time_index
                        .lookup(timestamp_ms)
                        .offset
                        .max(state.log_start_offset);
                    (s.base_offset, from)
                })
                .collect()
        };
        for (segment_base, from_offset) in candidates {
            let Some(view) = self.segment_view(from_offset.max(segment_base))? else {
                return Ok(None);
            };
            let mut cursor = Cursor {
                log: self,
                view,
                window: None,
                // A timestamp lookup reads headers, a window at a time.
                read_ahead_bytes: 0,
            };
            let mut position = cursor.view.start_position;
            while let Some((base, last, max_timestamp, total)) = cursor.batch_at(position).await? {
                if max_timestamp >= timestamp_ms && last >= from_offset {
                    // The record itself when the batch is uncompressed;
                    // otherwise the batch's first offset (at or before it).
                    let bytes = cursor.bytes_at(position, total).await?;
                    let start = self.log_start_offset();
                    let found = records::first_record_at_or_after(
                        &bytes.as_slice()[..total],
                        timestamp_ms,
                        TIMESTAMP_LOOKUP_INFLATED_BYTES_MAX,
                    )
                    .filter(|(_, offset)| *offset >= start)
                    .unwrap_or((max_timestamp, base.max(start)));
                    return Ok(Some(found));
                }
                position += total as u64;
            }
        }
        Ok(None)
    }
}
