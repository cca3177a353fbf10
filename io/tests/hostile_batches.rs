//! Hostile bytes: whatever arrives, the batch validator and the batch walker
//! answer with a typed error, never a panic, and never accept a mutation of a
//! valid batch that the CRC covers.

use proptest::prelude::*;
use sluice_io::batch::{self, build_test_batch, BatchError};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = batch::validate(&bytes);
        let _ = batch::total_bytes_from_prefix(&bytes);
        for item in batch::iter(&bytes) {
            let _ = item;
        }
    }

    #[test]
    fn truncated_batches_are_rejected(records in 1i32..20, payload in 0usize..400, cut in 0usize..1000) {
        let bytes = build_test_batch(records, payload, 1);
        let cut = cut % bytes.len();
        let result = batch::validate(&bytes[..cut]);
        let rejected = matches!(result, Err(BatchError::TooShort { .. }) | Err(BatchError::BadLength { .. }));
        prop_assert!(rejected, "cut at {} gave {:?}", cut, result);
    }

    #[test]
    fn flipped_bits_are_caught(payload in 0usize..300, position in 0usize..10_000, bit in 0u8..8) {
        let mut bytes = build_test_batch(3, payload, 1);
        let position = position % bytes.len();
        bytes[position] ^= 1 << bit;
        let result = batch::validate(&bytes);
        // Base offset and leader epoch are outside the CRC by design; every
        // other byte is covered, or is the length, magic or CRC itself.
        if position < 8 || (12..16).contains(&position) {
            prop_assert!(result.is_ok());
        } else {
            prop_assert!(result.is_err(), "flip at {} accepted", position);
        }
    }

    #[test]
    fn length_field_lies_are_caught(payload in 0usize..300, declared in any::<i32>()) {
        let mut bytes = build_test_batch(2, payload, 1);
        let real = i32::from_be_bytes(bytes[8..12].try_into().unwrap());
        bytes[8..12].copy_from_slice(&declared.to_be_bytes());
        let result = batch::validate(&bytes);
        if declared != real {
            prop_assert!(result.is_err());
        }
    }
}
