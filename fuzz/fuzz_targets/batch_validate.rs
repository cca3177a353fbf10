//! Record batch validation and reading, as Produce and the log see them:
//! the batch walk and header checks, the record reader, and bounded
//! decompression with every codec. Never a panic, never an output past the
//! bound.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sluice_io::compression::{decompress, Codec};
use sluice_io::{batch, records};

/// The inflation bound the fuzzer holds every decoder to.
const INFLATED_BYTES_MAX: usize = 1 << 20;

fuzz_target!(|bytes: &[u8]| {
    for item in batch::iter(bytes) {
        let Ok((_, one)) = item else { break };
        if let Ok(read) = records::records(one, INFLATED_BYTES_MAX) {
            assert!(read.bytes().len() <= INFLATED_BYTES_MAX.max(one.len()));
            for record in read.iter() {
                if record.is_err() {
                    break;
                }
            }
        }
        let _ = batch::first_record_at_or_after(one, 0);
    }
    // The codecs on raw bytes, for inputs that are not batches at all.
    if let Some((&selector, rest)) = bytes.split_first() {
        let codec = match selector % 4 {
            0 => Codec::Gzip,
            1 => Codec::Snappy,
            2 => Codec::Lz4,
            _ => Codec::Zstd,
        };
        if let Ok(out) = decompress(codec, rest, INFLATED_BYTES_MAX) {
            assert!(out.len() <= INFLATED_BYTES_MAX);
        }
    }
});
