//! Reopening a log: after a clean close, with a torn tail, without indexes.

use std::io::Write;
use std::path::PathBuf;

use sluice_io::batch;
use sluice_io::storage::dma::DmaStorage;
use sluice_io::{FlushPolicy, IoError, PartitionLog};

use crate::support::*;

#[test]
fn reopen_after_clean_close() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("topic-0");
    run(move || async move {
        let config = config(64 << 10, FlushPolicy::KAFKA_DEFAULT);
        let log = PartitionLog::open(DmaStorage, &dir, config.clone())
            .await
            .unwrap();
        let mut appended = append_batches(&log, 0, 40, &[100, 2_500, 7_000, 9_999]).await;
        let end = log.log_end_offset();
        let bases = log.segment_base_offsets();
        assert!(bases.len() >= 4, "{bases:?}");
        let mut by_time = Vec::new();
        for batch in &appended {
            by_time.push(log.offset_for_timestamp(batch.timestamp_ms).await.unwrap());
        }
        log.close().await.unwrap();
        drop(log);

        let log = PartitionLog::open(DmaStorage, &dir, config.clone())
            .await
            .unwrap();
        assert_eq!(log.log_end_offset(), end);
        assert_eq!(
            (log.log_start_offset(), log.segment_base_offsets()),
            (0, bases.clone())
        );
        assert_batches(&read_to_end(&log, 0, 1 << 20).await.0, &appended);
        for (batch, before) in appended.iter().zip(&by_time) {
            assert_eq!(*before, Some((batch.timestamp_ms, batch.base_offset)));
            let after = log.offset_for_timestamp(batch.timestamp_ms).await.unwrap();
            assert_eq!(
                after, *before,
                "offset for {} ms after reopen",
                batch.timestamp_ms
            );
        }
        let more = append_durable(&log, seeded_batch(500, 3, 3_000, 99_000), end).await;
        appended.push(more.clone());
        assert_batches(&log.read(end, 1, true).await.unwrap().to_vec(), &[more]);

        // Move the start into the third segment: the first two go.
        let start_batch = appended
            .iter()
            .find(|b| b.base_offset > bases[2])
            .unwrap()
            .clone();
        let start = start_batch.base_offset + 1;
        log.advance_log_start_offset(start).await.unwrap();
        assert_eq!(log.log_start_offset(), start);
        log.close().await.unwrap();
        drop(log);
        for base in &bases[..2] {
            assert!(
                !segment_file(&dir, *base, ".log").exists(),
                "segment {base} deleted"
            );
        }
        assert_eq!(
            std::fs::read_to_string(dir.join("log-start-offset")).unwrap(),
            format!("{start}\n")
        );

        let log = PartitionLog::open(DmaStorage, &dir, config).await.unwrap();
        assert_eq!(log.log_start_offset(), start);
        assert_eq!(log.log_end_offset(), end + 3);
        assert_eq!(log.segment_base_offsets()[0], bases[2]);
        assert!(matches!(
            log.read(start - 1, 1 << 20, true).await,
            Err(IoError::OffsetOutOfRange { .. })
        ));
        let kept: Vec<_> = appended
            .iter()
            .filter(|b| b.last_offset >= start)
            .cloned()
            .collect();
        assert_eq!(kept[0].base_offset, start_batch.base_offset);
        assert_batches(&read_to_end(&log, start, 10_000).await.0, &kept);
        log.close().await.unwrap();
    });
}

/// Bytes to append to the last `.log` file, given the log end offset.
type TailDamage = fn(u64) -> Vec<u8>;

#[test]
fn torn_tail_is_cut_on_open() {
    let tails: [(&str, TailDamage); 3] = [
        ("garbage", |_| {
            (0..3_000u32).map(|i| (i % 255 + 1) as u8).collect()
        }),
        ("half a batch", |end| {
            let mut bytes = seeded_batch(900, 4, 9_000, 5);
            batch::header_mut(&mut bytes)
                .unwrap()
                .base_offset
                .set(end as i64);
            bytes.truncate(4_500);
            bytes
        }),
        ("zeros", |_| vec![0; 5_000]),
    ];
    for (what, tail) in tails {
        let temp = tempfile::tempdir().unwrap();
        let dir = temp.path().join("topic-0");
        run(move || async move {
            let config = config(64 << 10, FlushPolicy::KAFKA_DEFAULT);
            let log = PartitionLog::open(DmaStorage, &dir, config.clone())
                .await
                .unwrap();
            let mut appended = append_batches(&log, 0, 30, &[100, 3_000, 7_777]).await;
            let end = log.log_end_offset();
            let last = segment_file(&dir, *log.segment_base_offsets().last().unwrap(), ".log");
            log.close().await.unwrap();
            drop(log);
            let size = std::fs::metadata(&last).unwrap().len();
            let mut file = std::fs::OpenOptions::new()
                .append(true)
                .open(&last)
                .unwrap();
            file.write_all(&tail(end)).unwrap();
            drop(file);

            let log = PartitionLog::open(DmaStorage, &dir, config.clone())
                .await
                .unwrap();
            assert_eq!(log.log_end_offset(), end, "{what}");
            assert_eq!(
                std::fs::metadata(&last).unwrap().len(),
                size,
                "{what}: cut back"
            );
            let more = append_durable(&log, seeded_batch(31, 2, 1_234, 7), end).await;
            appended.push(more);
            assert_batches(&read_to_end(&log, 0, 50_000).await.0, &appended);
            log.close().await.unwrap();
            drop(log);

            let log = PartitionLog::open(DmaStorage, &dir, config).await.unwrap();
            assert_eq!(log.log_end_offset(), end + 2, "{what}");
            assert_batches(&read_to_end(&log, 0, 1 << 20).await.0, &appended);
        });
    }
}

/// What to do to the index files of a closed log.
#[derive(Clone, Copy, Debug)]
enum IndexDamage {
    DeleteAll,
    /// Cut the second segment's `.index` to an odd length.
    TruncateOne,
}

fn indexes_rebuilt(damage: IndexDamage) {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("topic-0");
    run(move || async move {
        let config = config(64 << 10, FlushPolicy::KAFKA_DEFAULT);
        let log = PartitionLog::open(DmaStorage, &dir, config.clone())
            .await
            .unwrap();
        let appended = append_batches(&log, 0, 200, &[200, 1_500, 3_000, 900]).await;
        let bases = log.segment_base_offsets();
        assert!(bases.len() >= 4, "{bases:?}");
        log.close().await.unwrap();
        drop(log);
        let index_files: Vec<PathBuf> = bases
            .iter()
            .flat_map(|b| {
                [
                    segment_file(&dir, *b, ".index"),
                    segment_file(&dir, *b, ".timeindex"),
                ]
            })
            .collect();
        let originals: Vec<Vec<u8>> = index_files
            .iter()
            .map(|p| std::fs::read(p).unwrap())
            .collect();
        match damage {
            IndexDamage::DeleteAll => index_files
                .iter()
                .for_each(|p| std::fs::remove_file(p).unwrap()),
            IndexDamage::TruncateOne => {
                let path = segment_file(&dir, bases[1], ".index");
                let len = std::fs::metadata(&path).unwrap().len();
                assert!(len >= 16, "the segment has index entries");
                let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
                file.set_len(len - 3).unwrap();
            }
        }

        let log = PartitionLog::open(DmaStorage, &dir, config).await.unwrap();
        assert_eq!(log.segment_base_offsets(), bases);
        // Sealed segments' indexes are rebuilt as they were written.
        let sealed = 2 * (bases.len() - 1);
        for (path, original) in index_files.iter().zip(&originals).take(sealed) {
            let rebuilt = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert!(
                rebuilt == *original,
                "{damage:?}: {} differs",
                path.display()
            );
        }
        for want in &appended {
            for offset in [want.base_offset, want.last_offset] {
                let read = log.read(offset, 1, true).await.unwrap();
                assert_batches(&read.to_vec(), std::slice::from_ref(want));
            }
            for timestamp_ms in [want.timestamp_ms - 5, want.timestamp_ms] {
                let found = log.offset_for_timestamp(timestamp_ms).await.unwrap();
                assert_eq!(
                    found,
                    Some((want.timestamp_ms, want.base_offset)),
                    "{timestamp_ms} ms"
                );
            }
        }
        let newest = appended.last().unwrap().timestamp_ms;
        assert_eq!(log.offset_for_timestamp(newest + 1).await.unwrap(), None);
        log.close().await.unwrap();
        for (path, original) in index_files.iter().zip(&originals) {
            assert!(
                std::fs::read(path).unwrap() == *original,
                "{}",
                path.display()
            );
        }
    });
}

#[test]
fn indexes_rebuilt_after_deletion() {
    indexes_rebuilt(IndexDamage::DeleteAll);
}

#[test]
fn index_rebuilt_after_truncation_to_odd_length() {
    indexes_rebuilt(IndexDamage::TruncateOne);
}
