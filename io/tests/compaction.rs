//! Log compaction through the public API, on the in-memory storage: the
//! latest value per key survives with its offset, tombstones go after their
//! horizon, a small map cleans in several passes, and a reopened log keeps
//! what the cleaner did.

use std::collections::BTreeMap;
use std::path::Path;

use futures::executor::block_on;
use sluice_io::compression::Codec;
use sluice_io::log::compact::{CleanOutcome, CleanerLimits, CompactionConfig, Unpaced};
use sluice_io::storage::memory::MemStorage;
use sluice_io::{batch, records, AppendTime, LogConfig, PartitionLog};

type Log = PartitionLog<MemStorage>;

const DIR: &str = "/data/compacted-0";

fn config() -> LogConfig {
    LogConfig {
        segment_bytes: 2_048,
        index_interval_bytes: 512,
        ..LogConfig::default()
    }
}

fn compaction(delete_retention_ms: i64) -> CompactionConfig {
    CompactionConfig {
        delete_retention_ms,
        min_cleanable_dirty_ratio: 0.0,
        ..CompactionConfig::default()
    }
}

/// Appends one batch of (key, value) records and waits for it.
async fn append(log: &Log, codec: Codec, records: &[(String, Option<String>)], now_ms: i64) -> u64 {
    let pairs: Vec<records::KeyValue<'_>> = records
        .iter()
        .map(|(k, v)| (Some(k.as_bytes()), v.as_deref().map(str::as_bytes)))
        .collect();
    let bytes = records::build_batch(codec, now_ms, &pairs).unwrap();
    let info = log
        .append(&bytes, now_ms, AppendTime::Create)
        .await
        .unwrap();
    log.wait_durable(info.last_offset + 1).await.unwrap();
    info.base_offset
}

/// Every record readable, as (offset, key, value), checking offsets only
/// ever increase.
async fn read_all(log: &Log) -> Vec<(u64, String, Option<String>)> {
    let mut out: Vec<(u64, String, Option<String>)> = Vec::new();
    let mut next = log.log_start_offset();
    while next < log.written_offset() {
        let read = log.read(next, 1 << 20, true).await.unwrap();
        if read.bytes == 0 {
            break;
        }
        for item in batch::iter(&read.to_vec()) {
            let (_, bytes) = item.unwrap();
            let base = batch::header(bytes).unwrap().base_offset() as u64;
            for record in records::records(bytes, 1 << 20).unwrap().iter() {
                let record = record.unwrap();
                let offset = base + record.offset_delta as u64;
                if let Some(last) = out.last() {
                    assert!(offset > last.0, "offset {offset} after {}", last.0);
                }
                let text = |b: Option<&[u8]>| b.map(|b| String::from_utf8(b.to_vec()).unwrap());
                out.push((offset, text(record.key).unwrap(), text(record.value)));
            }
        }
        next = read.next_offset;
    }
    out
}

async fn clean(
    log: &Log,
    now_ms: i64,
    config: &CompactionConfig,
    limits: &CleanerLimits,
) -> CleanOutcome {
    log.clean(now_ms, config, limits, &mut Unpaced)
        .await
        .unwrap()
}

/// Writes `rounds` values of every key, then tombstones for the keys below
/// `tombstoned`; returns the latest (offset, value) per key.
async fn fill(
    log: &Log,
    keys: usize,
    rounds: usize,
    tombstoned: usize,
) -> BTreeMap<String, (u64, Option<String>)> {
    let mut latest = BTreeMap::new();
    let codecs = [
        Codec::None,
        Codec::Lz4,
        Codec::Zstd,
        Codec::Gzip,
        Codec::Snappy,
    ];
    for round in 0..rounds {
        for chunk in (0..keys).collect::<Vec<_>>().chunks(7) {
            let records: Vec<(String, Option<String>)> = chunk
                .iter()
                .map(|k| (format!("key-{k}"), Some(format!("value-{k}-{round}"))))
                .collect();
            let base = append(log, codecs[round % codecs.len()], &records, 1_000).await;
            for (i, (k, v)) in records.into_iter().enumerate() {
                latest.insert(k, (base + i as u64, v));
            }
        }
    }
    for k in 0..tombstoned {
        let key = format!("key-{k}");
        let base = append(log, Codec::None, &[(key.clone(), None)], 1_000).await;
        latest.insert(key, (base, None));
    }
    latest
}

fn expect_latest(
    read: &[(u64, String, Option<String>)],
    latest: &BTreeMap<String, (u64, Option<String>)>,
    tombstones_kept: bool,
) {
    let mut want: Vec<(u64, String, Option<String>)> = latest
        .iter()
        .filter(|(_, (_, v))| tombstones_kept || v.is_some())
        .map(|(k, (o, v))| (*o, k.clone(), v.clone()))
        .collect();
    want.sort();
    assert_eq!(read, &want[..]);
}

#[test]
fn latest_value_per_key_survives_and_tombstones_go_after_their_horizon() {
    block_on(async {
        let storage = MemStorage::new();
        let log = PartitionLog::open(storage.clone(), Path::new(DIR), config())
            .await
            .unwrap();
        let latest = fill(&log, 60, 12, 10).await;
        log.roll_now().await.unwrap();
        let end = log.log_end_offset();
        let segments = log.segment_base_offsets().len();
        assert!(segments > 5, "small segments: {segments}");
        let size_before = log.size_bytes();
        let limits = CleanerLimits::default();
        let CleanOutcome::Cleaned(stats) = clean(&log, 10_000, &compaction(5_000), &limits).await
        else {
            panic!("a dirty log is cleaned")
        };
        assert_eq!(stats.end_offset, end, "everything sealed was mapped");
        assert_eq!(stats.records_kept, 60);
        assert!(
            log.size_bytes() < size_before / 4,
            "{} of {size_before}",
            log.size_bytes()
        );
        assert_eq!(log.log_end_offset(), end, "offsets never change");
        assert_eq!(log.log_start_offset(), 0);
        expect_latest(&read_all(&log).await, &latest, true);
        // Reading from inside a gap gives the next record kept.
        let gap = latest["key-30"].0 - 1;
        let read = log.read(gap, 1 << 20, true).await.unwrap();
        assert!(read.bytes > 0 && read.next_offset > gap);

        // Nothing new: nothing to do, until the tombstones' horizon passes.
        assert_eq!(
            clean(&log, 14_999, &compaction(5_000), &limits).await,
            CleanOutcome::NothingToClean
        );
        let CleanOutcome::Cleaned(stats) = clean(&log, 15_000, &compaction(5_000), &limits).await
        else {
            panic!("tombstones past their horizon make the log due")
        };
        assert_eq!(stats.tombstones_removed, 10);
        // Cleaned segments are small now: they were merged into fewer.
        assert!(log.segment_base_offsets().len() < segments / 2);
        expect_latest(&read_all(&log).await, &latest, false);

        // A reopened log reads the same and remembers where cleaning ended.
        log.close().await.unwrap();
        drop(log);
        let log = PartitionLog::open(storage, Path::new(DIR), config())
            .await
            .unwrap();
        expect_latest(&read_all(&log).await, &latest, false);
        assert_eq!(
            clean(&log, 20_000, &compaction(5_000), &limits).await,
            CleanOutcome::NothingToClean
        );
        // And keeps working: new values, then a cleaning of only them.
        let more = append(
            &log,
            Codec::None,
            &[("key-40".into(), Some("newest".into()))],
            1_000,
        )
        .await;
        log.roll_now().await.unwrap();
        assert!(matches!(
            clean(&log, 20_000, &compaction(5_000), &limits).await,
            CleanOutcome::Cleaned(_)
        ));
        let read = read_all(&log).await;
        assert!(read.contains(&(more, "key-40".into(), Some("newest".into()))));
        assert_eq!(read.iter().filter(|r| r.1 == "key-40").count(), 1);
    });
}

#[test]
fn a_small_dedupe_buffer_cleans_in_several_passes() {
    block_on(async {
        let log = PartitionLog::open(MemStorage::new(), Path::new(DIR), config())
            .await
            .unwrap();
        let latest = fill(&log, 700, 3, 0).await;
        log.roll_now().await.unwrap();
        // 1024 slots at a load factor of 0.1: about 100 keys per pass.
        let limits = CleanerLimits {
            dedupe_bytes_max: 1,
            load_factor: 0.1,
            ..CleanerLimits::default()
        };
        let mut passes = 0;
        loop {
            match clean(&log, 10_000, &compaction(5_000), &limits).await {
                CleanOutcome::Cleaned(stats) => {
                    assert!(stats.map_entries <= 103, "{}", stats.map_entries);
                    passes += 1;
                    assert!(passes < 100, "cleaning makes progress");
                }
                CleanOutcome::NothingToClean => break,
                other => panic!("{other:?}"),
            }
        }
        assert!(passes > 5, "{passes} passes");
        expect_latest(&read_all(&log).await, &latest, true);
    });
}

#[test]
fn young_segments_and_the_active_segment_are_left_alone() {
    block_on(async {
        let log = PartitionLog::open(MemStorage::new(), Path::new(DIR), config())
            .await
            .unwrap();
        for i in 0..40 {
            append(
                &log,
                Codec::None,
                &[("k".into(), Some(format!("v{i}")))],
                1_000 + i,
            )
            .await;
        }
        let lagging = CompactionConfig {
            min_compaction_lag_ms: 1_000,
            ..compaction(0)
        };
        let limits = CleanerLimits::default();
        // Every record is younger than the lag at 1_500.
        assert_eq!(
            clean(&log, 1_500, &lagging, &limits).await,
            CleanOutcome::NothingToClean
        );
        assert_eq!(read_all(&log).await.len(), 40);
        let cleanable = log.cleanable(5_000, &lagging).await.unwrap().unwrap();
        assert!(cleanable.dirty_ratio > 0.9 && cleanable.is_due(0.5));
        assert!(matches!(
            clean(&log, 5_000, &lagging, &limits).await,
            CleanOutcome::Cleaned(_)
        ));
        let read = read_all(&log).await;
        // The active segment keeps its duplicates; the sealed part one value.
        let active = *log.segment_base_offsets().last().unwrap();
        assert_eq!(read.iter().filter(|r| r.0 < active).count(), 1);
        assert_eq!(read.last().unwrap().2.as_deref(), Some("v39"));
    });
}

#[test]
fn max_compaction_lag_makes_a_clean_log_due_whatever_its_ratio() {
    block_on(async {
        let log = PartitionLog::open(MemStorage::new(), Path::new(DIR), config())
            .await
            .unwrap();
        for i in 0..40 {
            append(
                &log,
                Codec::None,
                &[("k".into(), Some(format!("v{i}")))],
                1_000,
            )
            .await;
        }
        log.roll_now().await.unwrap();
        let never_by_ratio = CompactionConfig {
            min_cleanable_dirty_ratio: 1.5,
            max_compaction_lag_ms: 10_000,
            ..CompactionConfig::default()
        };
        let young = log
            .cleanable(5_000, &never_by_ratio)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(young.overdue_ms, 0);
        assert!(!young.is_due(1.5));
        let old = log
            .cleanable(20_000, &never_by_ratio)
            .await
            .unwrap()
            .unwrap();
        assert!(old.overdue_ms > 0 && old.is_due(1.5), "{old:?}");
        let limits = CleanerLimits::default();
        assert!(matches!(
            clean(&log, 20_000, &never_by_ratio, &limits).await,
            CleanOutcome::Cleaned(_)
        ));
        assert_eq!(read_all(&log).await.len(), 1);
    });
}
