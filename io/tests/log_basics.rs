//! The partition log's behaviour through its public API, on the in-memory
//! storage (no executor needed: its futures never pend).

use std::path::Path;

use futures::executor::block_on;
use sluice_io::batch::build_test_batch;
use sluice_io::storage::memory::MemStorage;
use sluice_io::{AppendTime, FlushPolicy, IoError, LogConfig, PartitionLog, Retention};

fn small_segments() -> LogConfig {
    LogConfig {
        segment_bytes: 64 << 10,
        index_interval_bytes: 1024,
        flush_policy: FlushPolicy::EveryWrite,
        ..LogConfig::default()
    }
}

fn offsets_in(bytes: &[u8]) -> Vec<(u64, u64)> {
    sluice_io::batch::iter(bytes)
        .map(|item| {
            let (_, batch) = item.expect("valid batches");
            let header = sluice_io::batch::header(batch).unwrap();
            (header.base_offset() as u64, header.last_offset() as u64)
        })
        .collect()
}

#[test]
fn append_read_roll_and_reopen() {
    block_on(async {
        let storage = MemStorage::new();
        let dir = Path::new("/data/t-0");
        let log = PartitionLog::open(storage.clone(), dir, small_segments())
            .await
            .unwrap();
        assert_eq!(log.log_end_offset(), 0);
        let mut expected = Vec::new();
        for i in 0..200u64 {
            let batch = build_test_batch(3, 700 + (i as usize % 50), 1000 + i as i64);
            let info = log.append(&batch, 0, AppendTime::Create).await.unwrap();
            assert_eq!(info.base_offset, i * 3);
            assert_eq!(info.last_offset, i * 3 + 2);
            log.wait_durable(info.last_offset + 1).await.unwrap();
            expected.push((info.base_offset, info.last_offset));
        }
        assert!(
            log.segment_base_offsets().len() > 1,
            "rolled by segment.bytes"
        );
        assert_eq!(log.synced_offset(), 600);

        // Read everything back, batch-aligned, in several reads.
        let mut got = Vec::new();
        let mut next = 0;
        while next < log.log_end_offset() {
            let read = log.read(next, 10_000, true).await.unwrap();
            assert!(read.bytes > 0);
            got.extend(offsets_in(&read.to_vec()));
            next = read.next_offset;
        }
        assert_eq!(got, expected);

        // A read from the middle of a batch starts at that batch.
        let read = log.read(4, 1, true).await.unwrap();
        assert_eq!(offsets_in(&read.to_vec()), vec![(3, 5)]);
        assert!(matches!(
            log.read(601, 100, true).await,
            Err(IoError::OffsetOutOfRange { .. })
        ));
        assert_eq!(log.read(600, 100, true).await.unwrap().bytes, 0);

        log.close().await.unwrap();
        let reopened = PartitionLog::open(storage.clone(), dir, small_segments())
            .await
            .unwrap();
        assert_eq!(reopened.log_end_offset(), 600);
        let mut got = Vec::new();
        let mut next = 0;
        while next < 600 {
            let read = reopened.read(next, 50_000, true).await.unwrap();
            got.extend(offsets_in(&read.to_vec()));
            next = read.next_offset;
        }
        assert_eq!(got, expected);
        let info = reopened
            .append(&build_test_batch(1, 10, 5), 0, AppendTime::Create)
            .await
            .unwrap();
        assert_eq!(info.base_offset, 600);
    });
}

#[test]
fn timestamps_retention_truncation() {
    block_on(async {
        let storage = MemStorage::new();
        let dir = Path::new("/data/t-1");
        let log = PartitionLog::open(storage.clone(), dir, small_segments())
            .await
            .unwrap();
        for i in 0..300i64 {
            let info = log
                .append(
                    &build_test_batch(1, 900, 10_000 + i * 10),
                    0,
                    AppendTime::Create,
                )
                .await
                .unwrap();
            log.wait_durable(info.last_offset + 1).await.unwrap();
        }
        assert_eq!(
            log.offset_for_timestamp(0).await.unwrap(),
            Some((10_000, 0))
        );
        assert_eq!(
            log.offset_for_timestamp(10_505).await.unwrap(),
            Some((10_510, 51))
        );
        assert_eq!(
            log.offset_for_timestamp(12_990).await.unwrap(),
            Some((12_990, 299))
        );
        assert_eq!(log.offset_for_timestamp(13_000).await.unwrap(), None);

        let segments_before = log.segment_base_offsets();
        let deleted = log
            .apply_retention(
                0,
                Retention {
                    ms: None,
                    bytes: Some(100_000),
                },
            )
            .await
            .unwrap();
        assert!(deleted > 0);
        let segments_after = log.segment_base_offsets();
        assert_eq!(log.log_start_offset(), segments_after[0]);
        assert_eq!(segments_before.len() - deleted, segments_after.len());
        assert!(matches!(
            log.read(0, 100, true).await,
            Err(IoError::OffsetOutOfRange { .. })
        ));

        log.truncate_to(250).await.unwrap();
        assert_eq!(log.log_end_offset(), 250);
        let info = log
            .append(&build_test_batch(2, 10, 0), 0, AppendTime::Create)
            .await
            .unwrap();
        assert_eq!(info.base_offset, 250);
        log.wait_durable(252).await.unwrap();
        let read = log.read(249, 10_000, true).await.unwrap();
        assert_eq!(offsets_in(&read.to_vec()), vec![(249, 249), (250, 251)]);

        log.advance_log_start_offset(251).await.unwrap();
        assert_eq!(log.log_start_offset(), 251);
        log.close().await.unwrap();
        let reopened = PartitionLog::open(storage, dir, small_segments())
            .await
            .unwrap();
        assert_eq!(reopened.log_start_offset(), 251);
        assert_eq!(reopened.log_end_offset(), 252);
    });
}

#[test]
fn a_corrected_max_timestamp_is_written_and_indexed() {
    block_on(async {
        let log = PartitionLog::open(MemStorage::new(), Path::new("/data/t-2"), small_segments())
            .await
            .unwrap();
        // The producer's header says 5; validation found 500 in its records.
        let info = log
            .append(
                &build_test_batch(3, 40, 5),
                0,
                AppendTime::CreateWithMaxTimestamp(500),
            )
            .await
            .unwrap();
        assert_eq!(info.max_timestamp_ms, 500);
        log.wait_durable(info.last_offset + 1).await.unwrap();
        let read = log.read(0, 10_000, true).await.unwrap().to_vec();
        let header = sluice_io::batch::validate(&read).expect("CRC recomputed");
        assert_eq!(header.max_timestamp(), 500);
        assert_eq!(header.base_timestamp.get(), 5);
        // The time index and the lookup see the real maximum.
        assert_eq!(log.max_timestamp(), Some((500, 2)));
        assert_eq!(log.offset_for_timestamp(400).await.unwrap(), Some((500, 0)));
    });
}

#[test]
fn a_follower_copy_is_the_leaders_byte_for_byte() {
    block_on(async {
        let storage = MemStorage::new();
        let leader = PartitionLog::open(storage.clone(), Path::new("/data/l-0"), small_segments())
            .await
            .unwrap();
        let follower =
            PartitionLog::open(storage.clone(), Path::new("/data/f-0"), small_segments())
                .await
                .unwrap();
        leader.set_leader_epoch_stamp(Some(7));
        for i in 0..20u64 {
            let info = leader
                .append(&build_test_batch(2, 300, i as i64), 0, AppendTime::Create)
                .await
                .unwrap();
            leader.wait_durable(info.last_offset + 1).await.unwrap();
        }
        let copied = leader.read(0, 1 << 20, true).await.unwrap().to_vec();
        for item in sluice_io::batch::iter(&copied) {
            let (_, batch) = item.unwrap();
            assert_eq!(
                sluice_io::batch::header(batch)
                    .unwrap()
                    .partition_leader_epoch
                    .get(),
                7
            );
        }
        // The follower keeps offsets and epochs, and refuses going back.
        let info = follower.append_replicated(&copied, 0).await.unwrap();
        assert_eq!((info.base_offset, info.last_offset), (0, 39));
        follower.wait_durable(40).await.unwrap();
        assert_eq!(
            follower.read(0, 1 << 20, true).await.unwrap().to_vec(),
            copied
        );
        assert!(follower.append_replicated(&copied, 0).await.is_err());
        // Reads stop before the batch that reaches the end offset.
        let bounded = leader.read_to(0, 10, 1 << 20, true).await.unwrap();
        assert_eq!(bounded.next_offset, 10);
        assert_eq!(offsets_in(&bounded.to_vec()).last(), Some(&(8, 9)));
    });
}

#[test]
fn a_follower_log_restarts_empty_at_any_offset() {
    block_on(async {
        let storage = MemStorage::new();
        let leader = PartitionLog::open(storage.clone(), Path::new("/data/l-1"), small_segments())
            .await
            .unwrap();
        for i in 0..10u64 {
            let info = leader
                .append(&build_test_batch(5, 200, i as i64), 0, AppendTime::Create)
                .await
                .unwrap();
            leader.wait_durable(info.last_offset + 1).await.unwrap();
        }
        let dir = Path::new("/data/f-1");
        let follower = PartitionLog::open(storage.clone(), dir, small_segments())
            .await
            .unwrap();
        let first_two = leader.read(0, 1, true).await.unwrap().to_vec();
        follower.append_replicated(&first_two, 0).await.unwrap();
        // Forward past its end (the leader's log start moved on): empty,
        // starting there, and it takes the leader's batches from there.
        follower.restart_at(30).await.unwrap();
        assert_eq!(
            (follower.log_start_offset(), follower.log_end_offset()),
            (30, 30)
        );
        assert!(matches!(
            follower.read(0, 100, true).await,
            Err(IoError::OffsetOutOfRange { .. })
        ));
        let rest = leader.read(30, 1 << 20, true).await.unwrap().to_vec();
        let info = follower.append_replicated(&rest, 0).await.unwrap();
        assert_eq!((info.base_offset, info.last_offset), (30, 49));
        follower.wait_durable(50).await.unwrap();
        // Back, below its start: the same, and it survives a reopen.
        follower.restart_at(25).await.unwrap();
        follower.close().await.unwrap();
        let reopened = PartitionLog::open(storage, dir, small_segments())
            .await
            .unwrap();
        assert_eq!(
            (reopened.log_start_offset(), reopened.log_end_offset()),
            (25, 25)
        );
    });
}
