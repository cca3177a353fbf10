//! Errors on open name the file an operator must look at.

use sluice_io::batch::{self, BATCH_HEADER_BYTES};
use sluice_io::storage::dma::DmaStorage;
use sluice_io::{FlushPolicy, IoError, LogConfig, PartitionLog};

use crate::support::*;

#[test]
fn open_errors_name_the_path() {
    let temp = tempfile::tempdir().unwrap();
    let root = temp.path().to_path_buf();
    run(move || async move {
        let in_the_way = root.join("topic-0");
        std::fs::write(&in_the_way, b"not a directory").unwrap();
        for dir in [in_the_way.clone(), in_the_way.join("below-a-file")] {
            let error = PartitionLog::open(DmaStorage, &dir, LogConfig::default())
                .await
                .err()
                .unwrap_or_else(|| panic!("opened {}", dir.display()));
            let message = error.to_string();
            assert!(
                message.contains(&*in_the_way.to_string_lossy()),
                "{message}"
            );
        }
    });
}

/// A sealed segment that fails validation when rescanned stops the open
/// with `CorruptSegment` naming the file and the bad batch's position.
#[test]
fn corrupt_sealed_segment_is_named() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("topic-0");
    run(move || async move {
        let config = config(64 << 10, FlushPolicy::KAFKA_DEFAULT);
        let log = PartitionLog::open(DmaStorage, &dir, config.clone())
            .await
            .unwrap();
        append_batches(&log, 0, 40, &[100, 2_500, 7_000, 9_999]).await;
        let bases = log.segment_base_offsets();
        assert!(bases.len() >= 3, "{bases:?}");
        log.close().await.unwrap();
        drop(log);

        let victim = segment_file(&dir, bases[1], ".log");
        std::fs::remove_file(segment_file(&dir, bases[1], ".index")).unwrap();
        std::fs::remove_file(segment_file(&dir, bases[1], ".timeindex")).unwrap();
        // Flip a record byte of the batch holding the middle of the file;
        // base offset and leader epoch are outside the CRC, so not those.
        let mut bytes = std::fs::read(&victim).unwrap();
        let middle = bytes.len() / 2;
        let mut batch_start = 0;
        loop {
            let total = batch::header(&bytes[batch_start..]).unwrap().total_bytes();
            if batch_start + total > middle {
                break;
            }
            batch_start += total;
        }
        let flip = middle.max(batch_start + BATCH_HEADER_BYTES);
        bytes[flip] ^= 0x40;
        std::fs::write(&victim, &bytes).unwrap();

        match PartitionLog::open(DmaStorage, &dir, config).await {
            Err(error @ IoError::CorruptSegment { .. }) => {
                let IoError::CorruptSegment { path, position, .. } = &error else {
                    unreachable!()
                };
                assert_eq!(path, &victim);
                assert_eq!(*position, batch_start as u64);
                assert!(
                    error.to_string().contains(&*victim.to_string_lossy()),
                    "{error}"
                );
            }
            Err(other) => panic!("expected CorruptSegment, got {other}"),
            Ok(_) => panic!("opened a log with a corrupt sealed segment"),
        }
    });
}
