//! Kafka's old LZ4 framing (KAFKA-3160, KIP-57).
//!
//! The LZ4 frame descriptor ends with a header checksum byte (HC):
//!
//! ```text
//! 04 22 4d 18   magic
//! FLG BD        flags, block size        ┐ the spec hashes these
//! [8 bytes]     content size, if FLG.3   │ (and a dictionary id, FLG.0)
//! HC            (xxh32(descriptor, 0) >> 8) & 0xff
//! ```
//!
//! Kafka's clients and brokers before 0.10 hashed from the magic number on
//! instead. KIP-57 kept that for message format v0, so that 0.8/0.9 readers
//! still accept what they get, and made v1 use the spec's checksum. Kafka
//! reads v0 wrappers without checking HC at all; this file puts the right
//! HC into a copy of a v0 frame so a standard decoder reads it, and writes
//! the old HC into frames for v0 consumers.

use twox_hash::XxHash32;

const MAGIC: [u8; 4] = [0x04, 0x22, 0x4d, 0x18];
const FLG_CONTENT_SIZE: u8 = 0x08;
const FLG_DICTIONARY_ID: u8 = 0x01;

/// Position of the HC byte, if `frame` starts with a whole LZ4 descriptor.
fn header_checksum_at(frame: &[u8]) -> Option<usize> {
    if frame.get(..4)? != MAGIC {
        return None;
    }
    let flags = *frame.get(4)?;
    let mut at = 6;
    if flags & FLG_CONTENT_SIZE != 0 {
        at += 8;
    }
    if flags & FLG_DICTIONARY_ID != 0 {
        at += 4;
    }
    (at < frame.len()).then_some(at)
}

fn checksum_byte(bytes: &[u8]) -> u8 {
    (XxHash32::oneshot(0, bytes) >> 8) as u8
}

/// A copy of a frame written for message format v0 with the header
/// checksum the LZ4 spec defines (whatever the old one said), for a
/// standard decoder. `None` if `frame` has no whole descriptor.
pub fn with_spec_checksum(frame: &[u8]) -> Option<Vec<u8>> {
    let at = header_checksum_at(frame)?;
    let mut fixed = frame.to_vec();
    fixed[at] = checksum_byte(&frame[4..at]);
    Some(fixed)
}

/// Rewrites a standard frame's header checksum in place into the one Kafka
/// 0.8/0.9 computed (over the magic number too), for v0 consumers.
///
/// # Panics
/// If `frame` is not an LZ4 frame (callers pass what the encoder wrote).
pub fn break_checksum_for_v0(frame: &mut [u8]) {
    let at = header_checksum_at(frame).expect("an LZ4 frame from the encoder");
    frame[at] = checksum_byte(&frame[..at]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compression::{self, Codec};

    #[test]
    fn spec_checksums_match_lz4s_own_frames() {
        // The descriptors `lz4` itself writes: independent 64 KiB blocks,
        // without and with a content checksum.
        assert_eq!(checksum_byte(&[0x60, 0x40]), 0x82);
        assert_eq!(checksum_byte(&[0x64, 0x40]), 0xa7);
    }

    #[test]
    fn old_checksums_round_trip_through_the_fix() {
        let input: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let standard = compression::compress(Codec::Lz4, &input).unwrap();
        let mut old = standard.clone();
        break_checksum_for_v0(&mut old);
        let at = header_checksum_at(&old).unwrap();
        assert_ne!(old[at], standard[at], "the two checksums differ");
        assert_eq!(old[at], checksum_byte(&old[..at]));
        // A standard decoder refuses the old frame and reads the fixed one.
        assert!(compression::decompress(Codec::Lz4, &old, input.len()).is_err());
        let fixed = with_spec_checksum(&old).unwrap();
        assert_eq!(fixed, standard);
        assert_eq!(
            compression::decompress(Codec::Lz4, &fixed, input.len()).unwrap(),
            input
        );
    }

    #[test]
    fn short_or_foreign_frames_are_not_touched() {
        assert_eq!(with_spec_checksum(&[]), None);
        assert_eq!(with_spec_checksum(&MAGIC), None);
        assert_eq!(
            with_spec_checksum(&[0x04, 0x22, 0x4d, 0x18, 0x68, 0x40]),
            None
        );
        assert_eq!(with_spec_checksum(b"\x1f\x8b gzip, not lz4"), None);
    }
}
