//! One group's rewrite: the cleaned file of a group of consecutive sealed
//! segments, written with O_DIRECT, then swapped in for them (the protocol
//! is drawn in `swap.rs`).

use std::rc::Rc;

use super::filter::{filter_batch, FilterContext, Filtered};
use super::segment_io::{SegmentReader, SegmentWriter};
use super::{swap, CleanStats, CleanerLimits, Pacer, SegmentSnapshot};
use crate::batch;
use crate::error::Result;
use crate::log::segment::{self, Segment};
use crate::log::PartitionLog;
use crate::storage::{Storage, StorageFile};

pub(super) enum GroupOutcome {
    Swapped,
    Abandoned,
    Stopped,
}

impl<S: Storage> PartitionLog<S> {
    /// Writes one group's cleaned file and swaps it in.
    pub(super) async fn clean_group(
        &self,
        group: &[&SegmentSnapshot<S::File>],
        ctx: &FilterContext<'_>,
        limits: &CleanerLimits,
        pacer: &mut impl Pacer,
        stats: &mut CleanStats,
        horizon_ms: &mut Option<i64>,
    ) -> Result<GroupOutcome> {
        let base = group[0].base;
        let end = group[group.len() - 1].next_base;
        let cleaned = swap::cleaned_path(&self.dir, base, end);
        let file = self
            .storage
            .open(&cleaned, crate::storage::OpenMode::CreateIfMissing)
            .await?;
        file.truncate(0).await?;
        // Reserving the blocks at once (the cleaned file is at most as large
        // as its input) spares the file system an allocation per write.
        let input_bytes: u64 = group.iter().map(|s| s.size_bytes).sum();
        if let Err(error) = file.preallocate(input_bytes).await {
            tracing::debug!(%error, "preallocating a cleaned segment failed");
        }
        let mut writer = SegmentWriter::<S>::new(file, limits.io_buffer_bytes);
        let mut indexes = Segment::new(
            base,
            (),
            segment::segment_path(&self.dir, base, segment::LOG_SUFFIX),
        );
        let mut group_horizon: Option<i64> = None;
        let written: Result<Option<()>> = async {
            for seg in group {
                let mut reader = SegmentReader::new(
                    seg.file.clone(),
                    seg.size_bytes,
                    0,
                    limits.io_buffer_bytes,
                    limits.batch_bytes_max,
                );
                while let Some((_, chunk)) = reader.next().await? {
                    let bytes = chunk.as_slice();
                    stats.bytes_read += bytes.len() as u64;
                    let (filtered, counts) = filter_batch(bytes, ctx);
                    stats.records_kept += counts.records_kept;
                    stats.records_removed += counts.records_removed;
                    stats.tombstones_removed += counts.tombstones_removed;
                    stats.keyless_removed += counts.keyless_removed;
                    stats.unreadable_batches += u64::from(counts.unreadable);
                    let out: Option<&[u8]> = match &filtered {
                        Filtered::Whole => Some(bytes),
                        Filtered::Rewritten(new) => Some(new),
                        Filtered::Dropped => None,
                    };
                    if let Some(out) = out {
                        if let Some(h) = counts.horizon_ms {
                            group_horizon = Some(group_horizon.map_or(h, |g| g.min(h)));
                        }
                        let header = batch::header(out).expect("a batch");
                        let position = writer.position();
                        writer.append(out).await?;
                        indexes.index_batch(
                            position,
                            out.len() as u64,
                            header.last_offset() as u64,
                            header.max_timestamp(),
                            self.config.index_interval_bytes,
                        );
                    }
                    pacer.pace(bytes.len() as u64).await;
                    if pacer.should_stop() {
                        return Ok(None);
                    }
                }
            }
            Ok(Some(()))
        }
        .await;
        let cleaned_ref = &cleaned;
        let abandon = |writer: SegmentWriter<S>| async move {
            let _ = writer.into_file().close().await;
            if let Err(error) = self.storage.remove_file(cleaned_ref).await {
                tracing::warn!(path = %cleaned_ref.display(), %error, "cannot remove an abandoned cleaned segment");
            }
        };
        match written {
            Ok(Some(())) => {}
            Ok(None) => {
                abandon(writer).await;
                return Ok(GroupOutcome::Stopped);
            }
            Err(error) => {
                abandon(writer).await;
                return Err(error);
            }
        }
        let (file, size) = match writer.finish().await {
            Ok(done) => done,
            Err(error) => {
                let _ = self.storage.remove_file(&cleaned).await;
                return Err(error);
            }
        };
        file.close().await?;
        indexes.size_bytes = size;
        indexes.next_offset = end;
        indexes
            .time_index
            .maybe_push(indexes.max_timestamp_ms, indexes.max_timestamp_offset);

        // The swap: nothing else changes the sealed segments meanwhile.
        let _segments = self.segments_lock.lock().await;
        let unchanged = {
            let state = self.state.borrow();
            !state.failed
                && !state.closed
                && state.segments.contains_key(&end)
                && group.iter().all(|seg| {
                    state
                        .segments
                        .get(&seg.base)
                        .is_some_and(|live| Rc::ptr_eq(&live.file, &seg.file))
                })
                && state.segments.range(base..end).count() == group.len()
        };
        if !unchanged {
            let _ = self.storage.remove_file(&cleaned).await;
            return Ok(GroupOutcome::Abandoned);
        }
        // From the commit on, the in-memory log always points at files that
        // exist: the swap file first, then its final name.
        let swap_path = swap::swap_path(&self.dir, base, end);
        self.storage
            .rename(&cleaned, &swap_path)
            .await
            .map_err(|e| self.fail(e))?;
        self.storage
            .sync_dir(&self.dir)
            .await
            .map_err(|e| self.fail(e))?;
        let swapped = self
            .storage
            .open(&swap_path, crate::storage::OpenMode::Existing)
            .await
            .map_err(|e| self.fail(e))?;
        let log_path = segment::segment_path(&self.dir, base, segment::LOG_SUFFIX);
        let offset_index = indexes.offset_index.encode();
        let time_index = indexes.time_index.encode();
        let replaced: Vec<u64> = group.iter().map(|s| s.base).collect();
        {
            let mut state = self.state.borrow_mut();
            for old in &replaced {
                state.segments.remove(old);
            }
            state.segments.insert(
                base,
                Segment {
                    base_offset: base,
                    file: Rc::new(swapped),
                    log_path: log_path.clone(),
                    size_bytes: indexes.size_bytes,
                    next_offset: end,
                    max_timestamp_ms: indexes.max_timestamp_ms,
                    max_timestamp_offset: indexes.max_timestamp_offset,
                    first_append_ms: None,
                    offset_index: indexes.offset_index,
                    time_index: indexes.time_index,
                    bytes_since_index_entry: 0,
                },
            );
            state.cache.remove_segments_in(base, end);
        }
        swap::remove_replaced(&self.storage, &self.dir, base, end, &replaced)
            .await
            .map_err(|e| self.fail(e))?;
        swap::rename_into_place(&self.storage, &self.dir, base, end)
            .await
            .map_err(|e| self.fail(e))?;
        let file = self
            .storage
            .open(&log_path, crate::storage::OpenMode::Existing)
            .await
            .map_err(|e| self.fail(e))?;
        if let Some(segment) = self.state.borrow_mut().segments.get_mut(&base) {
            segment.file = Rc::new(file);
        }
        self.storage
            .sync_dir(&self.dir)
            .await
            .map_err(|e| self.fail(e))?;
        // Lost indexes are rebuilt on open; the log is whole without them.
        for (suffix, bytes) in [
            (segment::OFFSET_INDEX_SUFFIX, offset_index),
            (segment::TIME_INDEX_SUFFIX, time_index),
        ] {
            let path = segment::segment_path(&self.dir, base, suffix);
            if let Err(error) = crate::storage::write_whole(&self.storage, &path, &bytes).await {
                tracing::warn!(path = %path.display(), %error, "cannot write a cleaned segment's index; it is rebuilt on open");
            }
        }
        stats.bytes_before += group.iter().map(|s| s.size_bytes).sum::<u64>();
        stats.bytes_after += size;
        stats.segments_before += group.len();
        stats.segments_after += 1;
        if let Some(h) = group_horizon {
            *horizon_ms = Some(horizon_ms.map_or(h, |g| g.min(h)));
        }
        tracing::debug!(dir = %self.dir.display(), base, end, size, "swapped in a cleaned segment");
        Ok(GroupOutcome::Swapped)
    }
}
