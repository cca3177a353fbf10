//! Compaction on a real disk: O_DIRECT cleaned segments, renames and
//! directory syncs on glommio's blocking pool, the broker's pacer, and a
//! reopen that reads what the cleaner left.

use std::collections::BTreeMap;

use sluice_io::compression::Codec;
use sluice_io::log::compact::{CleanOutcome, CleanerLimits, CompactionConfig, Throttle};
use sluice_io::storage::dma::DmaStorage;
use sluice_io::{batch, records, AppendTime, FlushPolicy, PartitionLog};

use crate::support::*;

async fn read_records(log: &DiskLog) -> Vec<(u64, Vec<u8>, Vec<u8>)> {
    let (bytes, _) = read_to_end(log, log.log_start_offset(), 1 << 20).await;
    let mut out = Vec::new();
    for item in batch::iter(&bytes) {
        let (_, bytes) = item.unwrap();
        let base = batch::header(bytes).unwrap().base_offset() as u64;
        for record in records::records(bytes, 1 << 20).unwrap().iter() {
            let record = record.unwrap();
            out.push((
                base + record.offset_delta as u64,
                record.key.unwrap().to_vec(),
                record.value.unwrap().to_vec(),
            ));
        }
    }
    out
}

#[test]
fn cleaned_segments_replace_the_old_ones_on_disk() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("compacted-0");
    run(move || async move {
        let config = config(16_384, FlushPolicy::KAFKA_DEFAULT);
        let log = PartitionLog::open(DmaStorage, &dir, config.clone())
            .await
            .unwrap();
        let mut latest = BTreeMap::new();
        for i in 0..2_000u32 {
            let key = format!("key-{}", i % 50).into_bytes();
            let value = format!("value-{i}").repeat(8).into_bytes();
            let codec = if i % 2 == 0 { Codec::Zstd } else { Codec::None };
            let bytes = records::build_batch(codec, 1_000, &[(Some(&key), Some(&value))]).unwrap();
            let info = log.append(&bytes, 1_000, AppendTime::Create).await.unwrap();
            log.wait_durable(info.last_offset + 1).await.unwrap();
            latest.insert(key, (info.base_offset, value));
        }
        log.roll_now().await.unwrap();
        let before = dir_files(&dir).len();
        let compaction = CompactionConfig {
            min_cleanable_dirty_ratio: 0.0,
            ..CompactionConfig::default()
        };
        let mut pacer = Throttle::new(f64::INFINITY, || false);
        let outcome = log
            .clean(2_000, &compaction, &CleanerLimits::default(), &mut pacer)
            .await
            .unwrap();
        assert!(matches!(outcome, CleanOutcome::Cleaned(_)), "{outcome:?}");
        let mut want: Vec<_> = latest
            .iter()
            .map(|(k, (o, v))| (*o, k.clone(), v.clone()))
            .collect();
        want.sort();
        assert_eq!(read_records(&log).await, want);
        let files = dir_files(&dir);
        assert!(files.contains_key("cleaner-offset-checkpoint"));
        assert!(
            !files
                .keys()
                .any(|f| f.ends_with(".cleaned") || f.ends_with(".swap")),
            "{files:?}"
        );
        // The same segments (a first cleaning merges only small ones) and
        // the checkpoint.
        assert_eq!(files.len(), before + 1, "{files:?}");
        log.close().await.unwrap();
        drop(log);
        let log = PartitionLog::open(DmaStorage, &dir, config).await.unwrap();
        assert_eq!(read_records(&log).await, want);
        log.close().await.unwrap();
    });
}
