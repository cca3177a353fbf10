//! A produced v0/v1 message set, validated as Kafka validates one and
//! converted to the one v2 batch the log stores (Kafka's behaviour with
//! `message.format.version` 3.0 and later: every batch is written as v2).
//!
//! ```text
//! message set                         v2 batch
//! [m0][m1][m2]          (uncompressed) records 0, 1, 2, uncompressed
//! [wrapper: codec(m0 m1 m2)]          records 0, 1, 2, compressed with
//!                                     the wrapper's codec
//! ```
//!
//! Offsets are the batch's (0..n-1), whatever the messages said; each
//! record keeps its key, value and timestamp (-1 for v0, which has none);
//! the batch is CreateTime, so a LogAppendTime topic stamps it like any
//! other batch. The rules are Kafka 3.9's `LogValidator` and
//! `analyzeAndValidateRecords` for a client's append:
//!
//! | rule | refusal |
//! |---|---|
//! | every message's CRC-32, every inner message's | `Corrupt` |
//! | a message (entry) over `max.message.bytes` | `TooLarge` |
//! | all messages of one magic | `InvalidRecord` |
//! | a compressed set is exactly one wrapper | `InvalidRecord` |
//! | an inner message is neither compressed nor of another magic | per record, `InvalidRecord` |
//! | timestamps ([`crate::validate::timestamps`]) | per record, `InvalidTimestamp` |
//!
//! A partial message at the end is dropped, as Kafka trims one.

use super::message::{parse_entry, Message};
use super::wrapper::{codec_of, inflate, inner_records};
use crate::batch_builder::{BatchBuilder, BatchFields};
use crate::compression::Codec;
use crate::validate::{RecordErrors, ValidationError, ValidationPolicy};

/// A message set converted to v2.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpConverted {
    /// One valid v2 batch, base offset 0, CreateTime.
    pub batch: Vec<u8>,
    pub record_count: i32,
    /// The records' max timestamp (-1 for v0).
    pub max_timestamp_ms: i64,
    /// The magic of the messages that came.
    pub source_magic: u8,
    /// The codec of the wrapper (and of the new batch).
    pub codec: Codec,
}

/// Validates the v0/v1 `message_set` a producer sent and converts it to one
/// v2 batch. `message_bytes_max` is the topic's `max.message.bytes`, which
/// each message entry must fit; the caller checks the converted batch
/// against it too, as Kafka re-checks a converted batch.
pub fn to_v2(
    message_set: &[u8],
    policy: &ValidationPolicy,
    message_bytes_max: usize,
    now_ms: i64,
) -> Result<UpConverted, ValidationError> {
    let entries = shallow_entries(message_set, message_bytes_max)?;
    let first = entries[0];
    let mut codec = Codec::None;
    for entry in &entries {
        if entry.magic != first.magic {
            return Err(ValidationError::invalid(format!(
                "Batch magic {} is not the same as the first batch's magic byte {}",
                entry.magic, first.magic
            )));
        }
        if entry.is_compressed() {
            codec = codec_of(entry)?;
        }
    }
    if codec != Codec::None && entries.len() > 1 {
        return Err(ValidationError::invalid(
            "Compressed outer record has more than one batch",
        ));
    }

    let mut builder = BatchBuilder::new(codec, BatchFields::default());
    let mut errors = RecordErrors::default();
    let timestamps = &policy.timestamps;
    if codec == Codec::None {
        for (index, message) in entries.iter().enumerate() {
            if let Some(error) = timestamps.check(
                message.timestamp_ms,
                message.is_log_append_time(),
                message.offset,
                now_ms,
            ) {
                errors.push(index, error, true);
            }
            push(&mut builder, index, message.timestamp_ms, message);
        }
    } else {
        let inflated = inflate(&first, policy.inflated_bytes_max)?;
        for (index, record) in inner_records(&first, &inflated)?.iter().enumerate() {
            let inner = &record.message;
            if inner.is_compressed() {
                errors.push(
                    index,
                    format!(
                        "Compressed outer record should not have an inner record with a \
                         compression attribute set: message with offset {}",
                        record.offset
                    ),
                    false,
                );
            } else if inner.magic != first.magic {
                errors.push(
                    index,
                    format!(
                        "Record with offset {}'s magic does not match outer magic {}",
                        record.offset, first.magic
                    ),
                    false,
                );
            } else {
                inner.check_crc()?;
                if let Some(error) = timestamps.check(
                    record.timestamp_ms,
                    record.log_append_time,
                    record.offset,
                    now_ms,
                ) {
                    errors.push(index, error, true);
                }
            }
            push(&mut builder, index, record.timestamp_ms, inner);
        }
    }
    errors.into_result()?;
    let record_count = builder.count();
    let max_timestamp_ms = builder.max_timestamp();
    Ok(UpConverted {
        batch: builder.finish(0)?,
        record_count,
        max_timestamp_ms,
        source_magic: first.magic,
        codec,
    })
}

/// The message set's top-level messages, each within `message_bytes_max`
/// and with a valid CRC; at least one.
fn shallow_entries(
    message_set: &[u8],
    message_bytes_max: usize,
) -> Result<Vec<Message<'_>>, ValidationError> {
    let mut entries = Vec::new();
    let mut rest = message_set;
    while let Some((message, used)) = parse_entry(rest)? {
        if used > message_bytes_max {
            return Err(ValidationError::TooLarge(format!(
                "The record batch size in the append is {used} bytes which exceeds the maximum \
                 configured value of {message_bytes_max}."
            )));
        }
        message.check_crc()?;
        entries.push(message);
        rest = &rest[used..];
    }
    if entries.is_empty() {
        return Err(ValidationError::invalid(
            "the message set holds no complete message",
        ));
    }
    Ok(entries)
}

fn push(builder: &mut BatchBuilder, index: usize, timestamp_ms: i64, message: &Message<'_>) {
    let offset_delta = i32::try_from(index).expect("a message set's messages fit i32 offsets");
    builder.push(offset_delta, timestamp_ms, message.key, message.value, &[0]);
}
