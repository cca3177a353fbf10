//! Compressed v0/v1 message sets: a wrapper message whose value is a
//! compressed message set of inner messages.
//!
//! ```text
//! wrapper: offset = last inner offset (absolute), attributes = codec
//!          [| LogAppendTime], timestamp = max inner (or append) time, key null
//!   value = compress(inner entry, inner entry, ...)
//!     v1 inner offsets are relative: 0, 1, ..., n-1, and an inner record's
//!        offset is wrapper.offset - last inner + its own (KIP-31);
//!        a wrapper offset of 0 (some librdkafka versions) means base 0
//!     v0 inner offsets are absolute, as written
//! ```
//!
//! Inner timestamps follow Kafka's `LegacyRecord.timestamp()`: a
//! LogAppendTime wrapper's time stands for every inner message; otherwise
//! each v1 inner message has its own, and v0 has none. Inflation is bounded
//! ([`crate::compression`]); LZ4 in v0 wrappers uses the old header checksum
//! ([`super::lz4_framing`]).

use super::lz4_framing;
use super::message::{parse_entry, Message};
use super::{MAGIC_V0, MAGIC_V1};
use crate::compression::{self, Codec, CompressionError};
use crate::validate::{ValidationError, NO_TIMESTAMP};

/// The codec a v0/v1 message names. zstd never existed for these formats
/// (Kafka refuses it as an invalid wrapper); ids 5-7 name nothing.
pub fn codec_of(message: &Message<'_>) -> Result<Codec, ValidationError> {
    match Codec::from_attributes(message.codec_id() as i16)? {
        Codec::Zstd => Err(ValidationError::invalid(format!(
            "Invalid wrapper compressionType ZSTD found in a magic {} message",
            message.magic
        ))),
        codec => Ok(codec),
    }
}

/// The inner message set of a compressed `wrapper`, at most
/// `inflated_bytes_max` bytes of it.
pub fn inflate(
    wrapper: &Message<'_>,
    inflated_bytes_max: usize,
) -> Result<Vec<u8>, ValidationError> {
    let codec = codec_of(wrapper)?;
    let value = wrapper.value.ok_or_else(|| {
        ValidationError::invalid(format!(
            "Found invalid compressed record set with null value (magic = {})",
            wrapper.magic
        ))
    })?;
    if codec == Codec::Lz4 && wrapper.magic == MAGIC_V0 {
        let fixed = lz4_framing::with_spec_checksum(value)
            .ok_or_else(|| ValidationError::Corrupt("LZ4 frame descriptor cut short".into()))?;
        return Ok(compression::decompress(codec, &fixed, inflated_bytes_max)?);
    }
    Ok(compression::decompress(codec, value, inflated_bytes_max)?)
}

/// One inner message with the offset and timestamp Kafka gives it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InnerRecord<'a> {
    pub offset: i64,
    pub timestamp_ms: i64,
    /// The effective timestamp type is LogAppendTime (the wrapper's).
    pub log_append_time: bool,
    pub message: Message<'a>,
}

/// The inner messages of `wrapper`, read from its inflated value. A partial
/// entry at the end is where the set stops, as in Kafka's reader.
pub fn inner_records<'a>(
    wrapper: &Message<'_>,
    inflated: &'a [u8],
) -> Result<Vec<InnerRecord<'a>>, ValidationError> {
    let mut inner = Vec::new();
    let mut rest = inflated;
    while let Some((message, used)) = parse_entry(rest)? {
        rest = &rest[used..];
        let log_append_time = wrapper.is_log_append_time();
        let timestamp_ms = match message.magic {
            MAGIC_V0 => NO_TIMESTAMP,
            _ if log_append_time => wrapper.timestamp_ms,
            _ => message.timestamp_ms,
        };
        inner.push(InnerRecord {
            offset: message.offset,
            timestamp_ms,
            log_append_time,
            message,
        });
    }
    let Some(last) = inner.last() else {
        return Err(ValidationError::invalid(
            "Found invalid compressed record set with no inner records",
        ));
    };
    if wrapper.magic == MAGIC_V1 {
        let last_inner = last.offset;
        let base = if wrapper.offset == 0 {
            0
        } else if wrapper.offset < last_inner {
            return Err(ValidationError::invalid(format!(
                "Found invalid wrapper offset in compressed v1 message set, wrapper offset '{}' \
                 is less than the last inner message offset '{last_inner}' and it is not zero.",
                wrapper.offset
            )));
        } else {
            wrapper.offset - last_inner
        };
        for record in &mut inner {
            record.offset = base.wrapping_add(record.offset);
        }
    }
    Ok(inner)
}

/// Compresses an inner message set for a wrapper of `magic`: LZ4 frames for
/// v0 carry the old header checksum their readers expect.
///
/// # Panics
/// For zstd, which v0/v1 cannot carry (down-conversion refuses it first).
pub fn compress_inner(codec: Codec, magic: u8, inner: &[u8]) -> Result<Vec<u8>, CompressionError> {
    assert!(codec != Codec::Zstd, "zstd has no v0/v1 wrapper");
    let mut packed = compression::compress(codec, inner)?;
    if codec == Codec::Lz4 && magic == MAGIC_V0 {
        lz4_framing::break_checksum_for_v0(&mut packed);
    }
    Ok(packed)
}

#[cfg(test)]
mod tests {
    use super::super::message::{write_entry, MessageFields};
    use super::*;

    fn inner_set(magic: u8, offsets: &[i64]) -> Vec<u8> {
        let mut out = Vec::new();
        for (i, offset) in offsets.iter().enumerate() {
            let value = format!("m{i}");
            write_entry(
                &mut out,
                *offset,
                &MessageFields {
                    magic,
                    attributes: 0,
                    timestamp_ms: 1_000 + i as i64,
                    key: None,
                    value: Some(value.as_bytes()),
                },
            );
        }
        out
    }

    fn wrapper(codec: Codec, magic: u8, offset: i64, attributes: u8, inner: &[u8]) -> Vec<u8> {
        let value = compress_inner(codec, magic, inner).unwrap();
        let mut out = Vec::new();
        write_entry(
            &mut out,
            offset,
            &MessageFields {
                magic,
                attributes: codec.id() as u8 | attributes,
                timestamp_ms: 5_000,
                key: None,
                value: Some(&value),
            },
        );
        out
    }

    fn read(entry: &[u8]) -> Vec<(i64, i64, bool)> {
        let (message, _) = parse_entry(entry).unwrap().unwrap();
        let inflated = inflate(&message, 1 << 20).unwrap();
        inner_records(&message, &inflated)
            .unwrap()
            .iter()
            .map(|r| (r.offset, r.timestamp_ms, r.log_append_time))
            .collect()
    }

    #[test]
    fn v1_offsets_are_relative_to_the_wrapper() {
        for codec in [Codec::Gzip, Codec::Snappy, Codec::Lz4] {
            let inner = inner_set(MAGIC_V1, &[0, 1, 2]);
            assert_eq!(
                read(&wrapper(codec, MAGIC_V1, 102, 0, &inner)),
                [
                    (100, 1_000, false),
                    (101, 1_001, false),
                    (102, 1_002, false)
                ],
                "{codec:?}"
            );
            // librdkafka's wrapper offset 0 means base 0.
            assert_eq!(read(&wrapper(codec, MAGIC_V1, 0, 0, &inner))[2].0, 2);
            // LogAppendTime: the wrapper's time for every inner message.
            let appended = read(&wrapper(codec, MAGIC_V1, 2, 0x08, &inner));
            assert!(appended.iter().all(|r| r.1 == 5_000 && r.2));
        }
    }

    #[test]
    fn v0_offsets_are_absolute_and_lz4_uses_the_old_checksum() {
        for codec in [Codec::Gzip, Codec::Snappy, Codec::Lz4] {
            let inner = inner_set(MAGIC_V0, &[40, 41, 42]);
            assert_eq!(
                read(&wrapper(codec, MAGIC_V0, 42, 0, &inner)),
                [(40, -1, false), (41, -1, false), (42, -1, false)],
                "{codec:?}"
            );
        }
        // A v0 LZ4 value is not a standard frame; a v1 one is.
        let inner = inner_set(MAGIC_V0, &[0]);
        let v0 = compress_inner(Codec::Lz4, MAGIC_V0, &inner).unwrap();
        assert!(compression::decompress(Codec::Lz4, &v0, 1 << 20).is_err());
        let v1 = compress_inner(Codec::Lz4, MAGIC_V1, &inner).unwrap();
        assert_eq!(
            compression::decompress(Codec::Lz4, &v1, 1 << 20).unwrap(),
            inner
        );
    }

    #[test]
    fn broken_wrappers_are_refused() {
        let inner = inner_set(MAGIC_V1, &[0, 1, 2]);
        let low = wrapper(Codec::Gzip, MAGIC_V1, 1, 0, &inner);
        let (message, _) = parse_entry(&low).unwrap().unwrap();
        let inflated = inflate(&message, 1 << 20).unwrap();
        assert!(matches!(
            inner_records(&message, &inflated),
            Err(ValidationError::InvalidRecord { .. })
        ));
        let empty = wrapper(Codec::Gzip, MAGIC_V1, 0, 0, &[]);
        let (message, _) = parse_entry(&empty).unwrap().unwrap();
        assert!(inner_records(&message, &inflate(&message, 1 << 20).unwrap()).is_err());
        let bomb = wrapper(Codec::Gzip, MAGIC_V1, 0, 0, &vec![0u8; 4 << 20]);
        let (message, _) = parse_entry(&bomb).unwrap().unwrap();
        assert!(matches!(
            inflate(&message, 1 << 20),
            Err(ValidationError::TooLarge(_))
        ));
        let mut zstd = wrapper(Codec::Gzip, MAGIC_V1, 0, 0, &inner);
        zstd[17] = 4;
        let (message, _) = parse_entry(&zstd).unwrap().unwrap();
        assert!(matches!(
            inflate(&message, 1 << 20),
            Err(ValidationError::InvalidRecord { .. })
        ));
    }
}
