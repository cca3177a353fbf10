//! Log cleaner benchmark: how fast [`PartitionLog::clean`] compacts a log on
//! [`DmaStorage`] (O_DIRECT through glommio, one executor pinned to CPU 0).
//!
//! Each run writes a log of `SLUICE_BENCH_MB` MiB (batches of 100 records,
//! 200-byte values, keys drawn at random from `keys`), in 16 MiB segments,
//! rolls it so everything is sealed, closes and reopens it (the cleaner
//! reads from the disk, not the write cache), then times one cleaning with
//! no pacing and a 128 MiB dedupe budget. Rows:
//!
//! - `MB/s in`: the log's size before cleaning over the cleaning's time
//!   (Kafka's cleaner reports the same: bytes of log cleaned per second);
//! - `MB/s read`: bytes the cleaner read (the dirty part twice: once to map
//!   it, once to rewrite it) per second;
//! - min, median and max over `SLUICE_BENCH_RUNS` runs (default 3), and the
//!   size after cleaning of the median run.
//!
//! ```text
//! cargo bench -p sluice-io --bench compaction
//! SLUICE_BENCH_MB=64 cargo bench -p sluice-io --bench compaction
//! ```
//!
//! `SLUICE_BENCH_DIR` picks the directory (a file system with O_DIRECT:
//! ext4, xfs; not tmpfs). The machine is shared: the load average is printed
//! before and after.

use std::path::{Path, PathBuf};
use std::time::Instant;

use glommio::{LocalExecutorBuilder, Placement};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use sluice_io::compression::Codec;
use sluice_io::log::compact::{CleanOutcome, CleanerLimits, CompactionConfig, Unpaced};
use sluice_io::storage::dma::DmaStorage;
use sluice_io::{records, AppendTime, LogConfig, PartitionLog};

const MIB: usize = 1 << 20;
const RECORDS_PER_BATCH: usize = 100;
const VALUE_BYTES: usize = 200;

struct Case {
    name: &'static str,
    codec: Codec,
    keys: u64,
}

const CASES: &[Case] = &[
    Case {
        name: "none/10k-keys",
        codec: Codec::None,
        keys: 10_000,
    },
    Case {
        name: "lz4/10k-keys",
        codec: Codec::Lz4,
        keys: 10_000,
    },
    Case {
        name: "none/1M-keys",
        codec: Codec::None,
        keys: 1_000_000,
    },
];

struct Sample {
    seconds: f64,
    bytes_before: u64,
    bytes_after: u64,
    bytes_read: u64,
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

async fn one_run(dir: &Path, case: &Case, total_bytes: usize, seed: u64) -> Sample {
    let config = LogConfig {
        segment_bytes: 16 << 20,
        ..LogConfig::default()
    };
    let _ = std::fs::remove_dir_all(dir);
    let log = PartitionLog::open(DmaStorage, dir, config.clone())
        .await
        .unwrap();
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut written = 0usize;
    let mut value = [0u8; VALUE_BYTES];
    while written < total_bytes {
        let keys: Vec<[u8; 8]> = (0..RECORDS_PER_BATCH)
            .map(|_| rng.gen_range(0..case.keys).to_be_bytes())
            .collect();
        rng.fill(&mut value[..16]);
        let pairs: Vec<records::KeyValue<'_>> = keys
            .iter()
            .map(|k| (Some(&k[..]), Some(&value[..])))
            .collect();
        let batch = records::build_batch(case.codec, 1_000, &pairs).unwrap();
        let info = log.append(&batch, 1_000, AppendTime::Create).await.unwrap();
        if info.base_offset % 10_000 < RECORDS_PER_BATCH as u64 {
            log.wait_durable(info.last_offset + 1).await.unwrap();
        }
        written += batch.len();
    }
    log.roll_now().await.unwrap();
    log.close().await.unwrap();
    drop(log);
    let log = PartitionLog::open(DmaStorage, dir, config).await.unwrap();
    let compaction = CompactionConfig {
        min_cleanable_dirty_ratio: 0.0,
        ..CompactionConfig::default()
    };
    let limits = CleanerLimits::default();
    let started = Instant::now();
    let outcome = log
        .clean(10_000, &compaction, &limits, &mut Unpaced)
        .await
        .unwrap();
    let seconds = started.elapsed().as_secs_f64();
    let CleanOutcome::Cleaned(stats) = outcome else {
        panic!("nothing cleaned: {outcome:?}");
    };
    log.close().await.unwrap();
    drop(log);
    let _ = std::fs::remove_dir_all(dir);
    Sample {
        seconds,
        bytes_before: stats.bytes_before,
        bytes_after: stats.bytes_after,
        bytes_read: stats.bytes_read,
    }
}

fn main() {
    let megabytes = env_usize("SLUICE_BENCH_MB", 256);
    let runs = env_usize("SLUICE_BENCH_RUNS", 3).max(1);
    let base: PathBuf = std::env::var_os("SLUICE_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let temp = tempfile::Builder::new()
        .prefix("sluice-clean-bench")
        .tempdir_in(base)
        .unwrap();
    let dir = temp.path().join("compacted-0");
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    eprintln!("load average before: {}", load_average());
    let results = LocalExecutorBuilder::new(Placement::Fixed(0))
        .spawn(move || async move {
            let mut results = Vec::new();
            for case in CASES {
                if !filters.is_empty() && !filters.iter().any(|f| case.name.contains(f.as_str())) {
                    continue;
                }
                let mut samples = Vec::new();
                for run in 0..runs {
                    eprintln!("{} run {}/{runs}", case.name, run + 1);
                    samples.push(one_run(&dir, case, megabytes * MIB, run as u64).await);
                }
                results.push((case.name, samples));
            }
            results
        })
        .unwrap()
        .join()
        .unwrap();
    eprintln!("load average after: {}", load_average());
    println!(
        "{:<16} {:>8} {:>8} {:>8} {:>10} {:>10} {:>9}",
        "case", "MB/s in", "min", "max", "MB/s read", "MiB after", "seconds"
    );
    for (name, mut samples) in results {
        samples.sort_by(|a, b| {
            (a.bytes_before as f64 / a.seconds).total_cmp(&(b.bytes_before as f64 / b.seconds))
        });
        let rate = |s: &Sample| s.bytes_before as f64 / 1e6 / s.seconds;
        let median = &samples[samples.len() / 2];
        println!(
            "{:<16} {:>8.0} {:>8.0} {:>8.0} {:>10.0} {:>10.1} {:>9.2}",
            name,
            rate(median),
            rate(&samples[0]),
            rate(&samples[samples.len() - 1]),
            median.bytes_read as f64 / 1e6 / median.seconds,
            median.bytes_after as f64 / MIB as f64,
            median.seconds,
        );
    }
}
