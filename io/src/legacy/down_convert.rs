//! Stored v2 batches written as v0/v1 message sets for consumers that read
//! only those (Fetch v0-3, or `message.format.version` before 0.11), with
//! Kafka's rules (`RecordsUtil.downConvert`, `MemoryRecordsBuilder`):
//!
//! | v2 batch | becomes |
//! |---|---|
//! | control batch (transaction marker) | nothing: old consumers cannot read one |
//! | zstd-compressed | an error: v0/v1 have no zstd (`UNSUPPORTED_COMPRESSION_TYPE`) |
//! | uncompressed | one message per record, absolute offsets; records before the fetch offset left out |
//! | compressed | one wrapper of the same codec, every record inside (v1: relative inner offsets; v0: absolute), wrapper offset = last offset |
//!
//! Headers are dropped (v0/v1 have none); v0 drops timestamps too. A
//! LogAppendTime batch's time is every message's and the wrapper's; a
//! CreateTime wrapper carries its records' max timestamp. Transactional
//! data batches are converted like any other (old consumers read
//! uncommitted), as Kafka converts them.
//!
//! Not zero-copy: every byte is rewritten, and compressed batches are
//! inflated (within a bound) and compressed again.

use super::message::{write_entry, MessageFields};
use super::wrapper::compress_inner;
use super::{ATTRIBUTE_LOG_APPEND_TIME, MAGIC_V0, MAGIC_V1};
use crate::batch::{self, BatchError, ATTRIBUTE_CONTROL};
use crate::compression::{Codec, CompressionError};
use crate::records::{records_of_validated, RecordError};

/// How to down-convert.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DownConvertOptions {
    /// 0 or 1.
    pub magic: u8,
    /// The fetch offset: an uncompressed batch's earlier records are left
    /// out (old consumers expect none before it).
    pub first_offset: i64,
    /// How far one compressed batch may inflate.
    pub inflated_bytes_max: usize,
    /// No further batch is converted once the output has this many bytes
    /// (the first one always is, as Fetch returns at least one).
    pub output_bytes_max: usize,
}

/// Message sets made from stored batches.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DownConverted {
    pub bytes: Vec<u8>,
    /// The offset after the last batch taken (converted or skipped): where
    /// the next read continues.
    pub next_offset: i64,
    pub batches: usize,
    pub messages: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DownConvertError {
    #[error("down-conversion of zstd-compressed batches is not supported (batch at offset {base_offset})")]
    Zstd { base_offset: i64 },
    #[error("magic {0} is not a down-conversion target (0 or 1)")]
    BadMagic(u8),
    #[error("stored batch at byte {position}: {source}")]
    Batch { position: usize, source: BatchError },
    #[error(transparent)]
    Records(#[from] RecordError),
    #[error(transparent)]
    Compression(#[from] CompressionError),
}

/// Converts the v2 batches in `batches` (as a log read returns them). A
/// partial batch at the end is left alone, as Fetch may end with one.
pub fn down_convert(
    batches: &[u8],
    options: &DownConvertOptions,
) -> Result<DownConverted, DownConvertError> {
    if options.magic > MAGIC_V1 {
        return Err(DownConvertError::BadMagic(options.magic));
    }
    let mut converted = DownConverted {
        next_offset: options.first_offset,
        ..DownConverted::default()
    };
    for item in batch::iter(batches) {
        if converted.batches > 0 && converted.bytes.len() >= options.output_bytes_max {
            break;
        }
        let (_, bytes) = match item {
            Ok(item) => item,
            Err((position, _)) if is_partial(&batches[position..]) => break,
            Err((position, source)) => return Err(DownConvertError::Batch { position, source }),
        };
        converted.messages += convert_batch(bytes, options, &mut converted.bytes)?;
        converted.batches += 1;
        converted.next_offset = batch::header(bytes).expect("validated").last_offset() + 1;
    }
    Ok(converted)
}

/// True if `rest` is the start of a batch cut short (its length field
/// missing or saying more than is there), not a broken one.
fn is_partial(rest: &[u8]) -> bool {
    match rest.get(8..12) {
        None => true,
        Some(length) => {
            let length = i32::from_be_bytes(length.try_into().expect("4 bytes"));
            batch::BATCH_LENGTH_PREFIX_BYTES as i64 + length as i64 > rest.len() as i64
        }
    }
}

/// Appends the message set for one valid v2 `batch` to `out`; returns the
/// messages written (0 for a control batch or one wholly before the fetch
/// offset).
pub fn convert_batch(
    batch: &[u8],
    options: &DownConvertOptions,
    out: &mut Vec<u8>,
) -> Result<usize, DownConvertError> {
    let header = batch::validate(batch).map_err(|source| DownConvertError::Batch {
        position: 0,
        source,
    })?;
    let attributes = header.attributes.get();
    if attributes & ATTRIBUTE_CONTROL != 0 {
        return Ok(0);
    }
    let codec = Codec::from_attributes(attributes)?;
    if codec == Codec::Zstd {
        return Err(DownConvertError::Zstd {
            base_offset: header.base_offset(),
        });
    }
    let magic = options.magic;
    let log_append_time = header.is_log_append_time();
    let timestamp_attribute = if magic == MAGIC_V1 && log_append_time {
        ATTRIBUTE_LOG_APPEND_TIME
    } else {
        0
    };
    let records = records_of_validated(batch, header, options.inflated_bytes_max)?;
    let base_offset = header.base_offset();
    let base_timestamp = header.base_timestamp.get();
    let timestamp_of = |delta: i64| {
        if log_append_time {
            header.max_timestamp()
        } else {
            base_timestamp.wrapping_add(delta)
        }
    };

    if codec == Codec::None {
        let mut written = 0;
        for record in records.iter() {
            let record = record?;
            let offset = base_offset + record.offset_delta as i64;
            if offset < options.first_offset {
                continue;
            }
            let fields = MessageFields {
                magic,
                attributes: timestamp_attribute,
                timestamp_ms: timestamp_of(record.timestamp_delta),
                key: record.key,
                value: record.value,
            };
            write_entry(out, offset, &fields);
            written += 1;
        }
        return Ok(written);
    }

    let mut inner = Vec::new();
    let mut first_offset = None;
    let mut last_offset = base_offset;
    let mut max_timestamp = -1i64;
    let mut written = 0;
    for record in records.iter() {
        let record = record?;
        let offset = base_offset + record.offset_delta as i64;
        let wrapper_base = *first_offset.get_or_insert(offset);
        let timestamp_ms = timestamp_of(record.timestamp_delta);
        let inner_offset = if magic == MAGIC_V0 {
            offset
        } else {
            offset - wrapper_base
        };
        let fields = MessageFields {
            magic,
            attributes: timestamp_attribute,
            timestamp_ms,
            key: record.key,
            value: record.value,
        };
        write_entry(&mut inner, inner_offset, &fields);
        last_offset = offset;
        max_timestamp = max_timestamp.max(timestamp_ms);
        written += 1;
    }
    if written == 0 {
        return Ok(0);
    }
    let value = compress_inner(codec, magic, &inner)?;
    let wrapper = MessageFields {
        magic,
        attributes: codec.id() as u8 | timestamp_attribute,
        timestamp_ms: if log_append_time {
            header.max_timestamp()
        } else {
            max_timestamp
        },
        key: None,
        value: Some(&value),
    };
    write_entry(out, last_offset, &wrapper);
    Ok(written)
}
