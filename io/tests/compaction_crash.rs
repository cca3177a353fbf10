//! Crash tests of log compaction over the fault-injecting storage.
//!
//! For each seed: appends of keyed batches (every codec, tombstones, keys
//! from a small or a large key space), flushes, rolls, retention and
//! cleanings (with small dedupe budgets, so maps fill mid-log), with write,
//! sync and directory-operation failures injected, so a cleaning can stop
//! at any step of its swap; then a process kill or a power loss, and a
//! reopen. After every reopen, and between operations, the log must hold:
//! - only records that were appended, at the offsets they were given, in
//!   increasing order (no duplicate, nothing invented);
//! - for every key, its latest record below the readable end, when that
//!   record is a value and at or past the log start (no key lost); a key
//!   whose latest record is a tombstone shows the tombstone or nothing;
//! - everything acknowledged durable for that kind of crash.
//!
//! The seed is printed when a run fails; `SLUICE_CRASH_SEED=N` replays one
//! seed and `SLUICE_CRASH_SEEDS=N` sets how many run (default 300).

use std::collections::BTreeMap;
use std::path::Path;

use futures::executor::block_on;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use sluice_io::compression::Codec;
use sluice_io::log::compact::{CleanOutcome, CleanerLimits, CompactionConfig, Unpaced};
use sluice_io::storage::memory::MemStorage;
use sluice_io::{
    batch, records, AppendTime, FlushPolicy, IoError, LogConfig, PartitionLog, Retention,
};

type Log = PartitionLog<MemStorage>;

/// Every record appended: offset to (key, value).
#[derive(Default)]
struct Model {
    records: BTreeMap<u64, (u16, Option<u32>)>,
}

const CODECS: [Codec; 5] = [
    Codec::None,
    Codec::Gzip,
    Codec::Snappy,
    Codec::Lz4,
    Codec::Zstd,
];

fn storage_error(e: &IoError) -> bool {
    e.is_storage_failure() || matches!(e, IoError::Fenced { .. })
}

/// Checks the log against the model (see the module doc).
async fn check(log: &Log, model: &Model) -> Result<usize, String> {
    let start = log.log_start_offset();
    let end = log.written_offset();
    let mut next = start;
    let mut seen: Vec<(u64, u16, Option<u32>)> = Vec::new();
    while next < end {
        let read = log
            .read(next, 50_000, true)
            .await
            .map_err(|e| format!("read at {next}: {e}"))?;
        if read.bytes == 0 {
            return Err(format!("empty read at {next} below the written end {end}"));
        }
        for item in batch::iter(&read.to_vec()) {
            let (_, bytes) = item.map_err(|(p, e)| format!("bad batch at {next}+{p}: {e}"))?;
            let base = batch::header(bytes).unwrap().base_offset() as u64;
            let batch_records =
                records::records(bytes, 1 << 20).map_err(|e| format!("records at {base}: {e}"))?;
            for record in batch_records.iter() {
                let record = record.map_err(|e| format!("record at {base}: {e}"))?;
                let offset = base + record.offset_delta as u64;
                let key =
                    u16::from_be_bytes(record.key.ok_or("a keyless record")?.try_into().unwrap());
                let value = record
                    .value
                    .map(|v| u32::from_be_bytes(v.try_into().unwrap()));
                if seen.last().is_some_and(|last| last.0 >= offset) {
                    return Err(format!("offset {offset} after {}", seen.last().unwrap().0));
                }
                if model.records.get(&offset) != Some(&(key, value)) {
                    return Err(format!(
                        "offset {offset} holds {key}={value:?}, appended was {:?}",
                        model.records.get(&offset)
                    ));
                }
                seen.push((offset, key, value));
            }
        }
        next = read.next_offset;
    }
    let mut latest: BTreeMap<u16, (u64, Option<u32>)> = BTreeMap::new();
    for (&offset, &(key, value)) in model.records.range(..end) {
        latest.insert(key, (offset, value));
    }
    for (key, (offset, value)) in latest {
        if offset < start {
            continue;
        }
        let present = seen.iter().any(|r| r.0 == offset);
        match value {
            Some(_) if !present => {
                return Err(format!("key {key}: its latest value at {offset} is gone"))
            }
            None if !present && seen.iter().any(|r| r.1 == key) => {
                return Err(format!(
                    "key {key}: its tombstone at {offset} went, an older value stayed"
                ))
            }
            _ => {}
        }
    }
    Ok(seen.len())
}

fn random_config(rng: &mut SmallRng) -> LogConfig {
    LogConfig {
        segment_bytes: rng.gen_range(1_500..6_000),
        index_interval_bytes: rng.gen_range(1..2_000),
        flush_policy: if rng.gen_bool(0.5) {
            FlushPolicy::EveryWrite
        } else {
            FlushPolicy::Interval {
                messages: rng.gen_range(1..40),
                ms: u64::MAX,
            }
        },
        write_buffer_bytes_max: rng.gen_range(8_192..20_000),
        cache_bytes_max: rng.gen_range(0..30_000),
        read_window_bytes: rng.gen_range(4_096..10_000),
        ..LogConfig::default()
    }
}

async fn run_seed(seed: u64, cleanings: &mut u64) -> Result<(), String> {
    let mut rng = SmallRng::seed_from_u64(seed);
    let storage = MemStorage::new();
    let dir = Path::new("/data/compacted-0");
    let config = random_config(&mut rng);
    let keys: u16 = if rng.gen_bool(0.5) { 20 } else { 400 };
    let limits = CleanerLimits {
        dedupe_bytes_max: 1,
        load_factor: rng.gen_range(0.1..0.95),
        io_buffer_bytes: rng.gen_range(4_096..20_000),
        ..CleanerLimits::default()
    };
    let compaction = CompactionConfig {
        delete_retention_ms: rng.gen_range(0..500),
        min_cleanable_dirty_ratio: rng.gen_range(0.0..0.6),
        ..CompactionConfig::default()
    };
    let mut log = PartitionLog::open(storage.clone(), dir, config.clone())
        .await
        .map_err(|e| format!("open: {e}"))?;
    let mut model = Model::default();
    let mut now_ms = 1_000_000i64;
    let mut next_value = 0u32;
    for round in 0..rng.gen_range(1..4u64) {
        let mut acked_kill = 0u64;
        for _ in 0..rng.gen_range(1..150) {
            now_ms += rng.gen_range(0..60);
            match rng.gen_range(0..100) {
                0..=54 => {
                    let count = rng.gen_range(1..6);
                    let keys_values: Vec<([u8; 2], Option<[u8; 4]>)> = (0..count)
                        .map(|_| {
                            next_value += 1;
                            let key = rng.gen_range(0..keys).to_be_bytes();
                            let value = (!rng.gen_bool(0.1)).then(|| next_value.to_be_bytes());
                            (key, value)
                        })
                        .collect();
                    let pairs: Vec<records::KeyValue<'_>> = keys_values
                        .iter()
                        .map(|(k, v)| (Some(&k[..]), v.as_ref().map(|v| &v[..])))
                        .collect();
                    let codec = CODECS[rng.gen_range(0..CODECS.len())];
                    let bytes = records::build_batch(codec, now_ms, &pairs).unwrap();
                    match log.append(&bytes, now_ms, AppendTime::Create).await {
                        Ok(info) => {
                            for (i, (k, v)) in keys_values.iter().enumerate() {
                                model.records.insert(
                                    info.base_offset + i as u64,
                                    (u16::from_be_bytes(*k), v.map(u32::from_be_bytes)),
                                );
                            }
                            if rng.gen_bool(0.7) {
                                match log.wait_durable(info.last_offset + 1).await {
                                    Ok(()) => acked_kill = acked_kill.max(log.written_offset()),
                                    Err(e) if storage_error(&e) => break,
                                    Err(e) => return Err(format!("wait_durable: {e}")),
                                }
                            }
                        }
                        Err(e) if storage_error(&e) => break,
                        Err(e) => return Err(format!("append: {e}")),
                    }
                }
                55..=60 => {
                    if let Err(e) = log.flush().await {
                        if storage_error(&e) {
                            break;
                        }
                        return Err(format!("flush: {e}"));
                    }
                }
                61..=67 => {
                    if let Err(e) = log.roll_now().await {
                        if storage_error(&e) {
                            break;
                        }
                        return Err(format!("roll: {e}"));
                    }
                }
                68..=82 => match log.clean(now_ms, &compaction, &limits, &mut Unpaced).await {
                    Ok(CleanOutcome::Cleaned(_)) => *cleanings += 1,
                    Ok(_) => {}
                    // A failed cleaning leaves the log as it was, or fenced.
                    Err(e) if storage_error(&e) => {}
                    Err(e) => return Err(format!("clean: {e}")),
                },
                83..=84 => {
                    let retention = Retention {
                        ms: None,
                        bytes: Some(rng.gen_range(5_000..60_000)),
                    };
                    if let Err(e) = log.apply_retention(now_ms, retention).await {
                        if storage_error(&e) {
                            break;
                        }
                        return Err(format!("retention: {e}"));
                    }
                }
                85..=92 => {
                    check(&log, &model).await?;
                }
                93..=94 => storage.fail_writes_after(rng.gen_range(0..6)),
                95..=97 => storage.fail_dir_ops_after(rng.gen_range(0..8)),
                98 => storage.short_write_next(),
                _ => storage.fail_syncs(true),
            }
        }
        let kill = rng.gen_bool(0.5);
        let must_survive = if kill {
            acked_kill.max(log.written_offset())
        } else {
            log.synced_offset()
        };
        drop(log);
        if kill {
            storage.kill();
        } else {
            storage.crash(seed.wrapping_mul(31).wrapping_add(round));
        }
        storage.clear_faults();
        log = PartitionLog::open(storage.clone(), dir, config.clone())
            .await
            .map_err(|e| {
                format!(
                    "reopen after {}: {e}",
                    if kill { "kill" } else { "power loss" }
                )
            })?;
        let end = log.log_end_offset();
        if end < must_survive {
            return Err(format!(
                "the log ends at {end} but offsets below {must_survive} were acknowledged"
            ));
        }
        check(&log, &model)
            .await
            .map_err(|e| format!("after a crash: {e}"))?;
        // What a crash cut is not in the log any more.
        model.records.retain(|&offset, _| offset < end);
    }
    // The recovered log still cleans, fully, and keeps the latest values.
    log.roll_now()
        .await
        .map_err(|e| format!("roll after recovery: {e}"))?;
    let full = CompactionConfig {
        min_cleanable_dirty_ratio: 0.0,
        ..compaction
    };
    let unlimited = CleanerLimits::default();
    loop {
        match log.clean(now_ms, &full, &unlimited, &mut Unpaced).await {
            Ok(CleanOutcome::Cleaned(_)) => {}
            Ok(_) => break,
            Err(e) => return Err(format!("clean after recovery: {e}")),
        }
    }
    let kept = check(&log, &model).await?;
    let live_keys = {
        let mut latest: BTreeMap<u16, (u64, Option<u32>)> = BTreeMap::new();
        for (&offset, &(key, value)) in &model.records {
            if offset >= log.log_start_offset() {
                latest.insert(key, (offset, value));
            }
        }
        latest.values().filter(|(_, v)| v.is_some()).count()
    };
    // Everything is sealed and cleaned: one record per live key, plus
    // tombstones still within their horizon.
    if kept < live_keys || kept > live_keys + usize::from(keys) {
        return Err(format!(
            "{kept} records after a full cleaning of {live_keys} live keys"
        ));
    }
    Ok(())
}

#[test]
fn cleaning_interrupted_anywhere_loses_no_key_and_shows_no_stale_value() {
    let seeds: Vec<u64> = match std::env::var("SLUICE_CRASH_SEED") {
        Ok(seed) => vec![seed.parse().expect("SLUICE_CRASH_SEED is a number")],
        Err(_) => {
            let count = std::env::var("SLUICE_CRASH_SEEDS")
                .ok()
                .and_then(|n| n.parse().ok())
                .unwrap_or(300u64);
            (0..count).collect()
        }
    };
    let mut failures = Vec::new();
    let mut cleanings = 0;
    for &seed in &seeds {
        if let Err(error) = block_on(run_seed(seed, &mut cleanings)) {
            eprintln!("seed {seed} failed: {error}");
            failures.push(seed);
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} seeds failed: {:?} (replay one with SLUICE_CRASH_SEED=N)",
        failures.len(),
        seeds.len(),
        failures
    );
    assert!(
        seeds.len() < 20 || cleanings > seeds.len() as u64,
        "only {cleanings} cleanings ran"
    );
    println!(
        "{} compaction crash seeds passed, {cleanings} cleanings",
        seeds.len()
    );
}
