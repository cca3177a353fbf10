//! The write pipeline of the active segment: buffers filled by appends,
//! written to the device in order, then kept for reads.
//!
//! ```text
//!  file position:  0        4096      8192      12288
//!                  |--------|---------|---------|----
//!  written:        [=== on device ====)                    written_bytes
//!  unwritten:               [== sealed buffer ==)          queued, in order
//!  open buffer:                       [== tail ==|new)     appends copy here
//! ```
//!
//! Every buffer starts at a block boundary. The block holding the end of the
//! log is partly filled; the next buffer starts with a copy of that block's
//! bytes (at most one block is copied), so the next write rewrites the block
//! whole. Writes of one partition never overlap in flight: one write-out at a
//! time, buffers in order, so a rewrite of a block always lands after the
//! write it extends.

use std::collections::VecDeque;
use std::rc::Rc;
use std::time::Instant;

use crate::storage::{align_down, align_up, IoBuf, StorageFile, BLOCK_BYTES};

/// Where the active segment ends: bytes appended and the next offset.
#[derive(Clone, Copy, Debug)]
pub(super) struct LogEnd {
    pub segment_size_bytes: u64,
    pub end_offset: u64,
}

/// Bounds for a new write buffer's size.
#[derive(Clone, Copy, Debug)]
pub(super) struct BufferSizing {
    pub min_bytes: usize,
    pub max_bytes: usize,
}

impl BufferSizing {
    pub(super) fn new(config: &crate::config::LogConfig) -> Self {
        let max_bytes = config.write_buffer_bytes_max;
        BufferSizing {
            // Small: a quiet partition should not pin much memory per write;
            // busy ones grow towards `max_bytes` by doubling.
            min_bytes: crate::config::limits::WRITE_BUFFER_BYTES_MIN.min(max_bytes),
            max_bytes,
        }
    }
}

/// The buffer appends copy into.
pub(super) struct OpenBuffer<B> {
    pub buf: B,
    /// File position of the buffer's first byte (block aligned).
    pub file_position: u64,
    /// Bytes of log held, from the buffer's start.
    pub data_len: usize,
    /// Bytes at the start that were already written (the copied tail block).
    pub seeded_len: usize,
    /// One past the last offset held.
    pub end_offset: u64,
    /// After each append: (`data_len`, `end_offset`), so a buffer cut short
    /// knows which batches it still holds whole.
    pub batch_ends: Vec<(usize, u64)>,
    /// `end_offset` when the buffer was started (only seeded bytes).
    pub start_end_offset: u64,
}

impl<B: IoBuf> OpenBuffer<B> {
    fn capacity(&self) -> usize {
        self.buf.as_ref().len()
    }

    pub(super) fn has_new_data(&self) -> bool {
        self.data_len > self.seeded_len
    }
}

/// A buffer closed for appends, waiting for (or done with) its device write.
pub(super) struct SealedBuffer<B> {
    pub buf: Rc<B>,
    pub file_position: u64,
    pub data_len: usize,
    /// Bytes of whole batches from the buffer's start: once written, the log
    /// is readable (and durable) up to here.
    pub whole_len: usize,
    /// One past the last offset of those whole batches.
    pub end_offset: u64,
    /// Bytes allocated for the buffer (trimming does not free any).
    pub capacity_bytes: usize,
}

/// Per-partition write state. Lives in the partition's log, on its shard.
pub(super) struct WriteState<B> {
    pub open: Option<OpenBuffer<B>>,
    pub unwritten: VecDeque<SealedBuffer<B>>,
    /// The most recent sealed buffer: where the next buffer's tail block
    /// comes from when there is no open buffer.
    pub last_sealed: Option<SealedBuffer<B>>,
    /// Bytes of the active segment on the device.
    pub written_bytes: u64,
    /// One past the last offset on the device.
    pub written_offset: u64,
    /// One past the last offset made durable by `fdatasync`.
    pub synced_offset: u64,
    /// Segment bytes reserved with fallocate.
    pub preallocated_bytes: u64,
    /// Size of the last device write, to size the next buffer.
    pub last_write_bytes: usize,
    /// When the oldest append not yet written arrived.
    pub oldest_unwritten_at: Option<Instant>,
}

impl<B: IoBuf> WriteState<B> {
    /// State for a segment whose first `size_bytes` bytes (up to
    /// `end_offset`) are on the device and synced.
    pub(super) fn new(size_bytes: u64, end_offset: u64) -> Self {
        WriteState {
            open: None,
            unwritten: VecDeque::new(),
            last_sealed: None,
            written_bytes: size_bytes,
            written_offset: end_offset,
            synced_offset: end_offset,
            preallocated_bytes: 0,
            last_write_bytes: 0,
            oldest_unwritten_at: None,
        }
    }

    /// Bytes appended but not yet on the device.
    pub(super) fn pending_bytes(&self, segment_size_bytes: u64) -> u64 {
        segment_size_bytes - self.written_bytes
    }

    /// Makes room for `needed` more bytes at the end of the open buffer,
    /// sealing the current one and starting the next with a copy of the
    /// partly filled tail block. `segment_size_bytes` is the log's end;
    /// `tail_from_disk` supplies the tail block's bytes when no buffer in
    /// memory holds them (after recovery or truncation).
    pub(super) fn reserve<F: StorageFile<Buf = B>>(
        &mut self,
        file: &F,
        needed: usize,
        log_end: LogEnd,
        sizing: BufferSizing,
        tail_from_disk: Option<&[u8]>,
    ) {
        let LogEnd {
            segment_size_bytes,
            end_offset,
        } = log_end;
        if let Some(open) = &self.open {
            if open.capacity() - open.data_len >= needed {
                return;
            }
        }
        let tail_start = align_down(segment_size_bytes);
        let tail_len = (segment_size_bytes - tail_start) as usize;
        // Grow buffers towards the size the partition actually writes, so a
        // hot partition writes large blocks and a quiet one holds little.
        let wanted = (self.last_write_bytes * 2).clamp(sizing.min_bytes, sizing.max_bytes);
        let capacity = align_up(wanted.max(tail_len + needed) as u64) as usize;
        let mut buf = file.alloc_buf(capacity);
        if tail_len > 0 {
            let copied = self.copy_tail(&mut buf.as_mut()[..tail_len], tail_start, tail_from_disk);
            assert!(copied, "the tail block is in memory or was read from disk");
        }
        self.seal_open(true);
        self.open = Some(OpenBuffer {
            buf,
            file_position: tail_start,
            data_len: tail_len,
            seeded_len: tail_len,
            end_offset,
            batch_ends: Vec::new(),
            start_end_offset: end_offset,
        });
    }

    fn copy_tail(&self, into: &mut [u8], tail_start: u64, from_disk: Option<&[u8]>) -> bool {
        let source: Option<(&[u8], u64)> = match (&self.open, &self.last_sealed) {
            (Some(open), _) => Some((&open.buf.as_ref()[..open.data_len], open.file_position)),
            (None, Some(sealed)) => Some((
                &(*sealed.buf).as_ref()[..sealed.data_len],
                sealed.file_position,
            )),
            (None, None) => from_disk.map(|bytes| (bytes, tail_start)),
        };
        let Some((bytes, position)) = source else {
            return false;
        };
        let start = (tail_start - position) as usize;
        match bytes.get(start..start + into.len()) {
            Some(tail) => {
                into.copy_from_slice(tail);
                true
            }
            None => false,
        }
    }

    /// Closes the open buffer for appends; queues it for writing if it holds
    /// anything not yet written.
    ///
    /// When `successor_copied_tail` is set, the next buffer already holds a
    /// copy of this one's partly filled last block, so this buffer is cut to
    /// whole blocks: the two then never cover the same block, and the writes
    /// of one write-out can be in flight together.
    pub(super) fn seal_open(&mut self, successor_copied_tail: bool) {
        let Some(mut open) = self.open.take() else {
            return;
        };
        let capacity_bytes = open.capacity();
        let has_new_data = open.has_new_data();
        let data_len = if successor_copied_tail {
            align_down(open.data_len as u64) as usize
        } else {
            open.data_len
        };
        open.buf.truncate(align_up(data_len as u64) as usize);
        let (whole_len, end_offset) = open
            .batch_ends
            .iter()
            .rev()
            .find(|(len, _)| *len <= data_len)
            .copied()
            .unwrap_or((open.seeded_len.min(data_len), open.start_end_offset));
        let sealed = SealedBuffer {
            buf: Rc::new(open.buf),
            file_position: open.file_position,
            data_len,
            whole_len,
            end_offset,
            capacity_bytes,
        };
        // The seeded bytes (less than a block) are on the device already; a
        // buffer cut down to them, or to nothing, has nothing of its own left.
        if has_new_data && data_len > open.seeded_len {
            self.unwritten.push_back(SealedBuffer {
                buf: sealed.buf.clone(),
                ..sealed
            });
        }
        self.last_sealed = Some(sealed);
    }

    /// Forgets every buffer (segment rolled or truncated).
    pub(super) fn reset(&mut self, size_bytes: u64, end_offset: u64) {
        *self = WriteState::new(size_bytes, end_offset);
    }
}

const _: () = assert!(BLOCK_BYTES >= crate::batch::BATCH_HEADER_BYTES);
