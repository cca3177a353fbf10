//! Appends read back byte for byte, from the write cache and the device.

use glommio::{LocalExecutorBuilder, Placement};
use sluice_io::storage::dma::DmaStorage;
use sluice_io::{AppendTime, FlushPolicy, LogConfig, PartitionLog};

use crate::support::*;

/// Batch sizes from 100 B to 200 KiB, around block and index boundaries.
const VARIED_SIZES: [usize; 9] = [
    100, 333, 1_000, 4_096, 4_097, 12_345, 65_536, 150_000, 204_800,
];

fn round_trip(flush_policy: FlushPolicy) {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("topic-0");
    run(move || async move {
        let config = LogConfig {
            // Small, so most reads below come from the device.
            cache_bytes_max: 64 << 10,
            ..config(256 << 10, flush_policy)
        };
        let log = PartitionLog::open(DmaStorage, &dir, config).await.unwrap();
        let mut appended = Vec::new();
        let mut next = 0;
        for i in 0..60u64 {
            let size = VARIED_SIZES[(i as usize * 7) % VARIED_SIZES.len()];
            let bytes = seeded_batch(i, 1 + (i % 5) as i32, size, 1_000 + 10 * i as i64);
            let batch = append_durable(&log, bytes, next).await;
            match flush_policy {
                FlushPolicy::EveryWrite => assert!(log.synced_offset() > batch.last_offset),
                FlushPolicy::Interval { .. } => assert!(log.written_offset() > batch.last_offset),
            }
            next = batch.last_offset + 1;
            appended.push(batch);
        }
        let bases = log.segment_base_offsets();
        assert!(bases.len() >= 8, "rolled by segment.bytes: {bases:?}");
        let stats = log.stats();
        match flush_policy {
            FlushPolicy::EveryWrite => assert!(stats.syncs >= 60, "{stats:?}"),
            // Kafka's default syncs only when a segment rolls.
            FlushPolicy::Interval { .. } => assert!(stats.syncs < bases.len() as u64, "{stats:?}"),
        }

        for max_bytes in [1, 4096, 100_000, 1 << 20, usize::MAX] {
            let (bytes, reads) = read_to_end(&log, 0, max_bytes).await;
            assert_batches(&bytes, &appended);
            if max_bytes == 1 {
                assert_eq!(reads, appended.len(), "one batch per read");
            }
        }
        assert!(log.stats().disk_reads > 0, "reads reached the device");
        // A read from inside a batch starts at that batch.
        let multi = appended
            .iter()
            .find(|b| b.last_offset > b.base_offset)
            .unwrap();
        let read = log.read(multi.base_offset + 1, 1, true).await.unwrap();
        assert_batches(&read.to_vec(), std::slice::from_ref(multi));
        // Without min_one_batch a limit below the first batch returns nothing.
        let read = log.read(0, 50, false).await.unwrap();
        assert_eq!((read.bytes, read.next_offset), (0, 0));

        // Sealed segments have their indexes; the active one gets them at close.
        let files = dir_files(&dir);
        for (i, base) in bases.iter().enumerate() {
            let sealed = i + 1 < bases.len();
            for suffix in [".log", ".index", ".timeindex"] {
                let name = format!("{base:020}{suffix}");
                assert_eq!(
                    files.contains_key(&name),
                    suffix == ".log" || sealed,
                    "{name}"
                );
            }
        }
        log.close().await.unwrap();
        let files = dir_files(&dir);
        assert_eq!(
            files.len(),
            bases.len() * 3,
            "only segment files: {files:?}"
        );
        let mut log_bytes = 0;
        for base in &bases {
            let log_size = files[&format!("{base:020}.log")];
            assert!(log_size <= 256 << 10, "segment {base} over segment.bytes");
            log_bytes += log_size;
            assert_eq!(files[&format!("{base:020}.index")] % 8, 0);
            assert_eq!(files[&format!("{base:020}.timeindex")] % 12, 0);
        }
        let appended_bytes: usize = appended.iter().map(|b| b.bytes.len()).sum();
        assert_eq!(
            log_bytes, appended_bytes as u64,
            ".log files hold exactly the batches"
        );
        for name in files.keys() {
            let stem = name.split('.').next().unwrap();
            assert!(
                stem.len() == 20 && stem.bytes().all(|b| b.is_ascii_digit()),
                "{name}"
            );
        }
    });
}

#[test]
fn round_trip_across_segments_every_write() {
    round_trip(FlushPolicy::EveryWrite);
}

#[test]
fn round_trip_across_segments_interval() {
    round_trip(FlushPolicy::KAFKA_DEFAULT);
}

/// Recent data is served from the write cache and old data from the device,
/// and in both cases without copying batch bytes: a read returns chunks that
/// share the buffer the bytes already live in (the write buffer that sent
/// them to disk, or the buffer one DMA read filled). Consecutive batches in
/// one buffer come back as one chunk, and two reads of recent data share the
/// very same buffer. This is the evidence that the read path copies no batch
/// byte.
#[test]
fn reads_share_cache_and_dma_buffers() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("topic-0");
    run(move || async move {
        let config = LogConfig {
            cache_bytes_max: 64 << 10,
            ..config(1 << 30, FlushPolicy::KAFKA_DEFAULT)
        };
        let log = PartitionLog::open(DmaStorage, &dir, config).await.unwrap();
        // 100 appends of about 3 KB, a device write each: 300 KB, far more
        // than the 64 KiB cache keeps.
        let old = append_batches(&log, 0, 100, &[3_000, 3_100, 2_900]).await;

        // Five appends, one wait: a group commit, one device write.
        let writes_before = log.stats().device_writes;
        let mut recent = Vec::new();
        let mut next = log.log_end_offset();
        for seed in 1_000..1_005u64 {
            let bytes = seeded_batch(seed, 2, 2_000, 50_000);
            let info = log.append(&bytes, 0, AppendTime::Create).await.unwrap();
            assert_eq!(info.base_offset, next);
            next = info.last_offset + 1;
            recent.push(Appended {
                base_offset: info.base_offset,
                last_offset: info.last_offset,
                timestamp_ms: 50_000,
                bytes,
            });
        }
        log.wait_durable(next).await.unwrap();
        assert_eq!(
            log.stats().device_writes,
            writes_before + 1,
            "one write for the group"
        );

        let before = log.stats();
        let first = log
            .read(recent[0].base_offset, 1 << 20, true)
            .await
            .unwrap();
        let after = log.stats();
        assert!(
            after.cache_read_bytes > before.cache_read_bytes,
            "served by the cache"
        );
        assert_eq!(
            after.disk_reads, before.disk_reads,
            "no device read for recent data"
        );
        assert_eq!(
            first.chunks.len(),
            1,
            "five batches of one buffer are one chunk"
        );
        assert_batches(&first.to_vec(), &recent);
        let second = log
            .read(recent[0].base_offset, 1 << 20, true)
            .await
            .unwrap();
        assert!(
            second.chunks[0].shares_buffer_with(&first.chunks[0]),
            "two reads of recent data share the cached write buffer"
        );
        assert_batches(&second.to_vec(), &recent);

        let before = log.stats();
        let from_disk = log.read(0, 32 << 10, true).await.unwrap();
        let after = log.stats();
        assert!(
            after.disk_reads > before.disk_reads,
            "old data comes from the device"
        );
        assert_eq!(
            after.cache_read_bytes, before.cache_read_bytes,
            "not from the cache"
        );
        assert_eq!(
            from_disk.chunks.len(),
            1,
            "batches of one DMA read are one chunk"
        );
        let old_read: Vec<_> = old
            .iter()
            .take_while(|b| b.last_offset < from_disk.next_offset)
            .cloned()
            .collect();
        assert!(old_read.len() > 5);
        assert_batches(&from_disk.to_vec(), &old_read);
        let (everything, _) = read_to_end(&log, 0, 1 << 20).await;
        assert_batches(&everything, &[old, recent].concat());
        log.close().await.unwrap();
    });
}

/// A fresh executor thread whose first DMA file is a new, empty segment, as
/// on a shard that creates a partition before opening any other. glommio's
/// IOPOLL probe reads that empty file, and without `DmaStorage`'s primer it
/// takes a device without poll queues for one with them; DMA reads then
/// fail with EOPNOTSUPP.
#[test]
fn fresh_executor_reads_back_from_disk() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("topic-0");
    LocalExecutorBuilder::new(Placement::Unbound)
        .spawn(move || async move {
            let config = LogConfig {
                cache_bytes_max: 16 << 10,
                ..LogConfig::default()
            };
            let log = PartitionLog::open(DmaStorage, &dir, config).await.unwrap();
            let appended = append_batches(&log, 0, 20, &[4_000]).await;
            let read = log
                .read(0, 1 << 20, true)
                .await
                .expect("read from the device");
            assert_batches(&read.to_vec(), &appended);
        })
        .expect("executor")
        .join()
        .expect("test body");
}
