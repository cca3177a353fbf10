//! Moving the start of the log (retention, DeleteRecords) and cutting its
//! end (replication's truncation).
//!
//! The log start offset is checkpointed to `log-start-offset` before any
//! segment file is removed, so a crash in between leaves files that the next
//! open deletes, never a log start that points at deleted data.

use super::recovery::{remove_segment_files, write_log_start_checkpoint};
use super::PartitionLog;
use crate::error::{IoError, Result};
use crate::storage::{Storage, StorageFile};

/// Which limit retention enforces; `None` means unlimited (Kafka's -1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Retention {
    /// `retention.ms`: sealed segments whose newest batch is older go.
    pub ms: Option<i64>,
    /// `retention.bytes`: oldest sealed segments go while the log is larger.
    pub bytes: Option<u64>,
}

impl<S: Storage> PartitionLog<S> {
    /// Deletes whole sealed segments past `retention` (the active segment is
    /// never deleted; roll it first to expire it) and moves the log start
    /// offset to the first kept segment. Returns the number deleted.
    pub async fn apply_retention(&self, now_ms: i64, retention: Retention) -> Result<usize> {
        let new_start = {
            let state = self.state.borrow();
            let sealed: Vec<_> = state.segments.values().collect();
            let sealed = &sealed[..sealed.len() - 1];
            let mut total_bytes: u64 = state.segments.values().map(|s| s.size_bytes).sum();
            let mut deletable = 0;
            for segment in sealed {
                let expired = retention
                    .ms
                    .is_some_and(|ms| now_ms - segment.max_timestamp_ms > ms);
                let oversize = retention
                    .bytes
                    .is_some_and(|bytes| total_bytes.saturating_sub(segment.size_bytes) >= bytes);
                if !(expired || oversize) {
                    break;
                }
                total_bytes -= segment.size_bytes;
                deletable += 1;
            }
            if deletable == 0 {
                return Ok(0);
            }
            state
                .segments
                .keys()
                .nth(deletable)
                .copied()
                .expect("the active segment is never deleted")
        };
        let before = self.state.borrow().segments.len();
        self.advance_log_start_offset(new_start).await?;
        Ok(before - self.state.borrow().segments.len())
    }

    /// Moves the log start offset forward to `offset` (DeleteRecords) and
    /// deletes segments wholly below it. Offsets below it become unreadable.
    pub async fn advance_log_start_offset(&self, offset: u64) -> Result<()> {
        let _append = self.append_lock.lock().await;
        let _segments = self.segments_lock.lock().await;
        self.check_usable()?;
        {
            let state = self.state.borrow();
            let log_end_offset = state.log_end_offset();
            if offset > log_end_offset {
                return Err(IoError::OffsetOutOfRange {
                    offset,
                    log_start_offset: state.log_start_offset,
                    log_end_offset,
                });
            }
            if offset <= state.log_start_offset {
                return Ok(());
            }
        }
        write_log_start_checkpoint(&self.storage, &self.dir, offset)
            .await
            .map_err(|e| self.fail(e))?;
        self.state.borrow_mut().log_start_offset = offset;
        loop {
            let doomed = {
                let state = self.state.borrow();
                let mut bases = state.segments.keys();
                let first = *bases.next().expect("a log has a segment");
                match bases.next() {
                    Some(&second) if second <= offset => Some(first),
                    _ => None,
                }
            };
            let Some(base) = doomed else {
                break;
            };
            {
                let mut state = self.state.borrow_mut();
                state.segments.remove(&base);
                let next = *state.segments.keys().next().expect("kept the rest");
                state.cache.remove_segments_below(next);
            }
            remove_segment_files(&self.storage, &self.dir, base)
                .await
                .map_err(|e| self.fail(e))?;
            tracing::debug!(dir = %self.dir.display(), base, "deleted segment below log start");
        }
        Ok(())
    }

    /// Removes every offset at or after `offset` (replication truncating a
    /// diverged follower). The batch holding `offset` goes whole, so the new
    /// log end offset is that batch's base offset (at most `offset`).
    /// Truncating below the log start offset empties the log and restarts it
    /// at `offset`.
    pub async fn truncate_to(&self, offset: u64) -> Result<()> {
        let _append = self.append_lock.lock().await;
        let _write = self.write_lock.lock().await;
        let _segments = self.segments_lock.lock().await;
        self.check_usable()?;
        if offset >= self.log_end_offset() {
            return Ok(());
        }
        // Everything appended goes to disk first, so the file is the truth.
        self.write_out(super::SyncWanted::Always).await?;
        if offset < self.state.borrow().log_start_offset {
            return self.start_empty_at(offset).await;
        }
        let (base, doomed) = {
            let state = self.state.borrow();
            let base = *state
                .segments
                .range(..=offset)
                .next_back()
                .expect("an offset within the log has a segment at or below it")
                .0;
            let doomed: Vec<u64> = state
                .segments
                .keys()
                .rev()
                .copied()
                .filter(|b| *b > base)
                .collect();
            (base, doomed)
        };
        // Newest first, so a crash part way leaves a prefix of the log.
        for doomed_base in doomed {
            self.state.borrow_mut().segments.remove(&doomed_base);
            remove_segment_files(&self.storage, &self.dir, doomed_base)
                .await
                .map_err(|e| self.fail(e))?;
        }
        let cut = self.position_of_batch_holding(base, offset).await?;
        let file = self.state.borrow().segments[&base].file.clone();
        file.truncate(cut).await.map_err(|e| self.fail(e))?;
        file.sync().await.map_err(|e| self.fail(e))?;
        self.state.borrow_mut().cache.truncate(base, 0);
        self.reopen_tail(base).await.map_err(|e| self.fail(e))?;
        let (end, start) = {
            let mut state = self.state.borrow_mut();
            // Offsets appended again below the cleaner's checkpoint are dirty.
            let end = state.log_end_offset();
            let checkpoint = &mut state.cleaner.checkpoint;
            checkpoint.first_dirty = checkpoint.first_dirty.min(end);
            (end, state.log_start_offset)
        };
        // Cutting the batch that straddles the log start leaves the start
        // past the end; the log then starts (empty) where it now ends.
        if end < start {
            write_log_start_checkpoint(&self.storage, &self.dir, end)
                .await
                .map_err(|e| self.fail(e))?;
            self.state.borrow_mut().log_start_offset = end;
        }
        Ok(())
    }

    /// Empties the log and starts it again, empty, at `offset`, forward or
    /// back (Kafka's `truncateFullyAndStartAt`): a follower whose log ends
    /// below the leader's log start offset cannot fetch what it misses, so
    /// it starts where the leader's log does.
    pub async fn restart_at(&self, offset: u64) -> Result<()> {
        let _append = self.append_lock.lock().await;
        let _write = self.write_lock.lock().await;
        let _segments = self.segments_lock.lock().await;
        self.check_usable()?;
        self.write_out(super::SyncWanted::Always).await?;
        self.start_empty_at(offset).await?;
        tracing::info!(dir = %self.dir.display(), offset, "log restarted empty");
        Ok(())
    }

    /// [`restart_at`](Self::restart_at) and [`truncate_to`](Self::truncate_to)
    /// below the log start: every segment goes, newest first (a crash part
    /// way leaves a prefix of the log), and only then does the start move,
    /// so a crash never exposes old batches below a moved start. The caller
    /// holds the locks and has written everything out.
    async fn start_empty_at(&self, offset: u64) -> Result<()> {
        let doomed: Vec<u64> = self.state.borrow().segments.keys().rev().copied().collect();
        for base in doomed {
            self.state.borrow_mut().segments.remove(&base);
            remove_segment_files(&self.storage, &self.dir, base)
                .await
                .map_err(|e| self.fail(e))?;
        }
        write_log_start_checkpoint(&self.storage, &self.dir, offset)
            .await
            .map_err(|e| self.fail(e))?;
        let segment = self
            .create_segment(offset)
            .await
            .map_err(|e| self.fail(e))?;
        {
            let mut state = self.state.borrow_mut();
            state.segments.insert(offset, segment);
            state.log_start_offset = offset;
            state.cache.truncate(0, 0);
            state.cleaner.checkpoint.first_dirty = offset;
        }
        self.reopen_tail(offset).await.map_err(|e| self.fail(e))
    }

    /// File position of the first batch in segment `base` whose last offset
    /// is at least `offset` (the segment's size if none).
    async fn position_of_batch_holding(&self, base: u64, offset: u64) -> Result<u64> {
        // Truncation is rare: walk headers from the index hint with one
        // small read each rather than share the read path's windowing.
        let (start, size, file) = {
            let state = self.state.borrow();
            let segment = &state.segments[&base];
            (
                segment.offset_index.lookup(offset).position,
                segment.size_bytes,
                segment.file.clone(),
            )
        };
        let mut position = start;
        while position < size {
            let window = file
                .read_at(
                    crate::storage::align_down(position),
                    crate::storage::BLOCK_BYTES * 2,
                )
                .await?;
            let skip = (position - crate::storage::align_down(position)) as usize;
            let header = window
                .as_slice()
                .get(skip..)
                .and_then(|b| crate::batch::header(b).ok())
                .ok_or_else(|| IoError::CorruptSegment {
                    path: self.dir.clone(),
                    position,
                    detail: "cannot read batch header while truncating".into(),
                })?;
            if header.last_offset() as u64 >= offset {
                return Ok(position);
            }
            position += header.total_bytes() as u64;
        }
        Ok(size)
    }
}
