//! The Kafka v2 record batch header, read and rewritten in place.
//!
//! This is all the engine knows of the Kafka protocol. Layout (big-endian),
//! from the Kafka protocol guide ("Record Batch"):
//!
//! ```text
//! byte  0  baseOffset            i64  ┐ not covered by the CRC
//!       8  batchLength           i32  │ (bytes after this field)
//!      12  partitionLeaderEpoch  i32  │
//!      16  magic                 i8   ┘ (= 2)
//!      17  crc                   u32    CRC-32C of bytes 21..end
//!      21  attributes            i16    bits 0-2 compression, 3 timestamp type,
//!      23  lastOffsetDelta       i32         4 transactional, 5 control
//!      27  baseTimestamp         i64
//!      35  maxTimestamp          i64
//!      43  producerId            i64
//!      51  producerEpoch         i16
//!      53  baseSequence          i32
//!      57  recordCount           i32
//!      61  records ...
//! ```
//!
//! Rewriting the base offset or leader epoch leaves the CRC valid (those bytes
//! are outside it); setting LogAppendTime changes covered bytes, so
//! [`set_log_append_time`] recomputes the CRC.

use zerocopy::big_endian::{I16, I32, I64, U32};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use crate::varint::read_varint;

/// Bytes of the v2 batch header, records excluded.
pub const BATCH_HEADER_BYTES: usize = 61;
/// Bytes before `batchLength` counts: base offset and the length field itself.
pub const BATCH_LENGTH_PREFIX_BYTES: usize = 12;
/// First byte covered by the CRC (the attributes field).
pub const CRC_START: usize = 21;
/// The only batch format the engine stores.
pub const MAGIC_V2: u8 = 2;

/// Attributes bit 3: timestamps are the broker's append time.
pub const ATTRIBUTE_LOG_APPEND_TIME: i16 = 1 << 3;

/// The 61-byte header as it lies in memory.
#[repr(C)]
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Debug)]
pub struct BatchHeader {
    pub base_offset: I64,
    pub batch_length: I32,
    pub partition_leader_epoch: I32,
    pub magic: u8,
    pub crc: U32,
    pub attributes: I16,
    pub last_offset_delta: I32,
    pub base_timestamp: I64,
    pub max_timestamp: I64,
    pub producer_id: I64,
    pub producer_epoch: I16,
    pub base_sequence: I32,
    pub record_count: I32,
}

const _: () = assert!(std::mem::size_of::<BatchHeader>() == BATCH_HEADER_BYTES);

/// Why a byte range is not a valid v2 batch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    #[error("{available} bytes are too few for a batch header")]
    TooShort { available: usize },
    #[error("batch length {declared} does not fit the {available} bytes available")]
    BadLength { declared: i64, available: usize },
    #[error("magic byte {0} is not 2 (only v2 record batches are stored)")]
    BadMagic(u8),
    #[error("CRC-32C mismatch: batch says {stored:#010x}, bytes give {computed:#010x}")]
    CrcMismatch { stored: u32, computed: u32 },
    #[error("last offset delta {0} is negative")]
    BadLastOffsetDelta(i32),
    #[error("record count {count} disagrees with last offset delta {last_offset_delta}")]
    BadRecordCount { count: i32, last_offset_delta: i32 },
}

impl BatchHeader {
    /// Bytes of the whole batch, header included.
    pub fn total_bytes(&self) -> usize {
        BATCH_LENGTH_PREFIX_BYTES + self.batch_length.get().max(0) as usize
    }

    pub fn base_offset(&self) -> i64 {
        self.base_offset.get()
    }

    /// Offset of the batch's last record.
    pub fn last_offset(&self) -> i64 {
        self.base_offset.get() + self.last_offset_delta.get() as i64
    }

    pub fn max_timestamp(&self) -> i64 {
        self.max_timestamp.get()
    }

    pub fn is_log_append_time(&self) -> bool {
        self.attributes.get() & ATTRIBUTE_LOG_APPEND_TIME != 0
    }
}

/// The header at the start of `bytes`, unchecked beyond its size.
pub fn header(bytes: &[u8]) -> Result<&BatchHeader, BatchError> {
    BatchHeader::ref_from_prefix(bytes)
        .map(|(header, _)| header)
        .map_err(|_| BatchError::TooShort {
            available: bytes.len(),
        })
}

/// The header at the start of `bytes`, for rewriting in place.
pub fn header_mut(bytes: &mut [u8]) -> Result<&mut BatchHeader, BatchError> {
    let available = bytes.len();
    BatchHeader::mut_from_prefix(bytes)
        .map(|(header, _)| header)
        .map_err(|_| BatchError::TooShort { available })
}

/// Reads only the batch's total length, for walking a log when just the
/// first 12 bytes are at hand. `None` if fewer than 12 bytes, or the length is
/// too small for a header (zero padding after the last batch reads so).
pub fn total_bytes_from_prefix(bytes: &[u8]) -> Option<usize> {
    let length = i32::from_be_bytes(bytes.get(8..12)?.try_into().ok()?);
    let total = BATCH_LENGTH_PREFIX_BYTES as i64 + length as i64;
    (total >= BATCH_HEADER_BYTES as i64).then_some(total as usize)
}

/// CRC-32C over the bytes the v2 format covers: attributes to the end.
pub fn compute_crc(batch: &[u8]) -> u32 {
    crc32c::crc32c(&batch[CRC_START.min(batch.len())..])
}

/// Checks the batch at the start of `bytes` (length, magic, offsets, CRC) and
/// returns its header. Never panics, whatever the bytes.
pub fn validate(bytes: &[u8]) -> Result<&BatchHeader, BatchError> {
    let header = header(bytes)?;
    let declared = header.batch_length.get() as i64;
    let total = BATCH_LENGTH_PREFIX_BYTES as i64 + declared;
    if total < BATCH_HEADER_BYTES as i64 || total > bytes.len() as i64 {
        return Err(BatchError::BadLength {
            declared,
            available: bytes.len(),
        });
    }
    if header.magic != MAGIC_V2 {
        return Err(BatchError::BadMagic(header.magic));
    }
    let last_offset_delta = header.last_offset_delta.get();
    if last_offset_delta < 0 {
        return Err(BatchError::BadLastOffsetDelta(last_offset_delta));
    }
    let count = header.record_count.get();
    // A producer's batch has count == delta + 1; compaction may drop records
    // and keep the delta, so only more records than offsets is impossible.
    if count < 0 || count as i64 > last_offset_delta as i64 + 1 {
        return Err(BatchError::BadRecordCount {
            count,
            last_offset_delta,
        });
    }
    let computed = compute_crc(&bytes[..total as usize]);
    let stored = header.crc.get();
    if computed != stored {
        return Err(BatchError::CrcMismatch { stored, computed });
    }
    Ok(header)
}

/// Marks the batch's timestamps as the broker's append time `timestamp_ms`
/// and recomputes the CRC, as Kafka does for `LogAppendTime` topics.
///
/// # Panics
/// If `batch` is shorter than a header (callers pass validated batches).
pub fn set_log_append_time(batch: &mut [u8], timestamp_ms: i64) {
    let header = header_mut(batch).expect("validated batch has a header");
    let attributes = header.attributes.get() | ATTRIBUTE_LOG_APPEND_TIME;
    header.attributes.set(attributes);
    header.max_timestamp.set(timestamp_ms);
    let crc = compute_crc(batch);
    header_mut(batch)
        .expect("validated batch has a header")
        .crc
        .set(crc);
}

/// Writes `timestamp_ms` as the batch's max timestamp (keeping CreateTime)
/// and recomputes the CRC: the fix for a producer whose header disagrees
/// with its records, so the time index and ListOffsets see the real maximum.
///
/// # Panics
/// If `batch` is shorter than a header (callers pass validated batches).
pub fn set_max_timestamp(batch: &mut [u8], timestamp_ms: i64) {
    let header = header_mut(batch).expect("validated batch has a header");
    header.max_timestamp.set(timestamp_ms);
    let crc = compute_crc(batch);
    header_mut(batch)
        .expect("validated batch has a header")
        .crc
        .set(crc);
}

/// Attributes bit 4: the batch belongs to a transaction.
pub const ATTRIBUTE_TRANSACTIONAL: i16 = 1 << 4;
/// Attributes bit 5: the batch holds a control record (a transaction marker).
pub const ATTRIBUTE_CONTROL: i16 = 1 << 5;

/// Whose clock a batch's timestamps are (attributes bit 3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimestampType {
    /// The producer's (`message.timestamp.type=CreateTime`).
    CreateTime,
    /// The broker's, at append (`LogAppendTime`).
    LogAppendTime,
}

/// Walks the batches in `bytes`, validating each; yields
/// `(position, batch bytes)` or the first error with its position.
pub fn iter(bytes: &[u8]) -> BatchIter<'_> {
    BatchIter {
        bytes,
        position: 0,
        failed: false,
    }
}

pub struct BatchIter<'a> {
    bytes: &'a [u8],
    position: usize,
    failed: bool,
}

impl<'a> Iterator for BatchIter<'a> {
    type Item = Result<(usize, &'a [u8]), (usize, BatchError)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.position >= self.bytes.len() {
            return None;
        }
        let rest = &self.bytes[self.position..];
        match validate(rest) {
            Ok(header) => {
                let total = header.total_bytes();
                let item = (self.position, &rest[..total]);
                self.position += total;
                Some(Ok(item))
            }
            Err(error) => {
                self.failed = true;
                Some(Err((self.position, error)))
            }
        }
    }
}

/// Builds valid v2 batches for tests and benchmarks: `record_count` records'
/// worth of offsets, `payload_bytes` of opaque record bytes.
pub fn build_test_batch(record_count: i32, payload_bytes: usize, timestamp_ms: i64) -> Vec<u8> {
    assert!(record_count >= 1);
    let total = BATCH_HEADER_BYTES + payload_bytes;
    let mut bytes = vec![0u8; total];
    for (i, byte) in bytes[BATCH_HEADER_BYTES..].iter_mut().enumerate() {
        *byte = (i % 251) as u8;
    }
    {
        let header = header_mut(&mut bytes).expect("sized above");
        header.base_offset.set(0);
        header
            .batch_length
            .set((total - BATCH_LENGTH_PREFIX_BYTES) as i32);
        header.partition_leader_epoch.set(-1);
        header.magic = MAGIC_V2;
        header.attributes.set(0);
        header.last_offset_delta.set(record_count - 1);
        header.base_timestamp.set(timestamp_ms);
        header.max_timestamp.set(timestamp_ms);
        header.producer_id.set(-1);
        header.producer_epoch.set(-1);
        header.base_sequence.set(-1);
        header.record_count.set(record_count);
    }
    let crc = compute_crc(&bytes);
    header_mut(&mut bytes).expect("sized above").crc.set(crc);
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_fields_round_trip_in_place() {
        let mut bytes = build_test_batch(5, 100, 1_700_000_000_000);
        let header = validate(&bytes).unwrap();
        assert_eq!(header.total_bytes(), bytes.len());
        assert_eq!(header.last_offset(), 4);
        assert_eq!(header.max_timestamp(), 1_700_000_000_000);
        header_mut(&mut bytes).unwrap().base_offset.set(1000);
        let header = validate(&bytes).expect("base offset is outside the CRC");
        assert_eq!(header.base_offset(), 1000);
        assert_eq!(header.last_offset(), 1004);
        assert_eq!(&bytes[0..8], &1000i64.to_be_bytes());
    }

    #[test]
    fn crc_covers_attributes_to_end() {
        let mut bytes = build_test_batch(1, 10, 0);
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        assert!(matches!(
            validate(&bytes),
            Err(BatchError::CrcMismatch { .. })
        ));
        bytes[last] ^= 1;
        bytes[12] ^= 0xff; // leader epoch: not covered
        validate(&bytes).unwrap();
    }

    #[test]
    fn crc32c_known_vector() {
        // RFC 3720 B.4: 32 bytes of zeros.
        assert_eq!(crc32c::crc32c(&[0u8; 32]), 0x8a91_36aa);
    }

    #[test]
    fn log_append_time_keeps_the_batch_valid() {
        let mut bytes = build_test_batch(3, 50, 5);
        set_log_append_time(&mut bytes, 99);
        let header = validate(&bytes).unwrap();
        assert!(header.is_log_append_time());
        assert_eq!(header.max_timestamp(), 99);
    }

    #[test]
    fn typed_errors() {
        let bytes = build_test_batch(1, 10, 0);
        assert_eq!(
            validate(&bytes[..20]).unwrap_err(),
            BatchError::TooShort { available: 20 }
        );
        assert!(matches!(
            validate(&bytes[..bytes.len() - 1]),
            Err(BatchError::BadLength { .. })
        ));
        let mut bad_magic = bytes.clone();
        bad_magic[16] = 1;
        assert_eq!(validate(&bad_magic).unwrap_err(), BatchError::BadMagic(1));
        let mut bad_delta = bytes.clone();
        header_mut(&mut bad_delta)
            .unwrap()
            .last_offset_delta
            .set(-1);
        assert!(matches!(
            validate(&bad_delta),
            Err(BatchError::BadLastOffsetDelta(-1))
        ));
    }

    #[test]
    fn iter_walks_batches_and_stops_at_the_first_error() {
        let mut log = build_test_batch(2, 30, 0);
        log.extend(build_test_batch(3, 40, 0));
        log.extend([0u8; 16]);
        let items: Vec<_> = iter(&log).collect();
        assert_eq!(items.len(), 3);
        assert_eq!(items[0].as_ref().unwrap().0, 0);
        assert_eq!(items[1].as_ref().unwrap().0, 61 + 30);
        assert!(items[2].is_err());
    }

    #[test]
    fn length_prefix_reads_zero_padding_as_the_end() {
        assert_eq!(total_bytes_from_prefix(&[0u8; 12]), None);
        assert_eq!(total_bytes_from_prefix(&[0u8; 3]), None);
        let bytes = build_test_batch(1, 10, 0);
        assert_eq!(total_bytes_from_prefix(&bytes), Some(bytes.len()));
    }
}

/// Attributes bits 0-2: the compression codec (0 = none).
pub const ATTRIBUTE_COMPRESSION_MASK: i16 = 0x07;

/// In a valid, uncompressed v2 batch, the first record whose timestamp is at
/// least `target_ms`, as `(timestamp, offset)`. `None` if the batch is
/// compressed (its records cannot be read without decompressing), has no
/// such record, or its records do not parse. For `LogAppendTime` batches
/// every record carries the batch's max timestamp.
pub fn first_record_at_or_after(batch: &[u8], target_ms: i64) -> Option<(i64, u64)> {
    let header = validate(batch).ok()?;
    if header.attributes.get() & ATTRIBUTE_COMPRESSION_MASK != 0 {
        return None;
    }
    let base_offset = header.base_offset() as u64;
    if header.is_log_append_time() {
        return (header.max_timestamp() >= target_ms)
            .then_some((header.max_timestamp(), base_offset));
    }
    let base_timestamp = header.base_timestamp.get();
    let last_offset_delta = header.last_offset_delta.get() as i64;
    // Walk every record first: only a batch whose records all parse, with
    // offset deltas increasing within the batch and nothing left over, is
    // trusted (a record area of opaque bytes must not yield an answer).
    let mut rest = &batch[BATCH_HEADER_BYTES..header.total_bytes()];
    let mut records = Vec::with_capacity(header.record_count.get().clamp(0, 1 << 16) as usize);
    let mut previous_delta = -1i64;
    for _ in 0..header.record_count.get().max(0) {
        let (length, used) = read_varint(rest)?;
        let body = rest.get(used..used.checked_add(usize::try_from(length).ok()?)?)?;
        // attributes (1 byte), then timestampDelta and offsetDelta.
        let (timestamp_delta, used_ts) = read_varint(body.get(1..)?)?;
        let (offset_delta, _) = read_varint(body.get(1 + used_ts..)?)?;
        if offset_delta <= previous_delta || offset_delta > last_offset_delta {
            return None;
        }
        previous_delta = offset_delta;
        records.push((
            base_timestamp.checked_add(timestamp_delta)?,
            offset_delta as u64,
        ));
        rest = &rest[used + body.len()..];
    }
    if !rest.is_empty() {
        return None;
    }
    records
        .into_iter()
        .find(|(timestamp, _)| *timestamp >= target_ms)
        .map(|(timestamp, delta)| (timestamp, base_offset + delta))
}

#[cfg(test)]
mod record_tests {
    use super::*;

    fn varint(value: i64, out: &mut Vec<u8>) {
        let mut v = ((value << 1) ^ (value >> 63)) as u64;
        loop {
            let byte = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }

    /// A batch of records with the given timestamp deltas (no key/value).
    fn batch_with_timestamps(base_timestamp: i64, deltas: &[i64]) -> Vec<u8> {
        let mut records = Vec::new();
        for (i, delta) in deltas.iter().enumerate() {
            let mut body = vec![0u8];
            varint(*delta, &mut body);
            varint(i as i64, &mut body);
            varint(-1, &mut body); // key null
            varint(-1, &mut body); // value null
            varint(0, &mut body); // no headers
            varint(body.len() as i64, &mut records);
            records.extend(body);
        }
        let mut bytes = vec![0u8; BATCH_HEADER_BYTES];
        bytes.extend(records);
        let total = bytes.len();
        {
            let header = header_mut(&mut bytes).unwrap();
            header.base_offset.set(100);
            header
                .batch_length
                .set((total - BATCH_LENGTH_PREFIX_BYTES) as i32);
            header.magic = MAGIC_V2;
            header.last_offset_delta.set(deltas.len() as i32 - 1);
            header.base_timestamp.set(base_timestamp);
            header
                .max_timestamp
                .set(base_timestamp + deltas.iter().max().unwrap());
            header.record_count.set(deltas.len() as i32);
            header.producer_id.set(-1);
        }
        let crc = compute_crc(&bytes);
        header_mut(&mut bytes).unwrap().crc.set(crc);
        bytes
    }

    #[test]
    fn finds_the_first_record_at_or_after_a_timestamp() {
        let batch = batch_with_timestamps(1_000, &[0, 10, 20, 300]);
        assert_eq!(first_record_at_or_after(&batch, 0), Some((1_000, 100)));
        assert_eq!(first_record_at_or_after(&batch, 1_005), Some((1_010, 101)));
        assert_eq!(first_record_at_or_after(&batch, 1_020), Some((1_020, 102)));
        assert_eq!(first_record_at_or_after(&batch, 1_021), Some((1_300, 103)));
        assert_eq!(first_record_at_or_after(&batch, 1_301), None);
    }

    #[test]
    fn compressed_and_broken_batches_give_none() {
        let mut batch = batch_with_timestamps(1_000, &[0, 10]);
        header_mut(&mut batch).unwrap().attributes.set(1);
        let crc = compute_crc(&batch);
        header_mut(&mut batch).unwrap().crc.set(crc);
        assert_eq!(first_record_at_or_after(&batch, 0), None);
        assert_eq!(
            first_record_at_or_after(&build_test_batch(3, 40, 5), 0),
            None
        );
    }
}
