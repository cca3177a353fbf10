//! Criterion micro benchmarks of record batch validation, the check every
//! produced batch passes before it is stored.
//!
//! `batch`: `batch::validate` (header checks and CRC-32C over the batch)
//! beside the bare CRC-32C of the same bytes, for 1 KiB, 16 KiB and 1 MiB
//! batches.
//!
//! `walk`: what Kafka's LogValidator rules cost on top of that.
//! `header_only` is `batch::validate` on a batch of real records;
//! `walk_none` is `validate::validate_batch` on the same uncompressed batch
//! (the CRC plus a walk of every record, in place); `walk_lz4` and
//! `walk_zstd` validate the batch compressed (the CRC of the compressed
//! bytes, inflation, the walk). Throughput is per byte of uncompressed
//! records, so the figures compare per MB of records produced; records of
//! 100 B and 1000 B show the per-record part of the cost.
//!
//! `cargo bench -p sluice-io --bench validate`
//!
//! Measured on the development machine (2 shared cores), `-- walk`, three
//! runs, median throughput (min-max) and the median cost per MiB of records:
//!
//! | batch / record | header_only | walk_none | walk_lz4 | walk_zstd |
//! |---|---|---|---|---|
//! | 16 KiB / 100 B | 20.2 GiB/s, 0.05 ms/MiB | 3.9 GiB/s (2.5-3.9), 0.25 ms | 1.3 GiB/s, 0.75 ms | 483 MiB/s, 2.1 ms |
//! | 16 KiB / 1000 B | 17.3 GiB/s, 0.06 ms | 9.6 GiB/s (3.9-10.1), 0.10 ms | 1.5 GiB/s, 0.65 ms | 358 MiB/s, 2.8 ms |
//! | 1 MiB / 100 B | 16.4 GiB/s, 0.06 ms | 2.5 GiB/s (1.5-2.8), 0.39 ms | 948 MiB/s, 1.05 ms | 524 MiB/s, 1.9 ms |
//! | 1 MiB / 1000 B | 22.5 GiB/s, 0.04 ms | 9.7 GiB/s (8.8-16.1), 0.10 ms | 1.8 GiB/s, 0.55 ms | 807 MiB/s, 1.2 ms |
//!
//! So the record walk adds about 0.05 ms per MiB of 1000-byte records and
//! 0.2-0.3 ms per MiB of 100-byte records (25-35 ns a record) to the
//! header-only check's 0.05 ms; for compressed batches inflation dominates
//! (lz4 0.5-1 ms, zstd 1.2-2.8 ms per MiB of records). One core validates
//! 2.5-10 GiB/s of uncompressed records.

use std::hint::black_box;

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use sluice_io::batch::{build_test_batch, compute_crc, validate, BATCH_HEADER_BYTES};
use sluice_io::batch_builder::{BatchBuilder, BatchFields};
use sluice_io::compression::Codec;
use sluice_io::validate::{validate_batch, TimestampPolicy, ValidationPolicy};

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

/// Records of about `record_bytes` (key, value of text that compresses a
/// few times, as logs do) up to `records_bytes` in all, at one time.
fn real_batch(codec: Codec, records_bytes: usize, record_bytes: usize) -> Vec<u8> {
    let mut builder = BatchBuilder::new(codec, BatchFields::default());
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let words = [
        "GET",
        "/api/v2/orders",
        "200",
        "user=",
        "latency_ms=",
        "ok",
        "cache=miss",
    ];
    for i in 0..(records_bytes / record_bytes).max(1) {
        let mut value = Vec::with_capacity(record_bytes);
        while value.len() < record_bytes - 16 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            value.extend_from_slice(words[(seed % words.len() as u64) as usize].as_bytes());
            value.extend_from_slice(format!("{} ", seed % 10_000).as_bytes());
        }
        value.truncate(record_bytes - 16);
        let key = format!("key-{:08}", i % 1000);
        builder.push(
            i as i32,
            NOW_MS + i as i64,
            Some(key.as_bytes()),
            Some(&value),
            &[0],
        );
    }
    builder.finish(0).expect("compresses")
}

const NOW_MS: i64 = 1_700_000_000_000;

fn walks(c: &mut Criterion) {
    let policy = ValidationPolicy {
        timestamps: TimestampPolicy::default(),
        inflated_bytes_max: 64 << 20,
    };
    let mut group = c.benchmark_group("walk");
    group.measurement_time(Duration::from_secs(3));
    group.warm_up_time(Duration::from_secs(1));
    for (size_label, records_bytes) in [("16KiB", 16 << 10), ("1MiB", 1 << 20)] {
        for record_bytes in [100usize, 1000] {
            let label = format!("{size_label}/{record_bytes}B");
            group.throughput(Throughput::Bytes(records_bytes as u64));
            let plain = real_batch(Codec::None, records_bytes, record_bytes);
            group.bench_with_input(
                BenchmarkId::new("header_only", &label),
                &plain,
                |b, batch| {
                    b.iter(|| black_box(validate(black_box(batch)).expect("valid").base_offset()))
                },
            );
            for (name, codec) in [
                ("walk_none", Codec::None),
                ("walk_lz4", Codec::Lz4),
                ("walk_zstd", Codec::Zstd),
            ] {
                let batch = real_batch(codec, records_bytes, record_bytes);
                group.bench_with_input(BenchmarkId::new(name, &label), &batch, |b, batch| {
                    b.iter(|| {
                        black_box(
                            validate_batch(black_box(batch), &policy, NOW_MS)
                                .expect("valid")
                                .max_timestamp_ms,
                        )
                    })
                });
            }
        }
    }
    group.finish();
}

criterion_group!(benches, batches, walks);
criterion_main!(benches);
