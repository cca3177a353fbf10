//! The records inside a v2 batch, read where the semantics need them.
//!
//! The hot path never comes here: a produced batch is stored as it came.
//! Compaction (keys), timestamp validation and down-conversion read records
//! through [`records`], which inflates a compressed batch within a bound
//! ([`crate::compression`]) and walks the record format from the Kafka
//! protocol guide ("Record"):
//!
//! ```text
//! length          varint   bytes after this field
//! attributes      int8     unused (0)
//! timestampDelta  varlong  from the batch's baseTimestamp
//! offsetDelta     varint   from the batch's baseOffset
//! keyLength       varint   -1 = null key
//! key             bytes
//! valueLength     varint   -1 = null value (a tombstone)
//! value           bytes
//! headerCount     varint
//!   headerKeyLength varint, headerKey bytes, headerValueLength varint, value bytes
//! ```
//!
//! Every length is checked against the bytes that are really there before
//! it is used; nothing is allocated from a stated length or count.

use std::borrow::Cow;

use crate::batch::{self, BatchError, BatchHeader, BATCH_HEADER_BYTES};
use crate::compression::{self, Codec, CompressionError};
pub use crate::varint::{read_varint, write_varint};

/// Why a batch's records could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error(transparent)]
    Batch(#[from] BatchError),
    #[error(transparent)]
    Compression(#[from] CompressionError),
    #[error("record {index} is malformed: {detail}")]
    Malformed { index: usize, detail: &'static str },
    #[error("the batch says {declared} records but holds {found}")]
    CountMismatch { declared: i32, found: usize },
}

/// One record, borrowing from the (inflated) records bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record<'a> {
    pub timestamp_delta: i64,
    pub offset_delta: i32,
    pub key: Option<&'a [u8]>,
    pub value: Option<&'a [u8]>,
    /// The headers as they lie (count included), for copying whole.
    pub headers: &'a [u8],
    /// The whole record as it lies, length prefix included.
    pub bytes: &'a [u8],
}

/// A batch's records, inflated if the batch was compressed.
pub struct BatchRecords<'a> {
    pub codec: Codec,
    /// The record count the header declares.
    pub declared_count: i32,
    bytes: Cow<'a, [u8]>,
}

impl<'a> BatchRecords<'a> {
    /// The records bytes (inflated).
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Walks the records, checking that there are exactly as many as the
    /// header declares and nothing is left over.
    pub fn iter(&self) -> RecordIter<'_> {
        RecordIter {
            rest: &self.bytes,
            index: 0,
            declared: self.declared_count,
            failed: false,
        }
    }
}

/// The records of the valid v2 batch at the start of `batch`. A compressed
/// batch is inflated to at most `inflated_bytes_max` bytes.
pub fn records(batch: &[u8], inflated_bytes_max: usize) -> Result<BatchRecords<'_>, RecordError> {
    let header = batch::validate(batch)?;
    records_of_validated(batch, header, inflated_bytes_max)
}

/// The records of a batch whose `header` the caller got from
/// [`batch::validate`] on these bytes, so the CRC is not computed twice.
pub fn records_of_validated<'a>(
    batch: &'a [u8],
    header: &BatchHeader,
    inflated_bytes_max: usize,
) -> Result<BatchRecords<'a>, RecordError> {
    let codec = Codec::from_attributes(header.attributes.get())?;
    let body = &batch[BATCH_HEADER_BYTES..header.total_bytes()];
    let bytes = match codec {
        Codec::None => Cow::Borrowed(body),
        codec => Cow::Owned(compression::decompress(codec, body, inflated_bytes_max)?),
    };
    Ok(BatchRecords {
        codec,
        declared_count: header.record_count.get(),
        bytes,
    })
}

/// Kafka's offset-for-timestamp inside one valid batch: the first record
/// whose timestamp is at least `target_ms`, as `(timestamp, offset)`. A
/// compressed batch is inflated to at most `inflated_bytes_max` bytes;
/// `None` if no record is that recent or the records cannot be read within
/// the bound (the caller then answers with the batch, which is at or before
/// the record). Uncompressed batches are read in place
/// ([`batch::first_record_at_or_after`]).
pub fn first_record_at_or_after(
    batch: &[u8],
    target_ms: i64,
    inflated_bytes_max: usize,
) -> Option<(i64, u64)> {
    let header = batch::validate(batch).ok()?;
    if Codec::from_attributes(header.attributes.get()).ok()? == Codec::None
        || header.is_log_append_time()
    {
        return batch::first_record_at_or_after(batch, target_ms);
    }
    let base_offset = header.base_offset() as u64;
    let base_timestamp = header.base_timestamp.get();
    let last_offset_delta = header.last_offset_delta.get() as i64;
    let records = records_of_validated(batch, header, inflated_bytes_max).ok()?;
    // As for uncompressed batches: only records that all parse, with offset
    // deltas increasing, are trusted to give an answer.
    let mut previous_delta = -1i64;
    let mut found = None;
    for record in records.iter() {
        let record = record.ok()?;
        let delta = record.offset_delta as i64;
        if delta <= previous_delta || delta > last_offset_delta {
            return None;
        }
        previous_delta = delta;
        let timestamp = base_timestamp.checked_add(record.timestamp_delta)?;
        if found.is_none() && timestamp >= target_ms {
            found = Some((timestamp, base_offset + delta as u64));
        }
    }
    found
}

pub struct RecordIter<'a> {
    rest: &'a [u8],
    index: usize,
    declared: i32,
    failed: bool,
}

impl<'a> Iterator for RecordIter<'a> {
    type Item = Result<Record<'a>, RecordError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        if self.rest.is_empty() {
            if self.index as i64 != self.declared as i64 {
                self.failed = true;
                return Some(Err(RecordError::CountMismatch {
                    declared: self.declared,
                    found: self.index,
                }));
            }
            return None;
        }
        if self.index as i64 >= self.declared as i64 {
            self.failed = true;
            return Some(Err(RecordError::CountMismatch {
                declared: self.declared,
                found: self.index + 1,
            }));
        }
        match parse_record(self.rest) {
            Ok((record, used)) => {
                self.rest = &self.rest[used..];
                self.index += 1;
                Some(Ok(record))
            }
            Err(detail) => {
                self.failed = true;
                Some(Err(RecordError::Malformed {
                    index: self.index,
                    detail,
                }))
            }
        }
    }
}

/// Parses the record at the start of `bytes`; returns it and the bytes it
/// took.
fn parse_record(bytes: &[u8]) -> Result<(Record<'_>, usize), &'static str> {
    let (length, used) = read_varint(bytes).ok_or("bad length")?;
    let length = usize::try_from(length).map_err(|_| "negative length")?;
    let end = used.checked_add(length).ok_or("length overflows")?;
    let body = bytes.get(used..end).ok_or("length past the end")?;
    let mut cursor = Cursor { bytes: body, at: 0 };
    cursor.take(1).ok_or("no attributes")?;
    let timestamp_delta = cursor.varint().ok_or("bad timestamp delta")?;
    let offset_delta = cursor.varint().ok_or("bad offset delta")?;
    let offset_delta = i32::try_from(offset_delta).map_err(|_| "offset delta out of range")?;
    let key = cursor.nullable_bytes().ok_or("bad key")?;
    let value = cursor.nullable_bytes().ok_or("bad value")?;
    let headers_start = cursor.at;
    let header_count = cursor.varint().ok_or("bad header count")?;
    if header_count < 0 {
        return Err("negative header count");
    }
    for _ in 0..header_count {
        // Each header takes at least two bytes, so a count larger than the
        // bytes left fails here within that many steps.
        let key = cursor.nullable_bytes().ok_or("bad header key")?;
        if key.is_none() {
            return Err("null header key");
        }
        cursor.nullable_bytes().ok_or("bad header value")?;
    }
    if cursor.at != body.len() {
        return Err("bytes left after the headers");
    }
    Ok((
        Record {
            timestamp_delta,
            offset_delta,
            key,
            value,
            headers: &body[headers_start..],
            bytes: &bytes[..end],
        },
        end,
    ))
}

struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.at.checked_add(n)?;
        let taken = self.bytes.get(self.at..end)?;
        self.at = end;
        Some(taken)
    }

    fn varint(&mut self) -> Option<i64> {
        let (value, used) = read_varint(&self.bytes[self.at..])?;
        self.at += used;
        Some(value)
    }

    /// A varint length then that many bytes; -1 is null.
    fn nullable_bytes(&mut self) -> Option<Option<&'a [u8]>> {
        match self.varint()? {
            -1 => Some(None),
            n if n >= 0 => self.take(usize::try_from(n).ok()?).map(Some),
            _ => None,
        }
    }
}

/// Encodes one record (no headers) as the record format lays it out; for
/// tests and for writers that build batches (compaction, conversion).
pub fn encode_record(
    timestamp_delta: i64,
    offset_delta: i32,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    out: &mut Vec<u8>,
) {
    encode_record_with_headers(timestamp_delta, offset_delta, key, value, &[0], out);
}

/// Encodes one record whose headers are already encoded: `headers` is the
/// header count and the headers as [`Record::headers`] holds them (`[0]`
/// for none). For rewriting a record with a new offset delta.
pub fn encode_record_with_headers(
    timestamp_delta: i64,
    offset_delta: i32,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    headers: &[u8],
    out: &mut Vec<u8>,
) {
    debug_assert!(!headers.is_empty(), "headers start with their count");
    let mut body = vec![0u8];
    write_varint(timestamp_delta, &mut body);
    write_varint(offset_delta as i64, &mut body);
    for field in [key, value] {
        match field {
            None => write_varint(-1, &mut body),
            Some(bytes) => {
                write_varint(bytes.len() as i64, &mut body);
                body.extend_from_slice(bytes);
            }
        }
    }
    body.extend_from_slice(headers);
    write_varint(body.len() as i64, out);
    out.extend(body);
}

/// A record as (key, value); `None` is null (a null value is a tombstone).
pub type KeyValue<'a> = (Option<&'a [u8]>, Option<&'a [u8]>);

/// A valid v2 batch (base offset 0, no producer) of `records` as
/// (key, value), record `i` at offset delta `i` and timestamp
/// `timestamp_ms + i`, compressed with `codec`: for tests, benchmarks and
/// tools that need batches with real records.
pub fn build_batch(
    codec: Codec,
    timestamp_ms: i64,
    records: &[KeyValue<'_>],
) -> Result<Vec<u8>, CompressionError> {
    use crate::batch::{compute_crc, header_mut, BATCH_LENGTH_PREFIX_BYTES, MAGIC_V2};
    assert!(!records.is_empty(), "a batch holds at least one record");
    let mut body = Vec::new();
    for (i, (key, value)) in records.iter().enumerate() {
        encode_record(i as i64, i as i32, *key, *value, &mut body);
    }
    let body = compression::compress(codec, &body)?;
    let mut bytes = vec![0u8; BATCH_HEADER_BYTES];
    bytes.extend(body);
    let total = bytes.len();
    let header = header_mut(&mut bytes).expect("sized above");
    header
        .batch_length
        .set((total - BATCH_LENGTH_PREFIX_BYTES) as i32);
    header.partition_leader_epoch.set(-1);
    header.magic = MAGIC_V2;
    header.attributes.set(codec.id());
    header.last_offset_delta.set(records.len() as i32 - 1);
    header.base_timestamp.set(timestamp_ms);
    header
        .max_timestamp
        .set(timestamp_ms + records.len() as i64 - 1);
    header.producer_id.set(-1);
    header.producer_epoch.set(-1);
    header.base_sequence.set(-1);
    header.record_count.set(records.len() as i32);
    let crc = compute_crc(&bytes);
    header_mut(&mut bytes).expect("sized above").crc.set(crc);
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::{compute_crc, header_mut, BATCH_LENGTH_PREFIX_BYTES, MAGIC_V2};

    fn batch(codec: Codec, keys: &[Option<&[u8]>]) -> Vec<u8> {
        let mut records = Vec::new();
        for (i, key) in keys.iter().enumerate() {
            encode_record(i as i64 * 10, i as i32, *key, Some(b"value"), &mut records);
        }
        let body = compression::compress(codec, &records).unwrap();
        let mut bytes = vec![0u8; BATCH_HEADER_BYTES];
        bytes.extend(body);
        let total = bytes.len();
        let header = header_mut(&mut bytes).unwrap();
        header
            .batch_length
            .set((total - BATCH_LENGTH_PREFIX_BYTES) as i32);
        header.magic = MAGIC_V2;
        header.attributes.set(codec.id());
        header.last_offset_delta.set(keys.len() as i32 - 1);
        header.record_count.set(keys.len() as i32);
        header.producer_id.set(-1);
        let crc = compute_crc(&bytes);
        header_mut(&mut bytes).unwrap().crc.set(crc);
        bytes
    }

    #[test]
    fn reads_records_of_every_codec() {
        let keys: [Option<&[u8]>; 3] = [Some(b"a"), None, Some(b"ccc")];
        for codec in [
            Codec::None,
            Codec::Gzip,
            Codec::Snappy,
            Codec::Lz4,
            Codec::Zstd,
        ] {
            let bytes = batch(codec, &keys);
            let records = records(&bytes, 1 << 20).unwrap();
            let read: Vec<Record<'_>> = records.iter().collect::<Result<_, _>>().unwrap();
            assert_eq!(read.len(), 3, "{codec:?}");
            assert_eq!(read[0].key, Some(&b"a"[..]));
            assert_eq!(read[1].key, None);
            assert_eq!(read[2].offset_delta, 2);
            assert_eq!(read[2].timestamp_delta, 20);
            assert_eq!(read[2].value, Some(&b"value"[..]));
        }
    }

    #[test]
    fn timestamp_lookups_reach_into_compressed_batches() {
        let keys: [Option<&[u8]>; 3] = [None, None, None];
        for codec in [Codec::None, Codec::Gzip, Codec::Lz4, Codec::Zstd] {
            // Records at 0, 10, 20 (the helper's deltas), base offset 0.
            let bytes = batch(codec, &keys);
            assert_eq!(first_record_at_or_after(&bytes, 5, 1 << 20), Some((10, 1)));
            assert_eq!(first_record_at_or_after(&bytes, 20, 1 << 20), Some((20, 2)));
            assert_eq!(first_record_at_or_after(&bytes, 21, 1 << 20), None);
            if codec != Codec::None {
                // Past the bound: no answer (the caller falls back to the batch).
                assert_eq!(first_record_at_or_after(&bytes, 5, 4), None, "{codec:?}");
            }
        }
    }

    #[test]
    fn a_wrong_count_is_an_error() {
        let mut bytes = batch(Codec::None, &[Some(b"a"), Some(b"b")]);
        header_mut(&mut bytes).unwrap().record_count.set(1);
        let crc = compute_crc(&bytes);
        header_mut(&mut bytes).unwrap().crc.set(crc);
        let records = records(&bytes, 1 << 20).unwrap();
        let result: Result<Vec<_>, _> = records.iter().collect();
        assert!(matches!(result, Err(RecordError::CountMismatch { .. })));
    }

    #[test]
    fn hostile_lengths_never_panic() {
        // Every truncation and a byte flip at every position of a small
        // record area: errors, never a panic or a huge allocation.
        let mut area = Vec::new();
        encode_record(5, 0, Some(b"key"), Some(b"value"), &mut area);
        for cut in 0..area.len() {
            let _ = parse_record(&area[..cut]);
        }
        for i in 0..area.len() {
            for bit in 0..8 {
                let mut flipped = area.clone();
                flipped[i] ^= 1 << bit;
                let _ = parse_record(&flipped);
            }
        }
        // A header count of i64::MAX ends at the end of the bytes.
        let mut body = vec![0u8, 0, 0, 1, 1];
        write_varint(i64::MAX, &mut body);
        let mut record = Vec::new();
        write_varint(body.len() as i64, &mut record);
        record.extend(body);
        assert!(parse_record(&record).is_err());
    }
}
