//! Kafka's sparse per-segment offset index (`.index`) and time index
//! (`.timeindex`), kept in memory and encoded to Kafka's byte layout.
//!
//! Both files are flat arrays of fixed-size big-endian entries. Offsets are
//! stored relative to the segment's base offset so that they fit in a `u32`:
//!
//! ```text
//! .index      entry i at byte 8*i
//! byte 0  relative_offset  u32   offset - base_offset
//!      4  position         u32   byte in the segment's .log where the batch
//!                                holding `offset` starts (or a later one)
//!
//! .timeindex  entry i at byte 12*i
//! byte 0  timestamp        i64   largest timestamp in the segment so far, ms
//!      8  relative_offset  u32   offset - base_offset of the batch that first
//!                                reached that timestamp (its last offset)
//! ```
//!
//! The in-memory entries are these very structs, so `encode` is a copy and
//! `decode` is a cast followed by validation.
//!
//! The indexes are sparse: the appender adds an entry about once per
//! `index.interval.bytes` of log (Kafka's default is 4096), not per batch. A
//! lookup therefore answers with a position at or before the wanted batch, and
//! the reader scans batch headers forward from there; the interval bounds that
//! scan while keeping the index small enough to hold in memory.
//!
//! No file I/O happens here: the segment reads and writes the bytes. `decode`
//! checks stored bytes against the segment they belong to and rejects anything
//! inconsistent (a torn write, a stale file after a crash) with an
//! [`IndexError`]; the caller then rebuilds the index by scanning the log,
//! which is always possible because the index holds nothing the log lacks.
//! Bad stored bytes are an operating error, whereas an out-of-order `push` is
//! a bug in the appender and is asserted.

use zerocopy::big_endian::{I64, U32};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

/// Bytes of one `.index` entry: relative offset u32, position u32.
pub const OFFSET_INDEX_ENTRY_BYTES: usize = 8;
/// Bytes of one `.timeindex` entry: timestamp i64, relative offset u32.
pub const TIME_INDEX_ENTRY_BYTES: usize = 12;

/// Kafka's `RecordBatch.NO_TIMESTAMP`, what an empty time index answers.
const NO_TIMESTAMP_MS: i64 = -1;

/// One `.index` entry exactly as it lies in the file.
#[repr(C)]
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug)]
struct OffsetEntry {
    relative_offset: U32,
    position: U32,
}

/// One `.timeindex` entry exactly as it lies in the file.
#[repr(C)]
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug)]
struct TimeEntry {
    timestamp_ms: I64,
    relative_offset: U32,
}

const _: () = assert!(std::mem::size_of::<OffsetEntry>() == OFFSET_INDEX_ENTRY_BYTES);
const _: () = assert!(std::mem::size_of::<TimeEntry>() == TIME_INDEX_ENTRY_BYTES);

/// An offset and the byte position in the segment to start scanning for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OffsetPosition {
    pub offset: u64,
    pub position: u64,
}

/// A timestamp and the offset from which records reach it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimestampOffset {
    pub timestamp_ms: i64,
    pub offset: u64,
}

/// Why stored index bytes were rejected (caller then rebuilds the index from the log). `entry` is
/// the index of the offending entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IndexError {
    /// The file was cut mid-entry, most likely by a crash during a write.
    #[error("index holds {bytes} bytes, not a multiple of the {entry_bytes}-byte entry")]
    PartialEntry { bytes: usize, entry_bytes: usize },
    #[error("offset index entry {entry}: offset {offset} does not exceed the previous {previous_offset}")]
    OffsetNotIncreasing {
        entry: usize,
        previous_offset: u64,
        offset: u64,
    },
    #[error("offset index entry {entry}: position {position} does not exceed the previous {previous_position}")]
    PositionNotIncreasing {
        entry: usize,
        previous_position: u64,
        position: u64,
    },
    /// The index points past the end of the log, e.g. after the log was truncated.
    #[error("offset index entry {entry}: position {position} is beyond the {segment_bytes}-byte segment")]
    PositionBeyondSegment {
        entry: usize,
        position: u64,
        segment_bytes: u64,
    },
    /// The index names an offset the segment does not hold.
    #[error("index entry {entry}: offset {offset} is not below the segment's next offset {offset_limit}")]
    OffsetBeyondLimit {
        entry: usize,
        offset: u64,
        offset_limit: u64,
    },
    #[error("time index entry {entry}: timestamp {timestamp_ms} ms does not exceed the previous {previous_timestamp_ms} ms")]
    TimestampNotIncreasing {
        entry: usize,
        previous_timestamp_ms: i64,
        timestamp_ms: i64,
    },
    #[error("time index entry {entry}: offset {offset} is below the previous {previous_offset}")]
    OffsetDecreasing {
        entry: usize,
        previous_offset: u64,
        offset: u64,
    },
}

/// Checks the length and casts stored bytes to entries without copying.
fn cast_entries<T>(bytes: &[u8], entry_bytes: usize) -> Result<&[T], IndexError>
where
    [T]: FromBytes + KnownLayout + Immutable,
{
    let partial = IndexError::PartialEntry {
        bytes: bytes.len(),
        entry_bytes,
    };
    if bytes.len() % entry_bytes != 0 {
        return Err(partial);
    }
    // Entries are `Unaligned`, so with the length checked the cast cannot fail.
    <[T]>::ref_from_bytes(bytes).map_err(|_| partial)
}

/// Returns `offset - base_offset` as the u32 the file stores, asserting it fits.
fn relative_offset(base_offset: u64, offset: u64) -> u32 {
    assert!(
        offset >= base_offset,
        "offset {offset} below base offset {base_offset}"
    );
    let relative = offset - base_offset;
    u32::try_from(relative).unwrap_or_else(|_| panic!("relative offset {relative} exceeds u32"))
}

/// The sparse offset → position index of one segment.
///
/// Owned by its segment on the segment's shard, so it needs no locking. The
/// active segment's appender grows it with [`push`](Self::push); a sealed
/// segment's index is [`decode`](Self::decode)d when the partition opens.
/// Invariant: offsets and positions both strictly increase along the entries.
#[derive(Clone, Debug)]
pub struct OffsetIndex {
    base_offset: u64,
    entries: Vec<OffsetEntry>,
}

impl OffsetIndex {
    pub fn new(base_offset: u64) -> Self {
        Self {
            base_offset,
            entries: Vec::new(),
        }
    }

    pub fn base_offset(&self) -> u64 {
        self.base_offset
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn last(&self) -> Option<OffsetPosition> {
        self.entries.last().map(|entry| self.to_public(entry))
    }

    /// Adds an entry; panics (assert) if offset/position are not strictly greater than the last
    /// entry's, offset < base, or offset - base or position do not fit u32 (the caller guarantees
    /// these).
    pub fn push(&mut self, offset: u64, position: u64) {
        if let Some(last) = self.last() {
            assert!(
                offset > last.offset,
                "offset {offset} after {}",
                last.offset
            );
            assert!(
                position > last.position,
                "position {position} after {}",
                last.position
            );
        }
        let relative_offset = relative_offset(self.base_offset, offset);
        let position =
            u32::try_from(position).unwrap_or_else(|_| panic!("position {position} exceeds u32"));
        self.entries.push(OffsetEntry {
            relative_offset: U32::new(relative_offset),
            position: U32::new(position),
        });
    }

    /// Largest entry with offset <= target; `OffsetPosition { offset: base_offset, position: 0 }`
    /// when none (or target < base).
    pub fn lookup(&self, target_offset: u64) -> OffsetPosition {
        let count = self
            .entries
            .partition_point(|e| self.offset_of(e) <= target_offset);
        self.entry_before(count)
    }

    /// Largest entry with position <= target position (used to map a byte position back), same
    /// fallback.
    pub fn lookup_position(&self, target_position: u64) -> OffsetPosition {
        let count = self
            .entries
            .partition_point(|e| u64::from(e.position.get()) <= target_position);
        self.entry_before(count)
    }

    /// Drops entries with offset >= offset.
    pub fn truncate_to_offset(&mut self, offset: u64) {
        let keep = self.entries.partition_point(|e| self.offset_of(e) < offset);
        self.entries.truncate(keep);
    }

    pub fn encode(&self) -> Vec<u8> {
        self.entries.as_bytes().to_vec()
    }

    /// Validates: len multiple of 8; relative offsets strictly increasing; positions strictly
    /// increasing; every position < segment_bytes; every absolute offset < offset_limit (the
    /// segment's next offset, i.e. one past its last offset).
    pub fn decode(
        base_offset: u64,
        bytes: &[u8],
        segment_bytes: u64,
        offset_limit: u64,
    ) -> Result<Self, IndexError> {
        let entries: &[OffsetEntry] = cast_entries(bytes, OFFSET_INDEX_ENTRY_BYTES)?;
        let mut previous: Option<(u64, u64)> = None;
        for (entry, raw) in entries.iter().enumerate() {
            // Saturating: an offset past u64::MAX is past any limit too.
            let offset = base_offset.saturating_add(u64::from(raw.relative_offset.get()));
            let position = u64::from(raw.position.get());
            if let Some((previous_offset, previous_position)) = previous {
                if offset <= previous_offset {
                    return Err(IndexError::OffsetNotIncreasing {
                        entry,
                        previous_offset,
                        offset,
                    });
                }
                if position <= previous_position {
                    return Err(IndexError::PositionNotIncreasing {
                        entry,
                        previous_position,
                        position,
                    });
                }
            }
            if position >= segment_bytes {
                return Err(IndexError::PositionBeyondSegment {
                    entry,
                    position,
                    segment_bytes,
                });
            }
            if offset >= offset_limit {
                return Err(IndexError::OffsetBeyondLimit {
                    entry,
                    offset,
                    offset_limit,
                });
            }
            previous = Some((offset, position));
        }
        Ok(Self {
            base_offset,
            entries: entries.to_vec(),
        })
    }

    /// Absolute offset of an entry; cannot overflow because `push` and
    /// `decode` only admit entries whose absolute offset is a valid u64.
    fn offset_of(&self, entry: &OffsetEntry) -> u64 {
        self.base_offset + u64::from(entry.relative_offset.get())
    }

    fn to_public(&self, entry: &OffsetEntry) -> OffsetPosition {
        OffsetPosition {
            offset: self.offset_of(entry),
            position: u64::from(entry.position.get()),
        }
    }

    /// The entry before the first `count`, or the segment's start when `count` is 0.
    fn entry_before(&self, count: usize) -> OffsetPosition {
        match count.checked_sub(1) {
            Some(i) => self.to_public(&self.entries[i]),
            None => OffsetPosition {
                offset: self.base_offset,
                position: 0,
            },
        }
    }
}

/// The sparse timestamp → offset index of one segment.
///
/// Same ownership and lifecycle as [`OffsetIndex`]. Each entry pairs a new
/// maximum timestamp of the segment with an offset in the batch that first
/// reached it (Kafka records that batch's last offset). Every earlier batch
/// then holds only smaller timestamps, so the first record at or after a
/// target timestamp lies in the batch holding the offset that
/// [`lookup`](Self::lookup) returns, or later. The caller must therefore track
/// where the maximum was reached, not just the batch being indexed.
/// Invariant: timestamps strictly increase and offsets never decrease.
#[derive(Clone, Debug)]
pub struct TimeIndex {
    base_offset: u64,
    entries: Vec<TimeEntry>,
}

impl TimeIndex {
    pub fn new(base_offset: u64) -> Self {
        Self {
            base_offset,
            entries: Vec::new(),
        }
    }

    pub fn base_offset(&self) -> u64 {
        self.base_offset
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn last(&self) -> Option<TimestampOffset> {
        self.entries.last().map(|entry| self.to_public(entry))
    }

    /// Adds (timestamp, offset) only if timestamp is greater than the last entry's timestamp
    /// (Kafka keeps the max timestamp seen so far); returns whether it was added. Asserts offset >=
    /// last entry's offset and offset - base fits u32.
    ///
    /// Like Kafka, an empty index behaves as if its last entry were the
    /// [`lookup`](Self::lookup) fallback, so batches without a timestamp (-1)
    /// are never indexed.
    pub fn maybe_push(&mut self, timestamp_ms: i64, offset: u64) -> bool {
        let last = self.last().unwrap_or(TimestampOffset {
            timestamp_ms: NO_TIMESTAMP_MS,
            offset: self.base_offset,
        });
        assert!(
            offset >= last.offset,
            "offset {offset} before {}",
            last.offset
        );
        let relative_offset = relative_offset(self.base_offset, offset);
        if timestamp_ms <= last.timestamp_ms {
            return false;
        }
        self.entries.push(TimeEntry {
            timestamp_ms: I64::new(timestamp_ms),
            relative_offset: U32::new(relative_offset),
        });
        true
    }

    /// Kafka's `TimeIndex.lookup`: the largest entry whose timestamp <= target;
    /// `TimestampOffset { timestamp_ms: -1, offset: base_offset }` when none.
    pub fn lookup(&self, target_timestamp_ms: i64) -> TimestampOffset {
        let count = self
            .entries
            .partition_point(|e| e.timestamp_ms.get() <= target_timestamp_ms);
        match count.checked_sub(1) {
            Some(i) => self.to_public(&self.entries[i]),
            None => TimestampOffset {
                timestamp_ms: NO_TIMESTAMP_MS,
                offset: self.base_offset,
            },
        }
    }

    /// Drops entries with offset >= offset.
    pub fn truncate_to_offset(&mut self, offset: u64) {
        let keep = self.entries.partition_point(|e| self.offset_of(e) < offset);
        self.entries.truncate(keep);
    }

    pub fn encode(&self) -> Vec<u8> {
        self.entries.as_bytes().to_vec()
    }

    /// Validates: len multiple of 12; timestamps strictly increasing; offsets non-decreasing;
    /// every offset < offset_limit.
    pub fn decode(base_offset: u64, bytes: &[u8], offset_limit: u64) -> Result<Self, IndexError> {
        let entries: &[TimeEntry] = cast_entries(bytes, TIME_INDEX_ENTRY_BYTES)?;
        let mut previous: Option<(i64, u64)> = None;
        for (entry, raw) in entries.iter().enumerate() {
            let timestamp_ms = raw.timestamp_ms.get();
            // Saturating: an offset past u64::MAX is past any limit too.
            let offset = base_offset.saturating_add(u64::from(raw.relative_offset.get()));
            if let Some((previous_timestamp_ms, previous_offset)) = previous {
                if timestamp_ms <= previous_timestamp_ms {
                    return Err(IndexError::TimestampNotIncreasing {
                        entry,
                        previous_timestamp_ms,
                        timestamp_ms,
                    });
                }
                if offset < previous_offset {
                    return Err(IndexError::OffsetDecreasing {
                        entry,
                        previous_offset,
                        offset,
                    });
                }
            }
            if offset >= offset_limit {
                return Err(IndexError::OffsetBeyondLimit {
                    entry,
                    offset,
                    offset_limit,
                });
            }
            previous = Some((timestamp_ms, offset));
        }
        Ok(Self {
            base_offset,
            entries: entries.to_vec(),
        })
    }

    /// Absolute offset of an entry; cannot overflow, as for [`OffsetIndex`].
    fn offset_of(&self, entry: &TimeEntry) -> u64 {
        self.base_offset + u64::from(entry.relative_offset.get())
    }

    fn to_public(&self, entry: &TimeEntry) -> TimestampOffset {
        TimestampOffset {
            timestamp_ms: entry.timestamp_ms.get(),
            offset: self.offset_of(entry),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn op(offset: u64, position: u64) -> OffsetPosition {
        OffsetPosition { offset, position }
    }

    fn to(timestamp_ms: i64, offset: u64) -> TimestampOffset {
        TimestampOffset {
            timestamp_ms,
            offset,
        }
    }

    /// Base 100, entries (110, 4096), (120, 8192), (130, 12288).
    fn offset_index() -> OffsetIndex {
        let mut index = OffsetIndex::new(100);
        for i in 1..=3 {
            index.push(100 + 10 * i, 4096 * i);
        }
        index
    }

    /// Base 100, entries (1000 ms, 105), (2000 ms, 110), (3000 ms, 110).
    fn time_index() -> TimeIndex {
        let mut index = TimeIndex::new(100);
        assert!(index.maybe_push(1000, 105));
        assert!(index.maybe_push(2000, 110));
        assert!(index.maybe_push(3000, 110));
        index
    }

    #[test]
    fn offset_lookup_below_at_between_after() {
        let index = offset_index();
        assert_eq!(index.lookup(0), op(100, 0));
        assert_eq!(index.lookup(109), op(100, 0));
        assert_eq!(index.lookup(110), op(110, 4096));
        assert_eq!(index.lookup(125), op(120, 8192));
        assert_eq!(index.lookup(130), op(130, 12288));
        assert_eq!(index.lookup(u64::MAX), op(130, 12288));
        assert_eq!(index.last(), Some(op(130, 12288)));
    }

    #[test]
    fn offset_lookup_position() {
        let index = offset_index();
        assert_eq!(index.lookup_position(4095), op(100, 0));
        assert_eq!(index.lookup_position(4096), op(110, 4096));
        assert_eq!(index.lookup_position(10_000), op(120, 8192));
        assert_eq!(index.lookup_position(u64::MAX), op(130, 12288));
    }

    #[test]
    fn empty_indexes_fall_back_to_segment_start() {
        let index = OffsetIndex::new(7);
        assert!(index.is_empty() && index.last().is_none());
        assert_eq!(index.lookup(1_000), op(7, 0));
        assert_eq!(index.lookup_position(1_000), op(7, 0));
        let time = TimeIndex::new(7);
        assert!(time.is_empty() && time.last().is_none());
        assert_eq!(time.lookup(i64::MAX), to(-1, 7));
    }

    #[test]
    fn offset_truncate() {
        let mut index = offset_index();
        index.truncate_to_offset(121);
        assert_eq!(index.last(), Some(op(120, 8192)));
        index.truncate_to_offset(120);
        assert_eq!(index.last(), Some(op(110, 4096)));
        index.truncate_to_offset(0);
        assert!(index.is_empty());
        index.push(100, 0); // The base offset itself may be indexed after truncation.
        assert_eq!(index.len(), 1);
    }

    #[test]
    #[should_panic(expected = "offset 110 after 110")]
    fn offset_push_rejects_repeated_offset() {
        let mut index = offset_index();
        index.truncate_to_offset(111);
        index.push(110, 9000);
    }

    #[test]
    #[should_panic(expected = "exceeds u32")]
    fn offset_push_rejects_wide_relative_offset() {
        OffsetIndex::new(0).push(1 << 32, 0);
    }

    #[test]
    fn time_maybe_push_ignores_non_increasing_timestamps() {
        let mut index = time_index();
        assert!(!index.maybe_push(3000, 111));
        assert!(!index.maybe_push(2500, 112));
        assert_eq!(index.len(), 3);
        assert!(index.maybe_push(3001, 112));
        // Batches without a timestamp (-1) never enter an empty index, as in Kafka.
        assert!(!TimeIndex::new(0).maybe_push(-1, 0));
    }

    #[test]
    #[should_panic(expected = "offset 104 before 110")]
    fn time_maybe_push_rejects_decreasing_offset() {
        time_index().maybe_push(4000, 104);
    }

    #[test]
    fn time_lookup_and_truncate() {
        let mut index = time_index();
        assert_eq!(index.lookup(999), to(-1, 100));
        assert_eq!(index.lookup(1000), to(1000, 105));
        assert_eq!(index.lookup(2999), to(2000, 110));
        assert_eq!(index.lookup(i64::MAX), to(3000, 110));
        index.truncate_to_offset(110);
        assert_eq!(index.last(), Some(to(1000, 105)));
        index.truncate_to_offset(100);
        assert!(index.is_empty());
    }

    #[test]
    fn encode_matches_kafka_layout_and_round_trips() {
        let index = offset_index();
        let bytes = index.encode();
        assert_eq!(bytes.len(), 3 * OFFSET_INDEX_ENTRY_BYTES);
        assert_eq!(&bytes[..8], &[0, 0, 0, 10, 0, 0, 0x10, 0]);
        let decoded = OffsetIndex::decode(100, &bytes, 12289, 131).unwrap();
        assert_eq!(decoded.encode(), bytes);
        assert_eq!(decoded.last(), index.last());

        let time = time_index();
        let bytes = time.encode();
        assert_eq!(bytes.len(), 3 * TIME_INDEX_ENTRY_BYTES);
        assert_eq!(&bytes[..12], &[0, 0, 0, 0, 0, 0, 0x03, 0xe8, 0, 0, 0, 5]);
        let decoded = TimeIndex::decode(100, &bytes, 111).unwrap();
        assert_eq!(decoded.encode(), bytes);
        assert_eq!(decoded.base_offset(), 100);
    }

    fn offset_bytes(entries: &[(u32, u32)]) -> Vec<u8> {
        let mut bytes = Vec::new();
        for (relative_offset, position) in entries {
            bytes.extend_from_slice(&relative_offset.to_be_bytes());
            bytes.extend_from_slice(&position.to_be_bytes());
        }
        bytes
    }

    fn time_bytes(entries: &[(i64, u32)]) -> Vec<u8> {
        let mut bytes = Vec::new();
        for (timestamp_ms, relative_offset) in entries {
            bytes.extend_from_slice(&timestamp_ms.to_be_bytes());
            bytes.extend_from_slice(&relative_offset.to_be_bytes());
        }
        bytes
    }

    /// Decodes and returns the error's Debug form, which names every field.
    fn offset_err(base_offset: u64, bytes: &[u8], offset_limit: u64) -> String {
        let result = OffsetIndex::decode(base_offset, bytes, 1000, offset_limit);
        format!("{:?}", result.unwrap_err())
    }

    fn time_err(bytes: &[u8]) -> String {
        format!("{:?}", TimeIndex::decode(10, bytes, 20).unwrap_err())
    }

    #[test]
    fn offset_decode_rejections() {
        let err = |entries: &[(u32, u32)]| offset_err(10, &offset_bytes(entries), 20);
        let want = "PartialEntry { bytes: 9, entry_bytes: 8 }";
        assert_eq!(offset_err(10, &[0; 9], 20), want);
        let want = "OffsetNotIncreasing { entry: 1, previous_offset: 12, offset: 12 }";
        assert_eq!(err(&[(2, 0), (2, 5)]), want);
        let want = "PositionNotIncreasing { entry: 1, previous_position: 5, position: 5 }";
        assert_eq!(err(&[(2, 5), (3, 5)]), want);
        let want = "PositionBeyondSegment { entry: 0, position: 1000, segment_bytes: 1000 }";
        assert_eq!(err(&[(2, 1000)]), want);
        let want = "OffsetBeyondLimit { entry: 1, offset: 20, offset_limit: 20 }";
        assert_eq!(err(&[(2, 1), (10, 2)]), want);
        // A base offset near u64::MAX must not overflow into an accepted offset.
        let overflow = offset_err(u64::MAX, &offset_bytes(&[(1, 0)]), u64::MAX);
        assert!(overflow.starts_with("OffsetBeyondLimit { entry: 0,"));
        assert!(OffsetIndex::decode(10, &[], 0, 0).unwrap().is_empty());
    }

    #[test]
    fn time_decode_rejections() {
        let err = |entries: &[(i64, u32)]| time_err(&time_bytes(entries));
        let want = "PartialEntry { bytes: 13, entry_bytes: 12 }";
        assert_eq!(time_err(&[0; 13]), want);
        let want = "TimestampNotIncreasing { entry: 1, previous_timestamp_ms: 5, timestamp_ms: 5 }";
        assert_eq!(err(&[(5, 1), (5, 2)]), want);
        let want = "OffsetDecreasing { entry: 1, previous_offset: 12, offset: 11 }";
        assert_eq!(err(&[(5, 2), (6, 1)]), want);
        let want = "OffsetBeyondLimit { entry: 0, offset: 20, offset_limit: 20 }";
        assert_eq!(err(&[(5, 10)]), want);
        // Equal offsets are allowed: one batch may raise the maximum timestamp twice.
        let time = TimeIndex::decode(10, &time_bytes(&[(5, 2), (6, 2)]), 20).unwrap();
        assert_eq!(time.len(), 2);
    }

    proptest! {
        #[test]
        fn random_indexes_round_trip_and_match_linear_scan(
            base_offset in 0u64..1 << 40,
            steps in prop::collection::vec((1u64..1000, 1u64..100_000, 1i64..1000), 0..200),
            targets in prop::collection::vec((0u64..300_000, 0u64..30_000_000, -5i64..300_000), 20),
        ) {
            let mut index = OffsetIndex::new(base_offset);
            let mut time = TimeIndex::new(base_offset);
            let (mut offset, mut position, mut timestamp_ms) = (base_offset, 0, -1);
            for (offset_step, position_step, timestamp_step) in steps {
                offset += offset_step;
                position += position_step;
                timestamp_ms += timestamp_step;
                index.push(offset, position);
                prop_assert!(time.maybe_push(timestamp_ms, offset));
            }
            let bytes = index.encode();
            let index = OffsetIndex::decode(base_offset, &bytes, position + 1, offset + 1).unwrap();
            prop_assert_eq!(index.encode(), bytes);
            let bytes = time.encode();
            let time = TimeIndex::decode(base_offset, &bytes, offset + 1).unwrap();
            prop_assert_eq!(time.encode(), bytes);
            let entries: Vec<_> = index.entries.iter().map(|e| index.to_public(e)).collect();
            let times: Vec<_> = time.entries.iter().map(|e| time.to_public(e)).collect();
            let start = op(base_offset, 0);
            for (offset_delta, target_position, target_ms) in targets {
                let target_offset = base_offset + offset_delta;
                let want = entries.iter().rev().find(|e| e.offset <= target_offset);
                prop_assert_eq!(index.lookup(target_offset), *want.unwrap_or(&start));
                let want = entries.iter().rev().find(|e| e.position <= target_position);
                prop_assert_eq!(index.lookup_position(target_position), *want.unwrap_or(&start));
                let want = times.iter().rev().find(|e| e.timestamp_ms <= target_ms);
                prop_assert_eq!(time.lookup(target_ms), *want.unwrap_or(&to(-1, base_offset)));
            }
        }
    }
}
