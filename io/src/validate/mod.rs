//! A produced v2 batch checked as Kafka's `LogValidator` checks it, before
//! it is stored.
//!
//! ```text
//! batch::validate        length, magic, offsets, CRC-32C        (every batch)
//!   base offset 0, count == lastOffsetDelta + 1, no control batch,
//!   a producer id has a sequence                                 (header only)
//! record walk            in place if uncompressed; inflated within
//!                        `inflated_bytes_max` if compressed
//!   each record's timestamp against the topic's policy           (timestamps.rs)
//!   offset deltas 0, 1, ..., n-1
//!   the batch's real max timestamp
//! verdict                the bytes to store (the producer's, or a rebuilt
//!                        batch) and what to write into their header
//! ```
//!
//! The fast path copies nothing: the verdict borrows the produced bytes and
//! says how the log rewrites the header while it copies them into its write
//! buffer (the broker's time for LogAppendTime topics; the records' real
//! max timestamp when the producer's header disagrees). Only a batch whose
//! offset deltas are not 0..n-1 is rebuilt (and, if compressed,
//! recompressed), as Kafka rebuilds such batches; Kafka keeps an
//! uncompressed one as it came, which gives its records wrong offsets.
//!
//! Errors are domain variants ([`ValidationError`]); the broker maps them to
//! Kafka's error codes in one place.

pub mod timestamps;

use std::borrow::Cow;

use crate::batch::{self, BatchError, ATTRIBUTE_COMPRESSION_MASK, ATTRIBUTE_CONTROL, MAGIC_V2};
use crate::batch_builder::{BatchBuilder, BatchFields};
use crate::compression::{Codec, CompressionError};
use crate::records::{records_of_validated, RecordError as ReadError};
pub use timestamps::{TimestampPolicy, NO_TIMESTAMP};

/// At most this many per-record errors are listed in a refusal (the
/// top-level error covers the rest); a batch of a million bad records does
/// not make a million messages.
pub const RECORD_ERRORS_MAX: usize = 1024;

/// A topic's rules for produced records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ValidationPolicy {
    pub timestamps: TimestampPolicy,
    /// How far a compressed batch may inflate while it is checked; past it
    /// the batch is refused (a compression bomb costs at most this much).
    pub inflated_bytes_max: usize,
}

/// One refused record, as Produce v8+ reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordError {
    /// The record's index in its batch (0-based).
    pub batch_index: i32,
    pub message: String,
}

/// Why a produced batch is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ValidationError {
    /// A checksum mismatch or bytes that do not decode (Kafka's
    /// `CorruptRecordException`).
    #[error("{0}")]
    Corrupt(String),
    /// Kafka's `InvalidRecordException`: well-formed bytes that break a rule.
    #[error("{message}")]
    InvalidRecord {
        message: String,
        record_errors: Vec<RecordError>,
    },
    /// One or more records' timestamps are outside the topic's window, or a
    /// producer claimed LogAppendTime.
    #[error("{message}")]
    InvalidTimestamp {
        message: String,
        record_errors: Vec<RecordError>,
    },
    /// Larger than allowed: a message over `max.message.bytes`, or a
    /// compressed batch that inflates past the bound.
    #[error("{0}")]
    TooLarge(String),
}

impl ValidationError {
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        ValidationError::InvalidRecord {
            message: message.into(),
            record_errors: Vec::new(),
        }
    }

    /// The per-record errors, if any (empty for batch-level refusals).
    pub fn record_errors(&self) -> &[RecordError] {
        match self {
            ValidationError::InvalidRecord { record_errors, .. }
            | ValidationError::InvalidTimestamp { record_errors, .. } => record_errors,
            _ => &[],
        }
    }
}

/// Per-record errors as a batch is walked: the first [`RECORD_ERRORS_MAX`]
/// kept, all counted.
#[derive(Debug, Default)]
pub(crate) struct RecordErrors {
    listed: Vec<RecordError>,
    total: usize,
    any_timestamp: bool,
}

impl RecordErrors {
    pub(crate) fn push(&mut self, batch_index: usize, message: String, is_timestamp: bool) {
        self.total += 1;
        self.any_timestamp |= is_timestamp;
        if self.listed.len() < RECORD_ERRORS_MAX {
            self.listed.push(RecordError {
                batch_index: batch_index as i32,
                message,
            });
        }
    }

    /// Kafka's `processRecordErrors`: nothing if no record failed; else
    /// INVALID_TIMESTAMP if any timestamp failed, INVALID_RECORD otherwise.
    pub(crate) fn into_result(self) -> Result<(), ValidationError> {
        if self.total == 0 {
            return Ok(());
        }
        if self.any_timestamp {
            return Err(ValidationError::InvalidTimestamp {
                message: "One or more records have been rejected due to invalid timestamp".into(),
                record_errors: self.listed,
            });
        }
        let first: Vec<&str> = self
            .listed
            .iter()
            .take(3)
            .map(|e| e.message.as_str())
            .collect();
        let message = format!(
            "One or more records have been rejected due to {} record errors in total, \
             and only showing the first three errors at most: [{}]",
            self.total,
            first.join(", ")
        );
        Err(ValidationError::InvalidRecord {
            message,
            record_errors: self.listed,
        })
    }
}

impl From<CompressionError> for ValidationError {
    fn from(error: CompressionError) -> Self {
        match error {
            CompressionError::TooLarge { .. } => ValidationError::TooLarge(error.to_string()),
            other => ValidationError::Corrupt(other.to_string()),
        }
    }
}

impl From<ReadError> for ValidationError {
    fn from(error: ReadError) -> Self {
        match error {
            ReadError::Batch(error) => error.into(),
            ReadError::Compression(error) => error.into(),
            // Kafka's record reader throws InvalidRecordException for both.
            other @ (ReadError::Malformed { .. } | ReadError::CountMismatch { .. }) => {
                ValidationError::invalid(other.to_string())
            }
        }
    }
}

impl From<BatchError> for ValidationError {
    fn from(error: BatchError) -> Self {
        match error {
            BatchError::BadMagic(_) => ValidationError::invalid(error.to_string()),
            other => ValidationError::Corrupt(other.to_string()),
        }
    }
}

/// What the log writes into a validated batch's header as it stores it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeaderStamp {
    /// The header is right as it is.
    Keep,
    /// The records' real max timestamp differs from the header's: write it
    /// (and the CRC).
    MaxTimestamp(i64),
    /// A LogAppendTime topic: mark the batch LogAppendTime with this broker
    /// time as its max timestamp (and the CRC).
    LogAppendTime(i64),
}

/// A batch that passed: the bytes to store and how to stamp their header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Validated<'a> {
    /// The producer's bytes, or a rebuilt batch if its offset deltas had to
    /// be renumbered.
    pub batch: Cow<'a, [u8]>,
    pub stamp: HeaderStamp,
    /// The batch's max timestamp once stamped.
    pub max_timestamp_ms: i64,
    pub record_count: i32,
}

/// Validates the one v2 batch that is all of `bytes` (as a produce request
/// carries it) against `policy` at broker time `now_ms`.
pub fn validate_batch<'a>(
    bytes: &'a [u8],
    policy: &ValidationPolicy,
    now_ms: i64,
) -> Result<Validated<'a>, ValidationError> {
    let header = batch::validate(bytes)?;
    if header.total_bytes() != bytes.len() {
        return Err(ValidationError::invalid(format!(
            "{} bytes follow the record batch",
            bytes.len() - header.total_bytes()
        )));
    }
    debug_assert_eq!(header.magic, MAGIC_V2);
    check_header(header)?;

    let batch_is_log_append_time = header.is_log_append_time();
    let base_offset = header.base_offset();
    let base_timestamp = header.base_timestamp.get();
    let records = records_of_validated(bytes, header, policy.inflated_bytes_max)?;
    let mut max_timestamp = NO_TIMESTAMP;
    let mut renumber = false;
    let mut record_errors = RecordErrors::default();
    for (index, record) in records.iter().enumerate() {
        let record = record?;
        let timestamp = if batch_is_log_append_time {
            header.max_timestamp()
        } else {
            base_timestamp.wrapping_add(record.timestamp_delta)
        };
        let offset = base_offset + record.offset_delta as i64;
        if let Some(message) =
            policy
                .timestamps
                .check(timestamp, batch_is_log_append_time, offset, now_ms)
        {
            record_errors.push(index, message, true);
        }
        renumber |= record.offset_delta as i64 != index as i64;
        max_timestamp = max_timestamp.max(timestamp);
    }
    record_errors.into_result()?;

    let record_count = header.record_count.get();
    let batch = if renumber {
        Cow::Owned(renumbered(header, &records)?)
    } else {
        Cow::Borrowed(bytes)
    };
    let (stamp, max_timestamp_ms) = match policy.timestamps.timestamp_type {
        batch::TimestampType::LogAppendTime => (HeaderStamp::LogAppendTime(now_ms), now_ms),
        batch::TimestampType::CreateTime => {
            let stored = batch::header(&batch).expect("validated").max_timestamp();
            if stored == max_timestamp {
                (HeaderStamp::Keep, max_timestamp)
            } else {
                (HeaderStamp::MaxTimestamp(max_timestamp), max_timestamp)
            }
        }
    };
    Ok(Validated {
        batch,
        stamp,
        max_timestamp_ms,
        record_count,
    })
}

/// Kafka's `validateBatch` for a client's batch, and the base offset rule of
/// `analyzeAndValidateRecords`: checks of the header alone.
fn check_header(header: &batch::BatchHeader) -> Result<(), ValidationError> {
    if header.base_offset() != 0 {
        return Err(ValidationError::invalid(format!(
            "The baseOffset of the record batch in the append should be 0, but it is {}",
            header.base_offset()
        )));
    }
    let count = header.record_count.get();
    let count_from_offsets = header.last_offset_delta.get() as i64 + 1;
    if count <= 0 {
        return Err(ValidationError::invalid(format!(
            "Invalid reported count for record batch: {count}"
        )));
    }
    if count_from_offsets != count as i64 {
        return Err(ValidationError::invalid(format!(
            "Inconsistent batch offset range [0, {}] and count of records {count}",
            header.last_offset_delta.get()
        )));
    }
    let attributes = header.attributes.get();
    if attributes & ATTRIBUTE_CONTROL != 0 {
        return Err(ValidationError::invalid(
            "Clients are not allowed to write control records",
        ));
    }
    if header.producer_id.get() >= 0 && header.base_sequence.get() < 0 {
        return Err(ValidationError::invalid(format!(
            "Invalid sequence number {} in record batch with producerId {}",
            header.base_sequence.get(),
            header.producer_id.get()
        )));
    }
    Codec::from_attributes(attributes)?;
    Ok(())
}

/// The batch again with offset deltas 0..n-1, everything else kept.
fn renumbered(
    header: &batch::BatchHeader,
    records: &crate::records::BatchRecords<'_>,
) -> Result<Vec<u8>, ValidationError> {
    let attributes = header.attributes.get();
    let codec = Codec::from_attributes(attributes)?;
    let mut builder = BatchBuilder::new(
        codec,
        BatchFields {
            attributes: attributes & !ATTRIBUTE_COMPRESSION_MASK,
            partition_leader_epoch: header.partition_leader_epoch.get(),
            producer_id: header.producer_id.get(),
            producer_epoch: header.producer_epoch.get(),
            base_sequence: header.base_sequence.get(),
        },
    );
    let base_timestamp = header.base_timestamp.get();
    for (index, record) in records.iter().enumerate() {
        let record = record?;
        builder.push(
            index as i32,
            base_timestamp.wrapping_add(record.timestamp_delta),
            record.key,
            record.value,
            record.headers,
        );
    }
    Ok(builder.finish(header.base_offset())?)
}

#[cfg(test)]
mod tests;
