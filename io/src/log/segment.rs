//! One segment: a `.log` file of batches with its offset and time indexes.
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

use crate::index::{OffsetIndex, TimeIndex};

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
