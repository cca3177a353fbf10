//! Reading a sealed segment batch by batch, and writing a cleaned one with
//! O_DIRECT, both in buffers of `log.cleaner.io.buffer.size`.

use std::path::PathBuf;
use std::rc::Rc;

use crate::batch::{self, BATCH_LENGTH_PREFIX_BYTES};
use crate::error::{IoError, Result};
use crate::storage::{align_down, align_up, Chunk, IoBuf, Storage, StorageFile, BLOCK_BYTES};

/// Walks the batches of a sealed segment. Reads `window_bytes` at a time; a
/// batch larger than that gets a window of its own size, up to
/// `batch_bytes_max` (a larger one is an error: the cleaner never sizes a
/// read by a length it has not bounded).
pub struct SegmentReader<F> {
    file: Rc<F>,
    path: PathBuf,
    size_bytes: u64,
    position: u64,
    window_start: u64,
    window: Chunk,
    window_bytes: usize,
    batch_bytes_max: usize,
}

impl<F: StorageFile> SegmentReader<F> {
    pub fn new(
        file: Rc<F>,
        size_bytes: u64,
        start_position: u64,
        window_bytes: usize,
        batch_bytes_max: usize,
    ) -> Self {
        SegmentReader {
            path: file.path().clone(),
            file,
            size_bytes,
            position: start_position,
            window_start: 0,
            window: Chunk::empty(),
            window_bytes: align_up(window_bytes.max(BLOCK_BYTES) as u64) as usize,
            batch_bytes_max,
        }
    }

    /// Makes the window hold `[position, position + len)`.
    async fn cover(&mut self, len: u64) -> Result<()> {
        let end = self.position + len;
        if self.position >= self.window_start && end <= self.window_start + self.window.len() as u64
        {
            return Ok(());
        }
        self.window_start = align_down(self.position);
        let wanted = (end - self.window_start).max(self.window_bytes as u64);
        let read_len = align_up(wanted.min(self.size_bytes - self.window_start)) as usize;
        self.window = self.file.read_at(self.window_start, read_len).await?;
        if self.window_start + (self.window.len() as u64) < end {
            return Err(self.corrupt("segment is shorter on disk than it was sealed"));
        }
        Ok(())
    }

    fn corrupt(&self, detail: impl Into<String>) -> IoError {
        IoError::CorruptSegment {
            path: self.path.clone(),
            position: self.position,
            detail: detail.into(),
        }
    }

    /// The next batch and its file position, validated; `None` at the end.
    pub async fn next(&mut self) -> Result<Option<(u64, Chunk)>> {
        if self.position >= self.size_bytes {
            return Ok(None);
        }
        if self.position + BATCH_LENGTH_PREFIX_BYTES as u64 > self.size_bytes {
            return Err(self.corrupt("partial batch at the end of a sealed segment"));
        }
        self.cover(BATCH_LENGTH_PREFIX_BYTES as u64).await?;
        let at = (self.position - self.window_start) as usize;
        let total = batch::total_bytes_from_prefix(&self.window.as_slice()[at..])
            .ok_or_else(|| self.corrupt("batch length field is not a batch"))?;
        if total > self.batch_bytes_max.max(self.window_bytes) {
            return Err(IoError::Limit {
                what: "batch too large for the log cleaner",
                detail: format!(
                    "{total} bytes at {} of {} exceed {}",
                    self.position,
                    self.path.display(),
                    self.batch_bytes_max.max(self.window_bytes)
                ),
            });
        }
        if self.position + total as u64 > self.size_bytes {
            return Err(self.corrupt(format!("batch of {total} bytes runs past the end")));
        }
        self.cover(total as u64).await?;
        let at = (self.position - self.window_start) as usize;
        let chunk = self.window.slice(at..at + total);
        batch::validate(chunk.as_slice()).map_err(|e| self.corrupt(e.to_string()))?;
        let position = self.position;
        self.position += total as u64;
        Ok(Some((position, chunk)))
    }
}

/// Writes a new segment file front to back with O_DIRECT: whole buffers of
/// `buffer_bytes` (block aligned), the last one zero-padded, then the file
/// cut to its exact size and synced.
pub struct SegmentWriter<S: Storage> {
    file: S::File,
    buf: S::Buf,
    buf_len: usize,
    file_position: u64,
    capacity: usize,
}

impl<S: Storage> SegmentWriter<S> {
    pub fn new(file: S::File, buffer_bytes: usize) -> Self {
        let capacity = align_up(buffer_bytes.max(BLOCK_BYTES) as u64) as usize;
        SegmentWriter {
            buf: file.alloc_buf(capacity),
            file,
            buf_len: 0,
            file_position: 0,
            capacity,
        }
    }

    /// Bytes appended so far.
    pub fn position(&self) -> u64 {
        self.file_position + self.buf_len as u64
    }

    pub async fn append(&mut self, mut bytes: &[u8]) -> Result<()> {
        while !bytes.is_empty() {
            let n = bytes.len().min(self.capacity - self.buf_len);
            self.buf.as_mut()[self.buf_len..self.buf_len + n].copy_from_slice(&bytes[..n]);
            self.buf_len += n;
            bytes = &bytes[n..];
            if self.buf_len == self.capacity {
                let full = std::mem::replace(&mut self.buf, self.file.alloc_buf(self.capacity));
                self.file
                    .write_at(Rc::new(full), self.file_position)
                    .await?;
                self.file_position += self.capacity as u64;
                self.buf_len = 0;
            }
        }
        Ok(())
    }

    /// Writes what is left, cuts the file to size and syncs it.
    pub async fn finish(mut self) -> Result<(S::File, u64)> {
        let size = self.position();
        if self.buf_len > 0 {
            // The buffer came zeroed: the padding past the data is zeros.
            self.buf.truncate(align_up(self.buf_len as u64) as usize);
            let last = std::mem::replace(&mut self.buf, self.file.alloc_buf(BLOCK_BYTES));
            self.file
                .write_at(Rc::new(last), self.file_position)
                .await?;
        }
        self.file.truncate(size).await?;
        self.file.sync().await?;
        Ok((self.file, size))
    }

    /// The file, for removal after a failed or abandoned cleaning.
    pub fn into_file(self) -> S::File {
        self.file
    }
}
