//! What a partition's produced records pass before the log stores them, and
//! the one place storage validation errors become Kafka error codes.
//!
//! ```text
//! records ──magic 2──► header: one batch, within max.message.bytes
//!    │                   └► sluice_io::validate::validate_batch (CRC, rules,
//!    │                      timestamps, real max timestamp) ──► borrowed bytes
//!    │                                                          + header stamp
//!    └──magic 0/1──► (Produce v0-2 only) sluice_io::legacy::to_v2 ──► one new
//!                    v2 batch, checked against max.message.bytes again
//! ```
//!
//! The stamp becomes the log's [`AppendTime`]: the log writes it into the
//! header while it copies the batch into its write buffer, so a valid batch
//! is copied once, as before.

use std::borrow::Cow;

use kafka_protocol::ResponseError;
use sluice_io::batch::{self, TimestampType};
use sluice_io::legacy::{self, MAGIC_V1};
use sluice_io::validate::{self, HeaderStamp, TimestampPolicy, ValidationError, ValidationPolicy};
use sluice_io::AppendTime;

use super::producer_state::ProducerBatch;

/// A compressed batch may inflate to this many times `max.message.bytes`
/// while it is validated, and at least to [`INFLATED_BYTES_MIN`]. Clients
/// bound their batches by uncompressed size (librdkafka's `batch.size`,
/// 1 MB) or by an estimate near `batch.size` (Java), so real batches stay
/// far below it; a compression bomb is refused with `MESSAGE_TOO_LARGE`
/// (Java producers then split the batch) after at most this much work.
pub const INFLATION_RATIO_MAX: usize = 32;
/// The least inflation bound, for topics with a small `max.message.bytes`.
pub const INFLATED_BYTES_MIN: usize = 32 << 20;

/// The formats a produce request may carry for a partition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordsFormat {
    /// Produce v3 and later: exactly one v2 batch.
    V2Batch,
    /// Produce v0-2: a v0/v1 message set (converted to v2) or a v2 batch.
    MessageSet,
}

/// A partition's rules for produced records (from its topic's config).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordRules {
    /// `max.message.bytes`.
    pub batch_bytes_max: usize,
    /// `message.timestamp.type` and the `message.timestamp.*.max.ms` window.
    pub timestamps: TimestampPolicy,
}

impl RecordRules {
    /// How far a compressed batch may inflate while it is checked.
    pub fn inflated_bytes_max(&self) -> usize {
        self.batch_bytes_max
            .saturating_mul(INFLATION_RATIO_MAX)
            .max(INFLATED_BYTES_MIN)
    }

    fn policy(&self) -> ValidationPolicy {
        ValidationPolicy {
            timestamps: self.timestamps,
            inflated_bytes_max: self.inflated_bytes_max(),
        }
    }
}

/// Records that passed: what to append and how.
#[derive(Debug)]
pub struct CheckedRecords<'a> {
    /// One v2 batch: the producer's bytes, or a batch made from them.
    pub batch: Cow<'a, [u8]>,
    pub append_time: AppendTime,
    pub producer: ProducerBatch,
}

/// Why records were refused, as a Produce response reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub error: ResponseError,
    pub message: String,
    /// (batch index, message) per refused record, for Produce v8+.
    pub record_errors: Vec<(i32, String)>,
}

impl Refusal {
    fn new(error: ResponseError, message: impl Into<String>) -> Self {
        Refusal {
            error,
            message: message.into(),
            record_errors: Vec::new(),
        }
    }
}

/// Kafka's error code for each storage validation error.
impl From<ValidationError> for Refusal {
    fn from(error: ValidationError) -> Self {
        let record_errors = error
            .record_errors()
            .iter()
            .map(|e| (e.batch_index, e.message.clone()))
            .collect();
        let code = match &error {
            ValidationError::Corrupt(_) => ResponseError::CorruptMessage,
            ValidationError::InvalidRecord { .. } => ResponseError::InvalidRecord,
            ValidationError::InvalidTimestamp { .. } => ResponseError::InvalidTimestamp,
            ValidationError::TooLarge(_) => ResponseError::MessageTooLarge,
        };
        Refusal {
            error: code,
            message: error.to_string(),
            record_errors,
        }
    }
}

/// Checks one partition's produced `records` at broker time `now_ms`.
pub fn check_records<'a>(
    records: &'a [u8],
    format: RecordsFormat,
    rules: &RecordRules,
    now_ms: i64,
) -> Result<CheckedRecords<'a>, Refusal> {
    let log_append_time = rules.timestamps.timestamp_type == TimestampType::LogAppendTime;
    match legacy::magic_of(records) {
        Some(magic) if magic <= MAGIC_V1 => {
            if format == RecordsFormat::V2Batch {
                return Err(Refusal::new(
                    ResponseError::UnsupportedForMessageFormat,
                    format!("message format v{magic} (magic {magic}) is not supported; produce v2 record batches"),
                ));
            }
            let converted = legacy::to_v2(records, &rules.policy(), rules.batch_bytes_max, now_ms)?;
            check_size(converted.batch.len(), rules)?;
            let append_time = if log_append_time {
                AppendTime::LogAppend(now_ms)
            } else {
                AppendTime::Create
            };
            let producer = producer_batch(batch::header(&converted.batch).expect("built whole"));
            Ok(CheckedRecords {
                batch: Cow::Owned(converted.batch),
                append_time,
                producer,
            })
        }
        _ => {
            let header = batch::header(records)
                .map_err(|e| Refusal::new(ResponseError::CorruptMessage, e.to_string()))?;
            let total = header.total_bytes();
            if total < records.len() {
                return Err(Refusal::new(
                    ResponseError::InvalidRecord,
                    "Produce requests with version 3 and above are only allowed to contain exactly one record batch",
                ));
            }
            check_size(total, rules)?;
            let validated = validate::validate_batch(records, &rules.policy(), now_ms)?;
            let append_time = match validated.stamp {
                HeaderStamp::Keep => AppendTime::Create,
                HeaderStamp::MaxTimestamp(ms) => AppendTime::CreateWithMaxTimestamp(ms),
                HeaderStamp::LogAppendTime(ms) => AppendTime::LogAppend(ms),
            };
            let producer = producer_batch(batch::header(&validated.batch).expect("validated"));
            Ok(CheckedRecords {
                batch: validated.batch,
                append_time,
                producer,
            })
        }
    }
}

fn check_size(total: usize, rules: &RecordRules) -> Result<(), Refusal> {
    if total > rules.batch_bytes_max {
        return Err(Refusal::new(
            ResponseError::MessageTooLarge,
            format!(
                "batch of {total} bytes exceeds max.message.bytes {}",
                rules.batch_bytes_max
            ),
        ));
    }
    Ok(())
}

pub(super) fn producer_batch(header: &batch::BatchHeader) -> ProducerBatch {
    ProducerBatch {
        producer_id: header.producer_id.get(),
        epoch: header.producer_epoch.get(),
        base_sequence: header.base_sequence.get(),
        record_count: header.record_count.get(),
    }
}

#[cfg(test)]
mod tests;
