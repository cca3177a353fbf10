use super::*;
use crate::batch::{compute_crc, header, header_mut, TimestampType, BATCH_HEADER_BYTES};
use crate::compression::{self, Codec};
use crate::records::{encode_record, records};

const NOW: i64 = 1_700_000_000_000;
const CODECS: [Codec; 5] = [
    Codec::None,
    Codec::Gzip,
    Codec::Snappy,
    Codec::Lz4,
    Codec::Zstd,
];

fn policy() -> ValidationPolicy {
    ValidationPolicy {
        timestamps: TimestampPolicy::default(),
        inflated_bytes_max: 1 << 20,
    }
}

fn with_window(before_max_ms: i64, after_max_ms: i64) -> ValidationPolicy {
    ValidationPolicy {
        timestamps: TimestampPolicy {
            timestamp_type: TimestampType::CreateTime,
            before_max_ms,
            after_max_ms,
        },
        ..policy()
    }
}

/// A batch with one record per timestamp, offset deltas 0..n-1.
fn batch(codec: Codec, timestamps: &[i64]) -> Vec<u8> {
    let mut builder = BatchBuilder::new(codec, BatchFields::default());
    for (i, ts) in timestamps.iter().enumerate() {
        let value = format!("value-{i}");
        builder.push(i as i32, *ts, Some(b"key"), Some(value.as_bytes()), &[0]);
    }
    builder.finish(0).unwrap()
}

/// Rewrites header fields and the CRC, as a careless producer would send them.
fn patched(mut bytes: Vec<u8>, patch: impl FnOnce(&mut batch::BatchHeader)) -> Vec<u8> {
    patch(header_mut(&mut bytes).unwrap());
    let crc = compute_crc(&bytes);
    header_mut(&mut bytes).unwrap().crc.set(crc);
    bytes
}

/// A batch whose records carry the given offset deltas (any order).
fn batch_with_deltas(codec: Codec, deltas: &[i32]) -> Vec<u8> {
    let mut records = Vec::new();
    for (i, delta) in deltas.iter().enumerate() {
        let value = format!("v{i}");
        encode_record(i as i64, *delta, None, Some(value.as_bytes()), &mut records);
    }
    let mut bytes = batch(codec, &vec![NOW; deltas.len()]);
    bytes.truncate(BATCH_HEADER_BYTES);
    bytes.extend(compression::compress(codec, &records).unwrap());
    let length = (bytes.len() - 12) as i32;
    patched(bytes, |h| {
        h.batch_length.set(length);
        h.base_timestamp.set(NOW);
        h.max_timestamp.set(NOW + deltas.len() as i64 - 1);
    })
}

#[test]
fn a_right_header_is_kept_and_nothing_is_copied() {
    for codec in CODECS {
        let bytes = batch(codec, &[NOW, NOW + 5, NOW + 2]);
        let validated = validate_batch(&bytes, &policy(), NOW).unwrap();
        assert_eq!(validated.stamp, HeaderStamp::Keep, "{codec:?}");
        assert_eq!(validated.max_timestamp_ms, NOW + 5);
        assert_eq!(validated.record_count, 3);
        assert!(matches!(validated.batch, Cow::Borrowed(_)));
    }
}

#[test]
fn a_wrong_header_max_timestamp_is_fixed_from_the_records() {
    for codec in CODECS {
        // The header says the first record's time; the last is later.
        let bytes = patched(batch(codec, &[NOW, NOW + 1_000, NOW + 10]), |h| {
            h.max_timestamp.set(NOW)
        });
        let validated = validate_batch(&bytes, &policy(), NOW).unwrap();
        assert_eq!(
            validated.stamp,
            HeaderStamp::MaxTimestamp(NOW + 1_000),
            "{codec:?}"
        );
        // Compressed or not, the records are not rewritten: the log stamps
        // the header as it copies the batch.
        assert!(matches!(validated.batch, Cow::Borrowed(_)));
        let mut stored = validated.batch.to_vec();
        batch::set_max_timestamp(&mut stored, NOW + 1_000);
        assert_eq!(
            batch::validate(&stored).unwrap().max_timestamp(),
            NOW + 1_000
        );
        assert_eq!(
            validate_batch(&stored, &policy(), NOW).unwrap().stamp,
            HeaderStamp::Keep
        );
    }
}

#[test]
fn log_append_time_topics_stamp_the_broker_time() {
    let policy = ValidationPolicy {
        timestamps: TimestampPolicy {
            timestamp_type: TimestampType::LogAppendTime,
            before_max_ms: 0,
            after_max_ms: 0,
        },
        ..policy()
    };
    for codec in CODECS {
        // Far outside any window: LogAppendTime does not look at them.
        let bytes = batch(codec, &[1, 2]);
        let validated = validate_batch(&bytes, &policy, NOW).unwrap();
        assert_eq!(validated.stamp, HeaderStamp::LogAppendTime(NOW));
        assert_eq!(validated.max_timestamp_ms, NOW);
        // A producer may not claim LogAppendTime itself.
        let claimed = patched(bytes, |h| {
            h.attributes
                .set(h.attributes.get() | batch::ATTRIBUTE_LOG_APPEND_TIME)
        });
        let error = validate_batch(&claimed, &policy, NOW).unwrap_err();
        assert!(matches!(error, ValidationError::InvalidTimestamp { .. }));
        assert_eq!(error.record_errors().len(), 2);
    }
}

#[test]
fn timestamps_outside_the_window_are_listed_per_record() {
    for codec in CODECS {
        let bytes = batch(codec, &[NOW, NOW - 10_000, NOW + 1, NOW + 90_000]);
        let error = validate_batch(&bytes, &with_window(5_000, 60_000), NOW).unwrap_err();
        let ValidationError::InvalidTimestamp {
            message,
            record_errors,
        } = &error
        else {
            panic!("{error:?}");
        };
        assert_eq!(
            message,
            "One or more records have been rejected due to invalid timestamp"
        );
        let indexes: Vec<i32> = record_errors.iter().map(|e| e.batch_index).collect();
        assert_eq!(indexes, [1, 3], "{codec:?}");
        assert_eq!(
            record_errors[0].message,
            format!(
                "Timestamp {} of message with offset 1 is out of range. The timestamp should be within [{}, {}]",
                NOW - 10_000,
                NOW - 5_000,
                NOW + 60_000
            )
        );
    }
}

#[test]
fn record_errors_are_capped_but_counted() {
    let bytes = batch(Codec::None, &vec![1; RECORD_ERRORS_MAX + 10]);
    let error = validate_batch(&bytes, &with_window(0, 0), NOW).unwrap_err();
    assert_eq!(error.record_errors().len(), RECORD_ERRORS_MAX);
}

#[test]
fn offset_deltas_out_of_line_are_renumbered() {
    for codec in CODECS {
        for deltas in [&[0, 2, 5][..], &[1, 0, 2], &[0, 0, 1]] {
            let bytes = batch_with_deltas(codec, deltas);
            let bytes = patched(bytes, |h| {
                h.producer_id.set(77);
                h.producer_epoch.set(3);
                h.base_sequence.set(40);
                h.last_offset_delta.set(2);
            });
            let validated = validate_batch(&bytes, &policy(), NOW).unwrap();
            let Cow::Owned(rebuilt) = &validated.batch else {
                panic!("{codec:?} {deltas:?} kept as it came");
            };
            let header = batch::validate(rebuilt).unwrap();
            assert_eq!(
                header.attributes.get() & ATTRIBUTE_COMPRESSION_MASK,
                codec.id()
            );
            assert_eq!(
                (
                    header.producer_id.get(),
                    header.producer_epoch.get(),
                    header.base_sequence.get()
                ),
                (77, 3, 40)
            );
            assert_eq!(validated.stamp, HeaderStamp::Keep);
            let read = records(rebuilt, 1 << 20).unwrap();
            let all: Vec<_> = read.iter().collect::<Result<_, _>>().unwrap();
            let kept: Vec<(i32, i64, &[u8])> = all
                .iter()
                .map(|r| (r.offset_delta, r.timestamp_delta, r.value.unwrap()))
                .collect();
            assert_eq!(
                kept,
                [(0, 0, &b"v0"[..]), (1, 1, &b"v1"[..]), (2, 2, &b"v2"[..])]
            );
        }
    }
}

#[test]
fn header_rules_for_client_batches() {
    let good = batch(Codec::None, &[NOW, NOW]);
    let refused = |bytes: Vec<u8>| match validate_batch(&bytes, &policy(), NOW) {
        Err(ValidationError::InvalidRecord { message, .. }) => message,
        other => panic!("{other:?}"),
    };
    assert!(refused(patched(good.clone(), |h| h.base_offset.set(5))).contains("should be 0"));
    assert!(refused(patched(good.clone(), |h| h.record_count.set(1))).contains("Inconsistent"));
    assert!(refused(patched(good.clone(), |h| h
        .attributes
        .set(ATTRIBUTE_CONTROL)))
    .contains("control records"));
    assert!(refused(patched(good.clone(), |h| h.producer_id.set(9)))
        .contains("Invalid sequence number -1"));
    // Opaque bytes where records belong.
    let opaque = batch::build_test_batch(3, 100, NOW);
    assert!(matches!(
        validate_batch(&opaque, &policy(), NOW),
        Err(ValidationError::InvalidRecord { .. })
    ));
    let mut corrupt = good.clone();
    *corrupt.last_mut().unwrap() ^= 1;
    assert!(matches!(
        validate_batch(&corrupt, &policy(), NOW),
        Err(ValidationError::Corrupt(_))
    ));
    let mut two = good.clone();
    two.extend_from_slice(&good);
    assert!(matches!(
        validate_batch(&two, &policy(), NOW),
        Err(ValidationError::InvalidRecord { .. })
    ));
    let unknown_codec = patched(good, |h| h.attributes.set(6));
    assert!(matches!(
        validate_batch(&unknown_codec, &policy(), NOW),
        Err(ValidationError::Corrupt(_))
    ));
}

#[test]
fn a_compression_bomb_is_refused_at_the_bound() {
    let zeros = vec![0u8; 8 << 20];
    for codec in [Codec::Gzip, Codec::Snappy, Codec::Lz4, Codec::Zstd] {
        let mut builder = BatchBuilder::new(codec, BatchFields::default());
        builder.push(0, NOW, None, Some(&zeros), &[0]);
        let bytes = builder.finish(0).unwrap();
        assert!(bytes.len() < 1 << 20, "{codec:?}: {}", bytes.len());
        assert!(matches!(
            validate_batch(&bytes, &policy(), NOW),
            Err(ValidationError::TooLarge(_))
        ));
        let roomy = ValidationPolicy {
            inflated_bytes_max: 16 << 20,
            ..policy()
        };
        assert!(validate_batch(&bytes, &roomy, NOW).is_ok());
    }
}

#[test]
fn hostile_bytes_never_panic() {
    let good = batch(Codec::None, &[NOW, NOW + 1, NOW + 2]);
    for cut in 0..good.len() {
        let _ = validate_batch(&good[..cut], &policy(), NOW);
    }
    // Flips inside the record area with the CRC recomputed, so the walk
    // (not the CRC check) meets them.
    for i in BATCH_HEADER_BYTES..good.len() {
        for bit in 0..8 {
            let mut flipped = good.clone();
            flipped[i] ^= 1 << bit;
            let crc = compute_crc(&flipped);
            header_mut(&mut flipped).unwrap().crc.set(crc);
            let _ = validate_batch(&flipped, &policy(), NOW);
        }
    }
    assert_eq!(header(&good).unwrap().record_count.get(), 3);
}
