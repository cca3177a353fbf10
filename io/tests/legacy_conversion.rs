//! Message formats v0/v1 through the public API: bytes real Kafka brokers
//! served (kafka-python's record tests captured them from Kafka 0.10 and
//! 0.11) converted to v2 and back byte for byte, compressed sets of every
//! legacy codec, and Kafka's refusals.

use sluice_io::batch::{self, TimestampType};
use sluice_io::batch_builder::{BatchBuilder, BatchFields};
use sluice_io::compression::Codec;
use sluice_io::legacy::message::{parse_entry, write_entry, MessageFields};
use sluice_io::legacy::wrapper::compress_inner;
use sluice_io::legacy::{
    down_convert, to_v2, DownConvertError, DownConvertOptions, MAGIC_V0, MAGIC_V1,
};
use sluice_io::records::records;
use sluice_io::validate::{TimestampPolicy, ValidationError, ValidationPolicy};

const NOW: i64 = 1_700_000_000_000;

/// Four v1 messages as a Kafka 0.10 broker served them: values "123", "",
/// "", "123", null keys, CreateTime.
const KAFKA_V1_SET: &[&[u8]] = &[
    b"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x19G\x86(\xc2\x01\x00\x00\x00\x01^\x18g\xab\xae\xff\xff\xff\xff\x00\x00\x00\x03123",
    b"\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x16\xef\x98\xc9 \x01\x00\x00\x00\x01^\x18g\xaf\xc0\xff\xff\xff\xff\x00\x00\x00\x00",
    b"\x00\x00\x00\x00\x00\x00\x00\x02\x00\x00\x00\x16_\xaf\xfb^\x01\x00\x00\x00\x01^\x18g\xb0r\xff\xff\xff\xff\x00\x00\x00\x00",
    b"\x00\x00\x00\x00\x00\x00\x00\x03\x00\x00\x00\x19\xa8\x12W \x01\x00\x00\x00\x01^\x18g\xb8\x03\xff\xff\xff\xff\x00\x00\x00\x03123",
];

/// The same values as v0 messages from a Kafka 0.10 broker.
const KAFKA_V0_SET: &[&[u8]] = &[
    b"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x11\xfe\xb0\x1d\xbf\x00\x00\xff\xff\xff\xff\x00\x00\x00\x03123",
    b"\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x0eyWH\xe0\x00\x00\xff\xff\xff\xff\x00\x00\x00\x00",
    b"\x00\x00\x00\x00\x00\x00\x00\x02\x00\x00\x00\x0eyWH\xe0\x00\x00\xff\xff\xff\xff\x00\x00\x00\x00",
    b"\x00\x00\x00\x00\x00\x00\x00\x03\x00\x00\x00\x11\xfe\xb0\x1d\xbf\x00\x00\xff\xff\xff\xff\x00\x00\x00\x03123",
];

/// A v2 batch from a Kafka 0.11 broker: one record, value "123".
const KAFKA_V2_BATCH: &[u8] = b"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00;\x00\x00\x00\x01\x02\x03\x18\xa2p\x00\x00\x00\x00\x00\x00\x00\x00\x01]\xff{\x06<\x00\x00\x01]\xff{\x06<\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x00\x00\x00\x01\x12\x00\x00\x00\x01\x06123\x00";

/// A v2 batch from Kafka with a header (hkey=hval) on its record "hdr".
const KAFKA_V2_BATCH_WITH_HEADER: &[u8] = b"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00E\x00\x00\x00\x00\x02\\\xd8\xefR\x00\x00\x00\x00\x00\x00\x00\x00\x01e\x85\xb6\xf3\xc1\x00\x00\x01e\x85\xb6\xf3\xc1\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x00\x00\x00\x01&\x00\x00\x00\x01\x06hdr\x02\x08hkey\x08hval";

fn policy() -> ValidationPolicy {
    ValidationPolicy {
        timestamps: TimestampPolicy::default(),
        inflated_bytes_max: 1 << 20,
    }
}

fn options(magic: u8, first_offset: i64) -> DownConvertOptions {
    DownConvertOptions {
        magic,
        first_offset,
        inflated_bytes_max: 1 << 20,
        output_bytes_max: 1 << 20,
    }
}

/// (offset delta, timestamp delta, key, value) of every record.
type RecordView = (i32, i64, Option<Vec<u8>>, Option<Vec<u8>>);

fn record_view(batch: &[u8]) -> Vec<RecordView> {
    let read = records(batch, 1 << 20).unwrap();
    read.iter()
        .map(|r| {
            let r = r.unwrap();
            (
                r.offset_delta,
                r.timestamp_delta,
                r.key.map(<[u8]>::to_vec),
                r.value.map(<[u8]>::to_vec),
            )
        })
        .collect()
}

#[test]
fn a_kafka_v1_message_set_converts_to_v2_and_back_byte_for_byte() {
    let set = KAFKA_V1_SET.concat();
    let converted = to_v2(&set, &policy(), 1 << 20, NOW).unwrap();
    assert_eq!(
        (converted.record_count, converted.source_magic),
        (4, MAGIC_V1)
    );
    let header = batch::validate(&converted.batch).unwrap();
    assert_eq!(header.base_timestamp.get(), 0x0000_015e_1867_abae);
    assert_eq!(header.max_timestamp(), 0x0000_015e_1867_b803);
    assert_eq!(converted.max_timestamp_ms, header.max_timestamp());
    let values: Vec<_> = record_view(&converted.batch)
        .into_iter()
        .map(|(delta, _, key, value)| (delta, key, value))
        .collect();
    assert_eq!(
        values,
        [
            (0, None, Some(b"123".to_vec())),
            (1, None, Some(vec![])),
            (2, None, Some(vec![])),
            (3, None, Some(b"123".to_vec())),
        ]
    );
    let back = down_convert(&converted.batch, &options(MAGIC_V1, 0)).unwrap();
    assert_eq!(back.bytes, set, "the broker's own bytes again");
    assert_eq!((back.messages, back.batches, back.next_offset), (4, 1, 4));
}

#[test]
fn a_kafka_v0_message_set_converts_to_v2_and_back_byte_for_byte() {
    let set = KAFKA_V0_SET.concat();
    let converted = to_v2(&set, &policy(), 1 << 20, NOW).unwrap();
    let header = batch::validate(&converted.batch).unwrap();
    // v0 has no timestamps: -1 everywhere (NO_TIMESTAMP).
    assert_eq!(
        (header.base_timestamp.get(), header.max_timestamp()),
        (-1, -1)
    );
    assert_eq!(converted.record_count, 4);
    let back = down_convert(&converted.batch, &options(MAGIC_V0, 0)).unwrap();
    assert_eq!(back.bytes, set);
}

#[test]
fn kafka_v2_batches_down_convert_dropping_headers() {
    for magic in [MAGIC_V0, MAGIC_V1] {
        for batch_bytes in [KAFKA_V2_BATCH, KAFKA_V2_BATCH_WITH_HEADER] {
            let header = batch::validate(batch_bytes).unwrap();
            let out = down_convert(batch_bytes, &options(magic, 0)).unwrap();
            let (message, used) = parse_entry(&out.bytes).unwrap().unwrap();
            assert_eq!(used, out.bytes.len());
            message.check_crc().unwrap();
            assert_eq!(
                (message.offset, message.magic, message.key),
                (0, magic, None)
            );
            let expected_ts = if magic == MAGIC_V1 {
                header.base_timestamp.get()
            } else {
                -1
            };
            assert_eq!(message.timestamp_ms, expected_ts);
            let value: &[u8] = if batch_bytes == KAFKA_V2_BATCH {
                b"123"
            } else {
                b"hdr"
            };
            assert_eq!(message.value, Some(value));
        }
    }
}

/// A compressed set as an old producer writes it: one wrapper whose
/// offset is the last inner one and whose timestamp is the inner maximum.
fn wrapped(codec: Codec, magic: u8, timestamps: &[i64]) -> Vec<u8> {
    let mut inner = Vec::new();
    for (i, ts) in timestamps.iter().enumerate() {
        let value = format!("value {i}").repeat(20);
        let key = format!("key {i}");
        write_entry(
            &mut inner,
            i as i64,
            &MessageFields {
                magic,
                attributes: 0,
                timestamp_ms: *ts,
                key: Some(key.as_bytes()),
                value: Some(value.as_bytes()),
            },
        );
    }
    let value = compress_inner(codec, magic, &inner).unwrap();
    let mut out = Vec::new();
    write_entry(
        &mut out,
        timestamps.len() as i64 - 1,
        &MessageFields {
            magic,
            attributes: codec.id() as u8,
            timestamp_ms: if magic == MAGIC_V1 {
                *timestamps.iter().max().unwrap()
            } else {
                -1
            },
            key: None,
            value: Some(&value),
        },
    );
    out
}

#[test]
fn compressed_sets_of_every_legacy_codec_round_trip() {
    for magic in [MAGIC_V0, MAGIC_V1] {
        for codec in [Codec::Gzip, Codec::Snappy, Codec::Lz4] {
            let timestamps = [NOW, NOW + 30, NOW + 10];
            let set = wrapped(codec, magic, &timestamps);
            let converted = to_v2(&set, &policy(), 1 << 20, NOW).unwrap();
            assert_eq!(converted.codec, codec);
            let header = batch::validate(&converted.batch).unwrap();
            assert_eq!(
                header.attributes.get() & 0x07,
                codec.id(),
                "{codec:?} v{magic}"
            );
            let max = if magic == MAGIC_V1 { NOW + 30 } else { -1 };
            assert_eq!(header.max_timestamp(), max);
            let view = record_view(&converted.batch);
            assert_eq!(view.len(), 3);
            assert_eq!(view[2].2.as_deref(), Some(&b"key 2"[..]));
            // Back to the old format: the same wrapper, the same bytes (v1
            // relative inner offsets, v0 absolute, LZ4's v0 checksum).
            let back = down_convert(&converted.batch, &options(magic, 0)).unwrap();
            assert_eq!(back.bytes, set, "{codec:?} v{magic}");
        }
    }
}

fn v2_batch(codec: Codec, base_offset: i64, count: i32, attributes: i16) -> Vec<u8> {
    let mut builder = BatchBuilder::new(
        codec,
        BatchFields {
            attributes,
            ..BatchFields::default()
        },
    );
    for i in 0..count {
        let value = format!("record {i}");
        builder.push(
            i,
            NOW + i as i64,
            None,
            Some(value.as_bytes()),
            &[2, 2, b'h', 2, b'v'],
        );
    }
    builder.finish(base_offset).unwrap()
}

fn messages(set: &[u8]) -> Vec<(i64, i64, u8)> {
    let mut out = Vec::new();
    let mut rest = set;
    while let Some((m, used)) = parse_entry(rest).unwrap() {
        m.check_crc().unwrap();
        out.push((m.offset, m.timestamp_ms, m.attributes));
        rest = &rest[used..];
    }
    out
}

#[test]
fn down_conversion_follows_kafkas_rules() {
    // Uncompressed: records before the fetch offset are left out.
    let plain = v2_batch(Codec::None, 10, 5, 0);
    let out = down_convert(&plain, &options(MAGIC_V1, 12)).unwrap();
    let offsets: Vec<i64> = messages(&out.bytes).iter().map(|m| m.0).collect();
    assert_eq!(offsets, [12, 13, 14]);
    assert_eq!(out.next_offset, 15);
    // Compressed: the whole wrapper, whose offset is the last record's.
    let gzip = v2_batch(Codec::Gzip, 10, 5, 0);
    let out = down_convert(&gzip, &options(MAGIC_V1, 12)).unwrap();
    assert_eq!(messages(&out.bytes), [(14, NOW + 4, 1)]);
    assert_eq!(out.messages, 5);
    // LogAppendTime: the batch's time on the wrapper, its attribute bit set.
    let mut appended = v2_batch(Codec::Lz4, 0, 3, 0);
    batch::set_log_append_time(&mut appended, NOW + 999);
    let out = down_convert(&appended, &options(MAGIC_V1, 0)).unwrap();
    assert_eq!(messages(&out.bytes), [(2, NOW + 999, 3 | 0x08)]);
    let mut appended_plain = v2_batch(Codec::None, 0, 2, 0);
    batch::set_log_append_time(&mut appended_plain, NOW + 5);
    let out = down_convert(&appended_plain, &options(MAGIC_V1, 0)).unwrap();
    assert_eq!(
        messages(&out.bytes),
        [(0, NOW + 5, 0x08), (1, NOW + 5, 0x08)]
    );
    // Control batches are dropped; zstd cannot be expressed.
    let control = v2_batch(Codec::None, 0, 1, 1 << 5);
    let out = down_convert(&control, &options(MAGIC_V1, 0)).unwrap();
    assert!(out.bytes.is_empty());
    assert_eq!(out.next_offset, 1);
    let zstd = v2_batch(Codec::Zstd, 0, 1, 0);
    assert_eq!(
        down_convert(&zstd, &options(MAGIC_V1, 0)),
        Err(DownConvertError::Zstd { base_offset: 0 })
    );
    assert!(matches!(
        down_convert(&plain, &options(2, 0)),
        Err(DownConvertError::BadMagic(2))
    ));
}

#[test]
fn down_conversion_stops_at_the_output_bound_and_a_partial_batch() {
    let mut log = Vec::new();
    for base in [0, 3, 6] {
        log.extend(v2_batch(Codec::None, base, 3, 0));
    }
    let whole = down_convert(&log, &options(MAGIC_V0, 0)).unwrap();
    assert_eq!(
        (whole.batches, whole.messages, whole.next_offset),
        (3, 9, 9)
    );
    let bounded = DownConvertOptions {
        output_bytes_max: 1,
        ..options(MAGIC_V0, 0)
    };
    let first = down_convert(&log, &bounded).unwrap();
    assert_eq!((first.batches, first.next_offset), (1, 3));
    // A read that ends inside the third batch.
    let cut = &log[..log.len() - 7];
    let partial = down_convert(cut, &options(MAGIC_V0, 0)).unwrap();
    assert_eq!((partial.batches, partial.next_offset), (2, 6));
    // A broken batch in the middle is an error, not the end.
    let mut broken = log.clone();
    let second = batch::header(&log).unwrap().total_bytes();
    broken[second + 40] ^= 0xff;
    assert!(matches!(
        down_convert(&broken, &options(MAGIC_V0, 0)),
        Err(DownConvertError::Batch { .. })
    ));
}

#[test]
fn produced_message_sets_are_refused_as_kafka_refuses_them() {
    let single = KAFKA_V1_SET[0];
    let refuse =
        |set: &[u8], policy: &ValidationPolicy| to_v2(set, policy, 1 << 20, NOW).unwrap_err();
    // Two wrappers in one set.
    let two = [
        wrapped(Codec::Gzip, MAGIC_V1, &[NOW]),
        wrapped(Codec::Gzip, MAGIC_V1, &[NOW]),
    ]
    .concat();
    assert!(refuse(&two, &policy())
        .to_string()
        .contains("more than one batch"));
    // v0 and v1 mixed.
    let mixed = [KAFKA_V1_SET[0], KAFKA_V0_SET[1]].concat();
    assert!(refuse(&mixed, &policy())
        .to_string()
        .contains("is not the same as the first"));
    // A flipped bit fails the CRC-32.
    let mut flipped = single.to_vec();
    *flipped.last_mut().unwrap() ^= 1;
    assert!(matches!(
        refuse(&flipped, &policy()),
        ValidationError::Corrupt(_)
    ));
    // A message over max.message.bytes.
    assert!(matches!(
        to_v2(single, &policy(), single.len() - 1, NOW),
        Err(ValidationError::TooLarge(_))
    ));
    // Nothing whole at all.
    assert!(matches!(
        refuse(&single[..20], &policy()),
        ValidationError::InvalidRecord { .. }
    ));
    // A bomb inflates only as far as the bound.
    let bomb = wrapped(Codec::Gzip, MAGIC_V1, &vec![NOW; 40_000]);
    let tight = ValidationPolicy {
        inflated_bytes_max: 64 << 10,
        ..policy()
    };
    assert!(matches!(
        refuse(&bomb, &tight),
        ValidationError::TooLarge(_)
    ));
}

#[test]
fn legacy_timestamps_follow_the_topic_policy() {
    let window = ValidationPolicy {
        timestamps: TimestampPolicy {
            timestamp_type: TimestampType::CreateTime,
            before_max_ms: 1_000,
            after_max_ms: 1_000,
        },
        ..policy()
    };
    // Compressed v1: record 1 is an hour old.
    let set = wrapped(Codec::Snappy, MAGIC_V1, &[NOW, NOW - 3_600_000, NOW]);
    let error = to_v2(&set, &window, 1 << 20, NOW).unwrap_err();
    assert!(matches!(error, ValidationError::InvalidTimestamp { .. }));
    let indexes: Vec<i32> = error
        .record_errors()
        .iter()
        .map(|e| e.batch_index)
        .collect();
    assert_eq!(indexes, [1]);
    // The live v1 messages are from 2017: far outside the window.
    let error = to_v2(&KAFKA_V1_SET.concat(), &window, 1 << 20, NOW).unwrap_err();
    assert_eq!(error.record_errors().len(), 4);
    // v0 has no timestamps, so no window applies.
    assert!(to_v2(&KAFKA_V0_SET.concat(), &window, 1 << 20, NOW).is_ok());
    // A producer's LogAppendTime message in a LogAppendTime topic.
    let log_append = ValidationPolicy {
        timestamps: TimestampPolicy {
            timestamp_type: TimestampType::LogAppendTime,
            ..window.timestamps
        },
        ..policy()
    };
    let mut claimed = KAFKA_V1_SET[0].to_vec();
    claimed[17] |= 0x08;
    let crc = crc32fast::hash(&claimed[16..]);
    claimed[12..16].copy_from_slice(&crc.to_be_bytes());
    assert!(matches!(
        to_v2(&claimed, &log_append, 1 << 20, NOW),
        Err(ValidationError::InvalidTimestamp { .. })
    ));
    assert!(to_v2(&KAFKA_V1_SET.concat(), &log_append, 1 << 20, NOW).is_ok());
}

#[test]
fn hostile_message_sets_never_panic() {
    let sets = [
        KAFKA_V1_SET.concat(),
        wrapped(Codec::Gzip, MAGIC_V1, &[NOW, NOW]),
        wrapped(Codec::Lz4, MAGIC_V0, &[NOW, NOW]),
        wrapped(Codec::Snappy, MAGIC_V1, &[NOW]),
    ];
    for set in sets {
        for cut in 0..set.len() {
            let _ = to_v2(&set[..cut], &policy(), 1 << 20, NOW);
        }
        for i in 0..set.len() {
            for bit in [0, 3, 7] {
                let mut flipped = set.clone();
                flipped[i] ^= 1 << bit;
                // With the CRC fixed up, so the flip reaches the parsers.
                if flipped.len() >= 16 {
                    let crc = crc32fast::hash(&flipped[16..]);
                    flipped[12..16].copy_from_slice(&crc.to_be_bytes());
                }
                let _ = to_v2(&flipped, &policy(), 1 << 20, NOW);
            }
        }
    }
}
