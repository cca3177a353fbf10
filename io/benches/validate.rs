//! Criterion micro benchmarks of record batch validation, the check every
//! produced batch passes before it is stored: `batch::validate` (header
//! checks and CRC-32C over the batch) beside the bare CRC-32C of the same
//! bytes, for 1 KiB, 16 KiB and 1 MiB batches.
//!
//! `cargo bench -p sluice-io --bench validate`

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use sluice_io::batch::{build_test_batch, compute_crc, validate, BATCH_HEADER_BYTES};

const BATCH_SIZES: [(&str, usize); 3] = [("1KiB", 1 << 10), ("16KiB", 16 << 10), ("1MiB", 1 << 20)];
/// Records of about 1 KiB each, at least one.
const RECORD_BYTES: usize = 1 << 10;

fn batches(c: &mut Criterion) {
    let mut group = c.benchmark_group("batch");
    for (label, total_bytes) in BATCH_SIZES {
        let records = (total_bytes / RECORD_BYTES).max(1) as i32;
        let batch = build_test_batch(records, total_bytes - BATCH_HEADER_BYTES, 1_700_000_000_000);
        assert_eq!(batch.len(), total_bytes);
        group.throughput(Throughput::Bytes(total_bytes as u64));
        group.bench_with_input(BenchmarkId::new("validate", label), &batch, |b, batch| {
            b.iter(|| {
                black_box(
                    validate(black_box(batch))
                        .expect("a valid batch")
                        .base_offset(),
                )
            })
        });
        group.bench_with_input(BenchmarkId::new("crc32c", label), &batch, |b, batch| {
            b.iter(|| black_box(compute_crc(black_box(batch))))
        });
    }
    group.finish();
}

criterion_group!(benches, batches);
criterion_main!(benches);
