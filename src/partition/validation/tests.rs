use super::*;
use sluice_io::batch::build_test_batch;
use sluice_io::batch_builder::{BatchBuilder, BatchFields};
use sluice_io::compression::Codec;
use sluice_io::legacy::message::{write_entry, MessageFields};

const NOW: i64 = 1_700_000_000_000;

fn rules(batch_bytes_max: usize) -> RecordRules {
    RecordRules {
        batch_bytes_max,
        timestamps: TimestampPolicy::default(),
    }
}

fn batch(timestamps: &[i64]) -> Vec<u8> {
    let mut builder = BatchBuilder::new(Codec::None, BatchFields::default());
    for (i, ts) in timestamps.iter().enumerate() {
        builder.push(i as i32, *ts, None, Some(b"v"), &[0]);
    }
    builder.finish(0).unwrap()
}

fn check(
    records: &[u8],
    format: RecordsFormat,
    rules: &RecordRules,
) -> Result<AppendTime, Refusal> {
    check_records(records, format, rules, NOW).map(|c| c.append_time)
}

#[test]
fn batch_checks_follow_kafka() {
    let one = batch(&[NOW, NOW]);
    let v2 = RecordsFormat::V2Batch;
    assert_eq!(check(&one, v2, &rules(1 << 20)), Ok(AppendTime::Create));
    let mut two = one.clone();
    two.extend_from_slice(&one);
    assert_eq!(
        check(&two, v2, &rules(1 << 20)).unwrap_err().error,
        ResponseError::InvalidRecord
    );
    assert_eq!(
        check(&one, v2, &rules(50)).unwrap_err().error,
        ResponseError::MessageTooLarge
    );
    let mut corrupt = one.clone();
    *corrupt.last_mut().unwrap() ^= 1;
    assert_eq!(
        check(&corrupt, v2, &rules(1 << 20)).unwrap_err().error,
        ResponseError::CorruptMessage
    );
    let mut cut = one.clone();
    cut.pop();
    assert_eq!(
        check(&cut, v2, &rules(1 << 20)).unwrap_err().error,
        ResponseError::CorruptMessage
    );
    assert_eq!(
        check(&[], v2, &rules(1 << 20)).unwrap_err().error,
        ResponseError::CorruptMessage
    );
    // Opaque bytes where records belong: the record walk refuses them.
    let opaque = build_test_batch(3, 100, 0);
    assert_eq!(
        check(&opaque, v2, &rules(1 << 20)).unwrap_err().error,
        ResponseError::InvalidRecord
    );
}

#[test]
fn a_wrong_max_timestamp_becomes_the_records_maximum() {
    let mut wrong = batch(&[NOW, NOW + 500, NOW + 20]);
    batch::header_mut(&mut wrong)
        .unwrap()
        .max_timestamp
        .set(NOW);
    let crc = batch::compute_crc(&wrong);
    batch::header_mut(&mut wrong).unwrap().crc.set(crc);
    let checked = check_records(&wrong, RecordsFormat::V2Batch, &rules(1 << 20), NOW).unwrap();
    assert_eq!(
        checked.append_time,
        AppendTime::CreateWithMaxTimestamp(NOW + 500)
    );
    assert!(
        matches!(checked.batch, Cow::Borrowed(_)),
        "no copy before the log's"
    );
}

#[test]
fn timestamp_rules_give_kafkas_errors() {
    let window = RecordRules {
        batch_bytes_max: 1 << 20,
        timestamps: TimestampPolicy {
            timestamp_type: TimestampType::CreateTime,
            before_max_ms: 1_000,
            after_max_ms: 1_000,
        },
    };
    let refusal = check(&batch(&[NOW, NOW + 5_000]), RecordsFormat::V2Batch, &window).unwrap_err();
    assert_eq!(refusal.error, ResponseError::InvalidTimestamp);
    assert_eq!(refusal.record_errors.len(), 1);
    assert_eq!(refusal.record_errors[0].0, 1);
    assert!(refusal.record_errors[0].1.contains("is out of range"));
    let log_append = RecordRules {
        timestamps: TimestampPolicy {
            timestamp_type: TimestampType::LogAppendTime,
            ..window.timestamps
        },
        ..window
    };
    assert_eq!(
        check(&batch(&[1]), RecordsFormat::V2Batch, &log_append),
        Ok(AppendTime::LogAppend(NOW))
    );
}

fn v1_message_set(count: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..count {
        write_entry(
            &mut out,
            i as i64,
            &MessageFields {
                magic: 1,
                attributes: 0,
                timestamp_ms: NOW + i as i64,
                key: Some(b"k"),
                value: Some(b"value"),
            },
        );
    }
    out
}

#[test]
fn message_sets_are_converted_only_for_old_produce_versions() {
    let set = v1_message_set(3);
    let refusal = check(&set, RecordsFormat::V2Batch, &rules(1 << 20)).unwrap_err();
    assert_eq!(refusal.error, ResponseError::UnsupportedForMessageFormat);
    let checked = check_records(&set, RecordsFormat::MessageSet, &rules(1 << 20), NOW).unwrap();
    let header = batch::validate(&checked.batch).unwrap();
    assert_eq!(
        (header.record_count.get(), header.max_timestamp()),
        (3, NOW + 2)
    );
    assert_eq!(checked.producer.producer_id, -1);
    // Each message fits, but the converted batch does not: Kafka checks
    // the converted size again.
    let tight = rules(set.len() / 3 + 5);
    let refusal = check(&set, RecordsFormat::MessageSet, &tight).unwrap_err();
    assert_eq!(refusal.error, ResponseError::MessageTooLarge);
    // v2 batches are fine in old requests too.
    assert!(check(&batch(&[NOW]), RecordsFormat::MessageSet, &rules(1 << 20)).is_ok());
}

#[test]
fn the_inflation_bound_grows_with_max_message_bytes() {
    assert_eq!(rules(1).inflated_bytes_max(), INFLATED_BYTES_MIN);
    assert_eq!(rules(8 << 20).inflated_bytes_max(), 256 << 20);
    assert_eq!(rules(usize::MAX).inflated_bytes_max(), usize::MAX);
}
