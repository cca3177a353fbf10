//! Decompressing a record batch's records, never past a stated bound.
//!
//! The broker keeps batches as they came (compressed ones stay compressed on
//! disk and on the wire); it inflates one only where the semantics need the
//! records themselves: log compaction (keys), validation of timestamps,
//! down-conversion for old consumers. Every such caller gives an
//! `output_bytes_max`, and the decoders here stop with
//! [`CompressionError::TooLarge`] as soon as the output would pass it, so a
//! compression bomb (a few KiB that inflate to gigabytes) costs at most the
//! bound in memory and the time to produce it. Nothing is reserved from a
//! length the input states: buffers grow with what was really produced.
//!
//! The codecs are Kafka's, numbered as in the batch attributes (bits 0-2):
//!
//! | id | codec | framing Kafka's clients write |
//! |---|---|---|
//! | 1 | gzip | RFC 1952 gzip stream (members may be concatenated) |
//! | 2 | snappy | Java clients: xerial's framing (`\x82SNAPPY\0`, then length-prefixed raw blocks); librdkafka: the same or one raw block |
//! | 3 | lz4 | the LZ4 frame format (Kafka's magic-0 header checksum quirk is not accepted: v2 batches never have it) |
//! | 4 | zstd | a zstd frame stream |
//!
//! The libraries do the decoding (`flate2`, `snap`, `lz4_flex`, `zstd`);
//! this file only chooses one and bounds its output.

use std::io::Read;

/// Kafka's compression codecs, by their attribute id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Codec {
    None,
    Gzip,
    Snappy,
    Lz4,
    Zstd,
}

/// Why records could not be inflated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CompressionError {
    #[error("unknown compression codec id {0}")]
    UnknownCodec(i16),
    #[error("{codec:?} data inflates past the {limit}-byte bound")]
    TooLarge { codec: Codec, limit: usize },
    #[error("corrupt {codec:?} data: {detail}")]
    Corrupt { codec: Codec, detail: String },
}

impl Codec {
    /// The codec named by a batch's attributes (bits 0-2).
    pub fn from_attributes(attributes: i16) -> Result<Codec, CompressionError> {
        match attributes & 0x07 {
            0 => Ok(Codec::None),
            1 => Ok(Codec::Gzip),
            2 => Ok(Codec::Snappy),
            3 => Ok(Codec::Lz4),
            4 => Ok(Codec::Zstd),
            other => Err(CompressionError::UnknownCodec(other)),
        }
    }

    /// The attribute id (bits 0-2) of this codec.
    pub fn id(self) -> i16 {
        match self {
            Codec::None => 0,
            Codec::Gzip => 1,
            Codec::Snappy => 2,
            Codec::Lz4 => 3,
            Codec::Zstd => 4,
        }
    }
}

/// The magic bytes that open xerial's snappy framing.
const XERIAL_MAGIC: &[u8; 8] = b"\x82SNAPPY\0";
/// xerial's header: magic, then version and compatible version (i32 BE each).
const XERIAL_HEADER_BYTES: usize = 16;
/// The version and compatible version xerial's `SnappyOutputStream` writes.
const XERIAL_VERSION: i32 = 1;
const XERIAL_COMPATIBLE_VERSION: i32 = 1;
/// Uncompressed bytes per xerial block (its default block size).
const XERIAL_BLOCK_BYTES: usize = 32 * 1024;
/// How much output a streaming decoder produces per read.
const READ_STEP_BYTES: usize = 64 * 1024;

/// Inflates `input` compressed with `codec`, producing at most
/// `output_bytes_max` bytes. `Codec::None` returns the input as it is.
pub fn decompress(
    codec: Codec,
    input: &[u8],
    output_bytes_max: usize,
) -> Result<Vec<u8>, CompressionError> {
    let corrupt = |detail: String| CompressionError::Corrupt { codec, detail };
    match codec {
        Codec::None => {
            if input.len() > output_bytes_max {
                return Err(CompressionError::TooLarge {
                    codec,
                    limit: output_bytes_max,
                });
            }
            Ok(input.to_vec())
        }
        Codec::Gzip => read_bounded(
            codec,
            flate2::read::MultiGzDecoder::new(input),
            output_bytes_max,
        ),
        Codec::Lz4 => read_bounded(
            codec,
            lz4_flex::frame::FrameDecoder::new(input),
            output_bytes_max,
        ),
        Codec::Zstd => {
            let decoder =
                zstd::stream::read::Decoder::new(input).map_err(|e| corrupt(e.to_string()))?;
            read_bounded(codec, decoder, output_bytes_max)
        }
        Codec::Snappy => snappy(input, output_bytes_max),
    }
}

/// Reads `reader` to its end into a buffer that grows with the output and
/// fails once the output passes `limit`.
fn read_bounded(
    codec: Codec,
    reader: impl Read,
    limit: usize,
) -> Result<Vec<u8>, CompressionError> {
    let mut output = Vec::new();
    // One byte past the limit tells "exactly the limit" from "more".
    let mut bounded = reader.take(limit as u64 + 1);
    loop {
        let filled = output.len();
        output.resize(filled + READ_STEP_BYTES.min(limit + 1 - filled), 0);
        let n = match bounded.read(&mut output[filled..]) {
            Ok(n) => n,
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => 0,
            Err(error) => {
                return Err(CompressionError::Corrupt {
                    codec,
                    detail: error.to_string(),
                })
            }
        };
        output.truncate(filled + n);
        if output.len() > limit {
            return Err(CompressionError::TooLarge { codec, limit });
        }
        if n == 0 && output.len() == filled {
            // `take` returns 0 at the end of the stream (or at limit + 1,
            // caught above).
            let mut probe = [0u8; 1];
            match bounded.read(&mut probe) {
                Ok(0) => return Ok(output),
                Ok(_) => return Err(CompressionError::TooLarge { codec, limit }),
                Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(error) => {
                    return Err(CompressionError::Corrupt {
                        codec,
                        detail: error.to_string(),
                    })
                }
            }
        }
    }
}

/// Snappy, in xerial's framing or as one raw block. Each raw block states
/// its inflated length first; that length is checked against what is left
/// of the bound before anything is allocated for it.
fn snappy(input: &[u8], limit: usize) -> Result<Vec<u8>, CompressionError> {
    let codec = Codec::Snappy;
    let corrupt = |detail: String| CompressionError::Corrupt { codec, detail };
    let mut output = Vec::new();
    let raw_block = |block: &[u8], output: &mut Vec<u8>| -> Result<(), CompressionError> {
        let length = snap::raw::decompress_len(block).map_err(|e| corrupt(e.to_string()))?;
        if length > limit - output.len() {
            return Err(CompressionError::TooLarge { codec, limit });
        }
        let start = output.len();
        output.resize(start + length, 0);
        let written = snap::raw::Decoder::new()
            .decompress(block, &mut output[start..])
            .map_err(|e| corrupt(e.to_string()))?;
        output.truncate(start + written);
        Ok(())
    };
    if !input.starts_with(XERIAL_MAGIC) {
        raw_block(input, &mut output)?;
        return Ok(output);
    }
    let mut rest = input
        .get(XERIAL_HEADER_BYTES..)
        .ok_or_else(|| corrupt("xerial header cut short".into()))?;
    while !rest.is_empty() {
        let length_bytes: [u8; 4] = rest
            .get(..4)
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| corrupt("xerial block length cut short".into()))?;
        let length = u32::from_be_bytes(length_bytes) as usize;
        let block = rest
            .get(4..4 + length)
            .ok_or_else(|| corrupt(format!("xerial block of {length} bytes cut short")))?;
        raw_block(block, &mut output)?;
        rest = &rest[4 + length..];
    }
    Ok(output)
}

/// Compresses `input` with `codec`, in the framing Kafka's Java clients
/// write (snappy in xerial's framing, lz4 as an LZ4 frame): for batches the
/// broker writes itself (conversion, compaction), tests and benchmarks.
pub fn compress(codec: Codec, input: &[u8]) -> Result<Vec<u8>, CompressionError> {
    use std::io::Write;
    let failed = |detail: String| CompressionError::Corrupt { codec, detail };
    match codec {
        Codec::None => Ok(input.to_vec()),
        Codec::Gzip => {
            let mut encoder =
                flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            encoder
                .write_all(input)
                .map_err(|e| failed(e.to_string()))?;
            encoder.finish().map_err(|e| failed(e.to_string()))
        }
        Codec::Snappy => {
            // xerial's framing, as Kafka's Java clients and broker write it;
            // every client that reads snappy reads this framing.
            let mut framed = XERIAL_MAGIC.to_vec();
            framed.extend_from_slice(&XERIAL_VERSION.to_be_bytes());
            framed.extend_from_slice(&XERIAL_COMPATIBLE_VERSION.to_be_bytes());
            let mut encoder = snap::raw::Encoder::new();
            for block in input.chunks(XERIAL_BLOCK_BYTES) {
                let packed = encoder
                    .compress_vec(block)
                    .map_err(|e| failed(e.to_string()))?;
                framed.extend_from_slice(&(packed.len() as u32).to_be_bytes());
                framed.extend_from_slice(&packed);
            }
            Ok(framed)
        }
        Codec::Lz4 => {
            let mut encoder = lz4_flex::frame::FrameEncoder::new(Vec::new());
            encoder
                .write_all(input)
                .map_err(|e| failed(e.to_string()))?;
            encoder.finish().map_err(|e| failed(e.to_string()))
        }
        Codec::Zstd => zstd::bulk::compress(input, 0).map_err(|e| failed(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CODECS: [Codec; 5] = [
        Codec::None,
        Codec::Gzip,
        Codec::Snappy,
        Codec::Lz4,
        Codec::Zstd,
    ];

    fn sample() -> Vec<u8> {
        (0..200_000u32)
            .flat_map(|i| (i % 997).to_le_bytes())
            .collect()
    }

    #[test]
    fn every_codec_round_trips() {
        let input = sample();
        for codec in CODECS {
            let packed = compress(codec, &input).unwrap();
            let unpacked = decompress(codec, &packed, input.len()).unwrap();
            assert_eq!(unpacked, input, "{codec:?}");
            assert_eq!(Codec::from_attributes(codec.id()).unwrap(), codec);
        }
    }

    #[test]
    fn a_bound_one_byte_short_refuses() {
        let input = sample();
        for codec in CODECS {
            let packed = compress(codec, &input).unwrap();
            assert_eq!(
                decompress(codec, &packed, input.len() - 1),
                Err(CompressionError::TooLarge {
                    codec,
                    limit: input.len() - 1
                }),
                "{codec:?}"
            );
        }
    }

    #[test]
    fn a_bomb_is_refused_at_the_bound() {
        // 64 MiB of zeros packs into a few hundred KiB at most; a 1 MiB
        // bound refuses it after producing about 1 MiB.
        let zeros = vec![0u8; 64 << 20];
        for codec in [Codec::Gzip, Codec::Lz4, Codec::Zstd, Codec::Snappy] {
            let packed = compress(codec, &zeros).unwrap();
            assert!(packed.len() < 16 << 20, "{codec:?}: {}", packed.len());
            assert!(matches!(
                decompress(codec, &packed, 1 << 20),
                Err(CompressionError::TooLarge { .. })
            ));
        }
    }

    #[test]
    fn snappy_output_is_xerial_framed() {
        let input = sample();
        let packed = compress(Codec::Snappy, &input).unwrap();
        assert!(packed.starts_with(XERIAL_MAGIC));
        assert_eq!(&packed[8..16], &[0, 0, 0, 1, 0, 0, 0, 1]);
        assert_eq!(
            decompress(Codec::Snappy, &packed, input.len()).unwrap(),
            input
        );
        let empty = compress(Codec::Snappy, &[]).unwrap();
        assert_eq!(decompress(Codec::Snappy, &empty, 0).unwrap(), b"");
    }

    #[test]
    fn snappy_in_xerial_framing() {
        let input = sample();
        let mut framed = XERIAL_MAGIC.to_vec();
        framed.extend(1i32.to_be_bytes());
        framed.extend(1i32.to_be_bytes());
        for piece in input.chunks(32 * 1024) {
            let block = snap::raw::Encoder::new().compress_vec(piece).unwrap();
            framed.extend((block.len() as u32).to_be_bytes());
            framed.extend(block);
        }
        assert_eq!(
            decompress(Codec::Snappy, &framed, input.len()).unwrap(),
            input
        );
        assert!(matches!(
            decompress(Codec::Snappy, &framed[..framed.len() - 3], input.len()),
            Err(CompressionError::Corrupt { .. })
        ));
        // A raw block claiming 4 GiB is refused from its stated length.
        let mut lying = vec![0xff, 0xff, 0xff, 0xff, 0x0f];
        lying.extend([0u8; 8]);
        assert!(matches!(
            decompress(Codec::Snappy, &lying, 1 << 20),
            Err(CompressionError::TooLarge { .. })
        ));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let garbage: Vec<u8> = (0..4096u32).map(|i| (i * 7919 % 251) as u8).collect();
        for codec in CODECS {
            let _ = decompress(codec, &garbage, 1 << 20);
            let _ = decompress(codec, &garbage[..7], 1 << 20);
            let _ = decompress(codec, &[], 1 << 20);
        }
        assert_eq!(
            Codec::from_attributes(5),
            Err(CompressionError::UnknownCodec(5))
        );
    }
}
