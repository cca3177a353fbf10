//! One v0/v1 message and its log entry header (Kafka's `LegacyRecord` and
//! `AbstractLegacyRecordBatch`), read and written.
//!
//! ```text
//! offset      i64   the message's offset (a wrapper's: its last inner offset)
//! size        i32   bytes after this field
//! crc         u32   CRC-32 (IEEE, not Castagnoli) of magic..end
//! magic       i8    0 or 1
//! attributes  i8    bits 0-2 codec; bit 3 LogAppendTime (v1 only)
//! timestamp   i64   v1 only
//! key         i32 length (-1 null), bytes
//! value       i32 length (-1 null), bytes   (a wrapper: the compressed inner set)
//! ```

use super::{ATTRIBUTE_CODEC_MASK, ATTRIBUTE_LOG_APPEND_TIME, MAGIC_V0, MAGIC_V1};
use crate::validate::{ValidationError, NO_TIMESTAMP};

/// Offset and size fields before each message.
pub const LOG_OVERHEAD_BYTES: usize = 12;
/// Smallest v0 message (crc, magic, attributes, two lengths): Kafka's
/// `RECORD_OVERHEAD_V0`, the least `size` it accepts.
pub const MESSAGE_OVERHEAD_V0_BYTES: usize = 14;
/// Smallest v1 message (with the timestamp).
pub const MESSAGE_OVERHEAD_V1_BYTES: usize = 22;
/// The CRC covers the message from the magic byte on.
const CRC_START: usize = LOG_OVERHEAD_BYTES + 4;

/// One message as it lies, borrowing its bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Message<'a> {
    pub offset: i64,
    pub magic: u8,
    pub attributes: u8,
    /// The stored timestamp; [`NO_TIMESTAMP`] for v0.
    pub timestamp_ms: i64,
    pub key: Option<&'a [u8]>,
    pub value: Option<&'a [u8]>,
    pub stored_crc: u32,
    /// The whole entry, offset and size included.
    pub entry: &'a [u8],
}

impl<'a> Message<'a> {
    /// The codec id (attributes bits 0-2); 0 is an ordinary message.
    pub fn codec_id(&self) -> u8 {
        self.attributes & ATTRIBUTE_CODEC_MASK
    }

    pub fn is_compressed(&self) -> bool {
        self.codec_id() != 0
    }

    /// A v1 message marked LogAppendTime (v0 has no timestamp type).
    pub fn is_log_append_time(&self) -> bool {
        self.magic == MAGIC_V1 && self.attributes & ATTRIBUTE_LOG_APPEND_TIME != 0
    }

    /// CRC-32 of the message from its magic byte on.
    pub fn computed_crc(&self) -> u32 {
        crc32fast::hash(&self.entry[CRC_START..])
    }

    /// Kafka's `ensureValid`: the stored CRC matches the bytes.
    pub fn check_crc(&self) -> Result<(), ValidationError> {
        let computed = self.computed_crc();
        if computed != self.stored_crc {
            return Err(ValidationError::Corrupt(format!(
                "Record is corrupt (stored crc = {}, computed crc = {computed})",
                self.stored_crc
            )));
        }
        Ok(())
    }
}

/// The size field of the entry at the start of `bytes`, if its 12-byte log
/// overhead is there.
pub fn entry_size(bytes: &[u8]) -> Option<i32> {
    Some(i32::from_be_bytes(bytes.get(8..12)?.try_into().ok()?))
}

/// Parses the entry at the start of `bytes`; returns it and the bytes it
/// took, or `Ok(None)` if `bytes` hold only part of an entry (where Kafka's
/// readers stop). The CRC is not checked here ([`Message::check_crc`]).
/// Never panics and allocates nothing, whatever the bytes.
pub fn parse_entry(bytes: &[u8]) -> Result<Option<(Message<'_>, usize)>, ValidationError> {
    let Some(size) = entry_size(bytes) else {
        return Ok(None);
    };
    if size < MESSAGE_OVERHEAD_V0_BYTES as i32 {
        return Err(ValidationError::Corrupt(format!(
            "Record size is less than the minimum record overhead ({MESSAGE_OVERHEAD_V0_BYTES})"
        )));
    }
    let total = LOG_OVERHEAD_BYTES + size as usize;
    let Some(entry) = bytes.get(..total) else {
        return Ok(None);
    };
    let corrupt = |detail: &str| ValidationError::Corrupt(format!("message: {detail}"));
    let offset = i64::from_be_bytes(entry[0..8].try_into().expect("12 bytes checked"));
    let stored_crc = u32::from_be_bytes(entry[12..16].try_into().expect("14 bytes checked"));
    let magic = entry[16];
    let attributes = entry[17];
    let mut at = 18;
    let timestamp_ms = match magic {
        MAGIC_V0 => NO_TIMESTAMP,
        MAGIC_V1 => {
            let field = entry
                .get(at..at + 8)
                .ok_or_else(|| corrupt("too short for a v1 timestamp"))?;
            at += 8;
            i64::from_be_bytes(field.try_into().expect("8 bytes"))
        }
        _ => {
            return Err(ValidationError::invalid(format!(
                "message magic {magic} is not 0 or 1"
            )))
        }
    };
    let key = length_prefixed(entry, &mut at).ok_or_else(|| corrupt("bad key length"))?;
    let value = length_prefixed(entry, &mut at).ok_or_else(|| corrupt("bad value length"))?;
    if at != entry.len() {
        return Err(corrupt("bytes left after the value"));
    }
    Ok(Some((
        Message {
            offset,
            magic,
            attributes,
            timestamp_ms,
            key,
            value,
            stored_crc,
            entry,
        },
        total,
    )))
}

/// An i32 length (-1 is null) then that many bytes, checked against what is
/// there.
fn length_prefixed<'a>(bytes: &'a [u8], at: &mut usize) -> Option<Option<&'a [u8]>> {
    let length = i32::from_be_bytes(bytes.get(*at..*at + 4)?.try_into().ok()?);
    *at += 4;
    if length == -1 {
        return Some(None);
    }
    let length = usize::try_from(length).ok()?;
    let field = bytes.get(*at..at.checked_add(length)?)?;
    *at += length;
    Some(Some(field))
}

/// What goes into one message besides its offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MessageFields<'a> {
    pub magic: u8,
    pub attributes: u8,
    /// Written for v1 only.
    pub timestamp_ms: i64,
    pub key: Option<&'a [u8]>,
    pub value: Option<&'a [u8]>,
}

/// Appends one entry (offset, size, message with its CRC-32) to `out`.
///
/// # Panics
/// If the magic is not 0 or 1, or the message would pass i32 bytes (callers
/// write what came from a batch of at most that size).
pub fn write_entry(out: &mut Vec<u8>, offset: i64, fields: &MessageFields<'_>) {
    assert!(fields.magic <= MAGIC_V1, "legacy messages are v0 or v1");
    let start = out.len();
    out.extend_from_slice(&offset.to_be_bytes());
    out.extend_from_slice(&[0; 8]); // size and CRC, filled in below
    out.push(fields.magic);
    out.push(fields.attributes);
    if fields.magic == MAGIC_V1 {
        out.extend_from_slice(&fields.timestamp_ms.to_be_bytes());
    }
    for field in [fields.key, fields.value] {
        match field {
            None => out.extend_from_slice(&(-1i32).to_be_bytes()),
            Some(bytes) => {
                let length = i32::try_from(bytes.len()).expect("a field fits an i32");
                out.extend_from_slice(&length.to_be_bytes());
                out.extend_from_slice(bytes);
            }
        }
    }
    let size = i32::try_from(out.len() - start - LOG_OVERHEAD_BYTES).expect("fits an i32");
    out[start + 8..start + 12].copy_from_slice(&size.to_be_bytes());
    let crc = crc32fast::hash(&out[start + CRC_START..]);
    out[start + 12..start + 16].copy_from_slice(&crc.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(magic: u8, key: Option<&[u8]>, value: Option<&[u8]>) -> Vec<u8> {
        let mut out = Vec::new();
        write_entry(
            &mut out,
            0,
            &MessageFields {
                magic,
                attributes: 0,
                timestamp_ms: 9_999_999,
                key,
                value,
            },
        );
        out
    }

    #[test]
    fn crcs_match_known_values() {
        // aiokafka's and kafka-python's legacy record tests: key, value,
        // timestamp 9999999, and the CRC-32 each client computes for v0, v1.
        type Case<'a> = (Option<&'a [u8]>, Option<&'a [u8]>, [u32; 2]);
        let cases: [Case<'_>; 5] = [
            (
                Some(b"test"),
                Some(b"Super"),
                [278251978, -2095076219i32 as u32],
            ),
            (Some(b"test"), None, [580701536, 164492157]),
            (None, Some(b"Super"), [2797021502, 3315209433]),
            (Some(b""), Some(b"Super"), [1446809667, 890351012]),
            (Some(b"test"), Some(b""), [4230475139, 3614888862]),
        ];
        for (key, value, crcs) in cases {
            for magic in [MAGIC_V0, MAGIC_V1] {
                let bytes = entry(magic, key, value);
                let (message, used) = parse_entry(&bytes).unwrap().unwrap();
                assert_eq!(used, bytes.len());
                assert_eq!(
                    message.stored_crc, crcs[magic as usize],
                    "{key:?} {value:?} v{magic}"
                );
                message.check_crc().unwrap();
                assert_eq!((message.key, message.value), (key, value));
                let expected_timestamp = if magic == MAGIC_V1 {
                    9_999_999
                } else {
                    NO_TIMESTAMP
                };
                assert_eq!(message.timestamp_ms, expected_timestamp);
            }
        }
    }

    #[test]
    fn reads_bytes_a_kafka_broker_wrote() {
        // A v1 message as a Kafka 0.11 broker served it (kafka-python's
        // record tests): offset 0, value "123", CreateTime.
        let bytes = b"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x19G\x86(\xc2\x01\x00\x00\
                      \x00\x01^\x18g\xab\xae\xff\xff\xff\xff\x00\x00\x00\x03123";
        let (message, used) = parse_entry(bytes).unwrap().unwrap();
        assert_eq!(used, bytes.len());
        message.check_crc().unwrap();
        assert_eq!(message.magic, MAGIC_V1);
        assert_eq!(message.timestamp_ms, 0x0000_015e_1867_abae);
        assert_eq!(message.key, None);
        assert_eq!(message.value, Some(&b"123"[..]));
        assert!(!message.is_compressed() && !message.is_log_append_time());
        // Written again from its fields, it is the same bytes.
        let mut again = Vec::new();
        write_entry(
            &mut again,
            0,
            &MessageFields {
                magic: 1,
                attributes: 0,
                timestamp_ms: message.timestamp_ms,
                key: None,
                value: Some(b"123"),
            },
        );
        assert_eq!(again, bytes);
    }

    #[test]
    fn partial_entries_stop_and_bad_ones_are_errors() {
        let bytes = entry(MAGIC_V1, Some(b"k"), Some(b"value"));
        for cut in 0..bytes.len() {
            assert_eq!(parse_entry(&bytes[..cut]).unwrap(), None, "cut at {cut}");
        }
        let mut flipped = bytes.clone();
        *flipped.last_mut().unwrap() ^= 1;
        let (message, _) = parse_entry(&flipped).unwrap().unwrap();
        assert!(matches!(
            message.check_crc(),
            Err(ValidationError::Corrupt(_))
        ));
        let mut tiny = bytes.clone();
        tiny[8..12].copy_from_slice(&13i32.to_be_bytes());
        assert!(matches!(
            parse_entry(&tiny),
            Err(ValidationError::Corrupt(_))
        ));
        let mut magic = bytes.clone();
        magic[16] = 2;
        assert!(matches!(
            parse_entry(&magic),
            Err(ValidationError::InvalidRecord { .. })
        ));
        // Every byte flipped in turn: an error or a message, never a panic.
        for i in 0..bytes.len() {
            for bit in 0..8 {
                let mut flipped = bytes.clone();
                flipped[i] ^= 1 << bit;
                let _ = parse_entry(&flipped);
            }
        }
    }
}
