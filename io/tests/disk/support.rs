//! Helpers of the disk tests: the executor, seeded batches, reading back
//! and comparing.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};

use glommio::{LocalExecutorBuilder, Placement};
use rand::rngs::SmallRng;
use rand::{RngCore, SeedableRng};
use sluice_io::batch::{self, build_test_batch, BATCH_HEADER_BYTES};
use sluice_io::storage::dma::DmaStorage;
use sluice_io::{AppendTime, FlushPolicy, LogConfig, PartitionLog};

pub(crate) type DiskLog = PartitionLog<DmaStorage>;

/// Runs `body` on a new glommio executor and fails the test if it panics.
pub(crate) fn run<F, Fut>(body: F)
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = ()> + 'static,
{
    LocalExecutorBuilder::new(Placement::Unbound)
        .spawn(|| async move { body().await })
        .expect("executor")
        .join()
        .expect("test body");
}

/// A valid v2 batch whose record bytes are random from `seed`, so every
/// batch differs and a batch read from the wrong place cannot pass.
/// `total_bytes` includes the 61-byte header.
pub(crate) fn seeded_batch(
    seed: u64,
    records: i32,
    total_bytes: usize,
    timestamp_ms: i64,
) -> Vec<u8> {
    let mut bytes = build_test_batch(records, total_bytes - BATCH_HEADER_BYTES, timestamp_ms);
    SmallRng::seed_from_u64(seed).fill_bytes(&mut bytes[BATCH_HEADER_BYTES..]);
    let crc = batch::compute_crc(&bytes);
    batch::header_mut(&mut bytes).unwrap().crc.set(crc);
    batch::validate(&bytes).expect("seeded batch is valid");
    bytes
}

/// A batch as appended, with the offsets the log gave it.
#[derive(Clone, Debug)]
pub(crate) struct Appended {
    pub base_offset: u64,
    pub last_offset: u64,
    pub timestamp_ms: i64,
    pub bytes: Vec<u8>,
}

pub(crate) async fn append_durable(log: &DiskLog, bytes: Vec<u8>, expected_base: u64) -> Appended {
    let info = log.append(&bytes, 0, AppendTime::Create).await.unwrap();
    assert_eq!(info.base_offset, expected_base, "offsets continue");
    log.wait_durable(info.last_offset + 1).await.unwrap();
    Appended {
        base_offset: info.base_offset,
        last_offset: info.last_offset,
        timestamp_ms: batch::header(&bytes).unwrap().max_timestamp(),
        bytes,
    }
}

/// Appends `count` batches of sizes cycling over `sizes`, seeded by
/// `seed_base + i`, each waited durable.
pub(crate) async fn append_batches(
    log: &DiskLog,
    seed_base: u64,
    count: usize,
    sizes: &[usize],
) -> Vec<Appended> {
    let mut appended = Vec::new();
    let mut next = log.log_end_offset();
    for i in 0..count {
        let seed = seed_base + i as u64;
        let size = sizes[(i * 7) % sizes.len()];
        let bytes = seeded_batch(seed, 1 + (i % 5) as i32, size, 10_000 + 10 * seed as i64);
        let batch = append_durable(log, bytes, next).await;
        next = batch.last_offset + 1;
        appended.push(batch);
    }
    appended
}

/// Checks that `read` holds exactly `expected`, back to back: the engine
/// rewrites only the base offset (bytes 0..8); every other byte is the
/// producer's.
pub(crate) fn assert_batches(read: &[u8], expected: &[Appended]) {
    let mut position = 0;
    for (i, want) in expected.iter().enumerate() {
        let got = batch::validate(&read[position..])
            .unwrap_or_else(|e| panic!("batch {i} at byte {position} of the read: {e}"));
        let total = got.total_bytes();
        assert_eq!(total, want.bytes.len(), "batch {i}: size");
        let got = &read[position..position + total];
        assert_eq!(
            got[..8],
            (want.base_offset as i64).to_be_bytes(),
            "batch {i}: base offset"
        );
        assert!(
            got[8..] == want.bytes[8..],
            "batch {i}: bytes differ from the appended ones"
        );
        position += total;
    }
    assert_eq!(position, read.len(), "nothing after the expected batches");
}

/// Reads from `from` to the log end offset, `max_bytes` at a time.
/// Returns the bytes and the number of reads.
pub(crate) async fn read_to_end(log: &DiskLog, from: u64, max_bytes: usize) -> (Vec<u8>, usize) {
    let mut bytes = Vec::new();
    let mut next = from;
    let mut reads = 0;
    while next < log.log_end_offset() {
        let read = log.read(next, max_bytes, true).await.unwrap();
        assert!(
            read.bytes > 0,
            "read at {next} below the log end returned nothing"
        );
        assert_eq!(
            read.bytes,
            read.chunks.iter().map(|c| c.len()).sum::<usize>()
        );
        let single_batch = batch::header(read.chunks[0].as_slice())
            .unwrap()
            .total_bytes()
            == read.bytes;
        assert!(
            read.bytes <= max_bytes || single_batch,
            "read went past max_bytes"
        );
        bytes.extend(read.to_vec());
        next = read.next_offset;
        reads += 1;
    }
    (bytes, reads)
}

/// File name → size of everything in `dir`.
pub(crate) fn dir_files(dir: &Path) -> BTreeMap<String, u64> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| {
            let entry = entry.unwrap();
            (
                entry.file_name().into_string().unwrap(),
                entry.metadata().unwrap().len(),
            )
        })
        .collect()
}

pub(crate) fn segment_file(dir: &Path, base_offset: u64, suffix: &str) -> PathBuf {
    dir.join(format!("{base_offset:020}{suffix}"))
}

pub(crate) fn config(segment_bytes: u64, flush_policy: FlushPolicy) -> LogConfig {
    LogConfig {
        segment_bytes,
        index_interval_bytes: 4096,
        flush_policy,
        ..LogConfig::default()
    }
}
