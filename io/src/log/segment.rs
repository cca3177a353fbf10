//! One segment: a `.log` file of batches with its offset and time indexes,
//! and rolling: sealing the active segment and starting the next.
//!
//! ```text
//! <log.dir>/<topic>-<partition>/
//!     00000000000000000000.log        batches, offsets [0, 1234)
//!     00000000000000000000.index      sparse offset index (see index.rs)
//!     00000000000000000000.timeindex  sparse time index
//!     00000000000000001234.log        the active (last) segment
//!     ...
//!     log-start-offset                decimal text; present once advanced
//! ```
//!
//! Index files are written when a segment is sealed (roll, close). The active
//! segment's indexes live only in memory and are rebuilt by recovery.

use std::path::{Path, PathBuf};
use std::rc::Rc;

use super::{PartitionLog, SyncWanted};
use crate::error::Result;
use crate::index::{OffsetIndex, TimeIndex};
use crate::storage::{Storage, StorageFile};

/// Digits in a segment file name, as Kafka formats them.
pub const SEGMENT_NAME_DIGITS: usize = 20;

pub const LOG_SUFFIX: &str = ".log";
pub const OFFSET_INDEX_SUFFIX: &str = ".index";
pub const TIME_INDEX_SUFFIX: &str = ".timeindex";
pub const LOG_START_OFFSET_FILE: &str = "log-start-offset";

/// `dir/00000000000000001234<suffix>`
pub fn segment_path(dir: &Path, base_offset: u64, suffix: &str) -> PathBuf {
    dir.join(format!(
        "{base_offset:0width$}{suffix}",
        width = SEGMENT_NAME_DIGITS
    ))
}

/// The base offset named by a `.log` file name, if it is one.
pub fn parse_segment_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(LOG_SUFFIX)?;
    if digits.len() != SEGMENT_NAME_DIGITS || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// A segment's in-memory state. Lives inside its partition's log, on the
/// shard that owns the partition; the file handle is shared with reads in
/// flight so a read survives the segment being rolled or deleted under it.
pub struct Segment<F> {
    pub base_offset: u64,
    pub file: Rc<F>,
    pub log_path: PathBuf,
    /// Bytes of batches appended (written or not yet).
    pub size_bytes: u64,
    /// One past the last offset appended.
    pub next_offset: u64,
    /// Largest batch max timestamp seen, -1 when none.
    pub max_timestamp_ms: i64,
    /// Last offset of the batch that first reached `max_timestamp_ms`: what
    /// the time index maps that timestamp to (Kafka's
    /// `shallowOffsetOfMaxTimestampSoFar`), so a lookup never starts past it.
    pub max_timestamp_offset: u64,
    /// Caller clock at the segment's first append; drives `segment.ms`.
    pub first_append_ms: Option<i64>,
    pub offset_index: OffsetIndex,
    pub time_index: TimeIndex,
    /// Log bytes appended since the last index entry.
    pub bytes_since_index_entry: u64,
}

impl<F> Segment<F> {
    pub fn new(base_offset: u64, file: F, log_path: PathBuf) -> Self {
        Segment {
            base_offset,
            file: Rc::new(file),
            log_path,
            size_bytes: 0,
            next_offset: base_offset,
            max_timestamp_ms: -1,
            max_timestamp_offset: base_offset,
            first_append_ms: None,
            offset_index: OffsetIndex::new(base_offset),
            time_index: TimeIndex::new(base_offset),
            bytes_since_index_entry: 0,
        }
    }

    /// Records a batch of `[base, last]` offsets at `position` in the
    /// indexes, Kafka's way: an entry (last offset, batch position) once
    /// `index_interval_bytes` of log have passed since the previous entry.
    pub fn index_batch(
        &mut self,
        position: u64,
        batch_bytes: u64,
        last_offset: u64,
        max_timestamp_ms: i64,
        index_interval_bytes: u64,
    ) {
        if max_timestamp_ms > self.max_timestamp_ms {
            self.max_timestamp_ms = max_timestamp_ms;
            self.max_timestamp_offset = last_offset;
        }
        if self.bytes_since_index_entry >= index_interval_bytes {
            self.offset_index.push(last_offset, position);
            self.time_index
                .maybe_push(self.max_timestamp_ms, self.max_timestamp_offset);
            self.bytes_since_index_entry = 0;
        }
        self.bytes_since_index_entry += batch_bytes;
        self.next_offset = last_offset + 1;
    }
}

impl<S: Storage> PartitionLog<S> {
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
    pub(super) async fn roll(&self) -> Result<()> {
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
    pub(super) async fn seal_active_files(&self) -> Result<()> {
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
        let index_path = segment_path(&self.dir, base, OFFSET_INDEX_SUFFIX);
        crate::storage::write_whole(&self.storage, &index_path, &offset_index).await?;
        let time_path = segment_path(&self.dir, base, TIME_INDEX_SUFFIX);
        crate::storage::write_whole(&self.storage, &time_path, &time_index).await
    }

    pub(super) async fn create_segment(&self, base_offset: u64) -> Result<Segment<S::File>> {
        let path = segment_path(&self.dir, base_offset, LOG_SUFFIX);
        let file = self
            .storage
            .open(&path, crate::storage::OpenMode::CreateIfMissing)
            .await?;
        self.storage.sync_dir(&self.dir).await?;
        Ok(Segment::new(base_offset, file, path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        let path = segment_path(Path::new("/d"), 1234, LOG_SUFFIX);
        assert_eq!(path, Path::new("/d/00000000000000001234.log"));
        let name = path.file_name().unwrap().to_str().unwrap();
        assert_eq!(parse_segment_name(name), Some(1234));
        assert_eq!(parse_segment_name("00000000000000001234.index"), None);
        assert_eq!(parse_segment_name("1234.log"), None);
        assert_eq!(parse_segment_name("0000000000000000123x.log"), None);
    }
}
