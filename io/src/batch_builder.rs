//! Writing v2 record batches the broker makes itself: a v0/v1 message set
//! converted on produce ([`crate::legacy::up_convert`]) and a batch whose
//! records had to be renumbered ([`crate::validate`]). Produced batches are
//! never rebuilt on the fast path; they are stored as they came.
//!
//! The header is the one [`crate::batch`] draws; the base timestamp is the
//! first record's (as Kafka's `MemoryRecordsBuilder` writes it) and each
//! record stores its timestamp as a delta from it.

use crate::batch::{
    compute_crc, header_mut, ATTRIBUTE_COMPRESSION_MASK, BATCH_HEADER_BYTES,
    BATCH_LENGTH_PREFIX_BYTES, MAGIC_V2,
};
use crate::compression::{self, Codec, CompressionError};
use crate::records::encode_record_with_headers;

/// Header fields a builder copies into the batch as they are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchFields {
    /// Attributes bits other than the codec (timestamp type, transactional,
    /// control).
    pub attributes: i16,
    pub partition_leader_epoch: i32,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
}

impl Default for BatchFields {
    /// A CreateTime batch without a producer id.
    fn default() -> Self {
        BatchFields {
            attributes: 0,
            partition_leader_epoch: -1,
            producer_id: -1,
            producer_epoch: -1,
            base_sequence: -1,
        }
    }
}

/// Collects records and writes one v2 batch.
pub struct BatchBuilder {
    codec: Codec,
    fields: BatchFields,
    records: Vec<u8>,
    count: i32,
    base_timestamp: Option<i64>,
    max_timestamp: i64,
    last_offset_delta: i32,
}

impl BatchBuilder {
    pub fn new(codec: Codec, fields: BatchFields) -> Self {
        BatchBuilder {
            codec,
            fields,
            records: Vec::new(),
            count: 0,
            base_timestamp: None,
            max_timestamp: -1,
            last_offset_delta: -1,
        }
    }

    /// Records pushed so far.
    pub fn count(&self) -> i32 {
        self.count
    }

    /// Appends a record. `headers` is the encoded header count and headers
    /// (`&[0]` for none). Offset deltas must increase.
    pub fn push(
        &mut self,
        offset_delta: i32,
        timestamp_ms: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[u8],
    ) {
        assert!(
            offset_delta > self.last_offset_delta,
            "offset deltas increase within a batch"
        );
        let base = *self.base_timestamp.get_or_insert(timestamp_ms);
        encode_record_with_headers(
            timestamp_ms.wrapping_sub(base),
            offset_delta,
            key,
            value,
            headers,
            &mut self.records,
        );
        self.count += 1;
        self.last_offset_delta = offset_delta;
        self.max_timestamp = self.max_timestamp.max(timestamp_ms);
    }

    /// The largest timestamp pushed (-1 if none had one).
    pub fn max_timestamp(&self) -> i64 {
        self.max_timestamp
    }

    /// Writes the batch: compresses the records with the builder's codec and
    /// computes the CRC-32C.
    ///
    /// # Panics
    /// If no record was pushed (a batch has at least one).
    pub fn finish(self, base_offset: i64) -> Result<Vec<u8>, CompressionError> {
        assert!(self.count > 0, "a batch has at least one record");
        let body = compression::compress(self.codec, &self.records)?;
        let mut bytes = vec![0u8; BATCH_HEADER_BYTES];
        bytes.extend_from_slice(&body);
        let total = bytes.len();
        let header = header_mut(&mut bytes).expect("sized above");
        header.base_offset.set(base_offset);
        header
            .batch_length
            .set((total - BATCH_LENGTH_PREFIX_BYTES) as i32);
        header
            .partition_leader_epoch
            .set(self.fields.partition_leader_epoch);
        header.magic = MAGIC_V2;
        header
            .attributes
            .set((self.fields.attributes & !ATTRIBUTE_COMPRESSION_MASK) | self.codec.id());
        header.last_offset_delta.set(self.last_offset_delta);
        header
            .base_timestamp
            .set(self.base_timestamp.expect("a record was pushed"));
        header.max_timestamp.set(self.max_timestamp);
        header.producer_id.set(self.fields.producer_id);
        header.producer_epoch.set(self.fields.producer_epoch);
        header.base_sequence.set(self.fields.base_sequence);
        header.record_count.set(self.count);
        let crc = compute_crc(&bytes);
        header_mut(&mut bytes).expect("sized above").crc.set(crc);
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch;
    use crate::records::records;

    #[test]
    fn built_batches_validate_and_read_back() {
        for codec in [
            Codec::None,
            Codec::Gzip,
            Codec::Snappy,
            Codec::Lz4,
            Codec::Zstd,
        ] {
            let mut builder = BatchBuilder::new(codec, BatchFields::default());
            builder.push(0, 1_000, Some(b"k"), Some(b"v0"), &[0]);
            builder.push(1, 990, None, Some(b"v1"), &[0]);
            builder.push(2, 1_500, None, None, &[2, 2, b'h', 2, b'x']);
            let bytes = builder.finish(0).unwrap();
            let header = batch::validate(&bytes).unwrap();
            assert_eq!(header.base_timestamp.get(), 1_000, "{codec:?}");
            assert_eq!(header.max_timestamp(), 1_500);
            assert_eq!(header.last_offset_delta.get(), 2);
            assert_eq!(
                header.attributes.get() & ATTRIBUTE_COMPRESSION_MASK,
                codec.id()
            );
            let read = records(&bytes, 1 << 20).unwrap();
            let all: Vec<_> = read.iter().collect::<Result<_, _>>().unwrap();
            assert_eq!(all.len(), 3);
            assert_eq!(all[1].timestamp_delta, -10);
            assert_eq!(all[2].value, None);
            assert_eq!(all[2].headers, &[2, 2, b'h', 2, b'x']);
        }
    }
}
