//! Storage benchmark of `sluice-io`: append and read throughput of
//! [`PartitionLog`] on [`DmaStorage`] (O_DIRECT through glommio), printed
//! beside the raw sequential O_DIRECT bandwidth of the same directory,
//! measured in the same run.
//!
//! # What is measured
//!
//! Everything runs on one shard: one glommio `LocalExecutor` pinned to CPU 0.
//!
//! - `raw-write/1MiB/qdN`: a new `DmaFile` written sequentially in 1 MiB
//!   blocks with N writes in flight (qd1: one at a time; qd4: four at a
//!   time), then one `fdatasync`, which is inside the timed span.
//!   `raw-read/1MiB/qdN` writes such a file once and reads it back the same
//!   way (no copy). The reference ("raw") the engine rows are divided by is
//!   the better median of qd1 and qd4: of the raw-write rows for write
//!   rows, of the raw-read rows for read rows. The raw rows run again at the
//!   end (`(end)`, divided by the same reference) to show how far the device
//!   drifted during the run.
//! - `write/<batch>/p<partitions>/<flush>[/linger-2ms][/<n>-producers]`:
//!   appends of one prebuilt v2 batch of exactly 1 KiB, 16 KiB or 1 MiB (one
//!   record per KiB), each followed by `wait_durable`, as a produce request
//!   with acks=1/all waits. Appends are pipelined as producers do it: tasks
//!   append and wait in a loop, taking batch numbers from one counter and
//!   sending batch i to partition i mod partitions (round robin).
//!   - `p1`: one partition, 8 tasks (`SLUICE_BENCH_PRODUCERS`; 64 in the
//!     `64-producers` row): up to 8 appends in flight for group commit to
//!     merge.
//!   - `p256`: 256 partitions, 256 tasks (`SLUICE_BENCH_TASKS`): about one
//!     append in flight per partition. `2048-producers` rows: 8 per partition.
//!   - `every-write`: `FlushPolicy::EveryWrite`, each group commit written and
//!     `fdatasync`ed before it is acknowledged. `interval`: Kafka's default
//!     (acknowledged once on the device, no periodic sync). `interval-1s`:
//!     `Interval { ms: 1000 }`.
//!   - `linger-2ms`: `write_linger` = 2 ms and `write_min_bytes` = 64 KiB (a
//!     write-out waits up to 2 ms for 64 KiB to gather); otherwise linger 0,
//!     the default, and writes go out at once.
//!
//!   The clock stops when the last append is acknowledged. Closing the logs
//!   (final `fdatasync`, index files; all partitions at once) is timed apart.
//!   A run also stops once `SLUICE_BENCH_SECS` have passed (small batches
//!   with `every-write` are sync bound and would take minutes); `MiB/run`
//!   says how much the run moved. No `tick()` driver runs: every append is
//!   waited for, so nothing is left unwritten.
//! - `read/<batch>/p<partitions>/<cache|disk>`: a log of such batches is
//!   written once per case (1 MiB per append, many batches each, which puts
//!   the same bytes on disk as one batch per append, in seconds), then read
//!   from its start to its end `SLUICE_BENCH_RUNS` times, `read(offset,
//!   1 MiB, min_one_batch)` at a time, by one reader per partition (p256:
//!   256 readers in flight). A read returns chunks of shared buffers, no
//!   copy; the reader copies them once into a scratch buffer, standing in
//!   for the socket write a broker would do. `cache`: `cache_bytes_max`
//!   holds all of it, so no read touches the disk. `disk`: the logs are
//!   closed and reopened after writing (`cache_bytes_max` = 0), so every read
//!   goes to the disk.
//!
//! The data directory (a subdirectory of `SLUICE_BENCH_DIR`) is deleted after
//! every write run and after every read case.
//!
//! # How to run
//!
//! ```text
//! cargo bench -p sluice-io --bench append                   # everything, ~5 min
//! cargo bench -p sluice-io --bench append -- p256 read/16   # names containing either
//! SLUICE_BENCH_MB=64 SLUICE_BENCH_RUNS=1 cargo bench -p sluice-io --bench append
//! ```
//!
//! | variable                 | default      | meaning                                  |
//! |--------------------------|--------------|------------------------------------------|
//! | `SLUICE_BENCH_MB`        | 256          | MiB per run: raw and 1-partition cases   |
//! | `SLUICE_BENCH_MB_P256`   | 4 × MB       | MiB per run of the 256-partition cases   |
//! | `SLUICE_BENCH_RUNS`      | 3            | runs per case                            |
//! | `SLUICE_BENCH_SECS`      | 2            | longest write phase of one run (seconds) |
//! | `SLUICE_BENCH_PRODUCERS` | 8            | appends in flight on one partition       |
//! | `SLUICE_BENCH_TASKS`     | 256          | appends in flight over 256 partitions    |
//! | `SLUICE_BENCH_DIR`       | the temp dir | where the data goes (in a subdirectory)  |
//! | `SLUICE_BENCH_FILTER`    | none         | comma-separated substrings of case names |
//!
//! Filters may also be given as arguments after `--`; a case runs if its name
//! contains any of them. The raw rows always run (the raw read rows only
//! when a read case does). Progress goes to stderr, the table to stdout.
//!
//! # How to read the table
//!
//! One row per case. `MB/s` is 10^6 bytes of batches (raw: blocks) per
//! second; min, median and max over the runs. `×raw` is the median over the
//! reference (see above). The other columns are from the median run:
//! - `IO KiB`: average device write (device_write_bytes / device_writes,
//!   summed over partitions); for reads, average disk read (`-`: none).
//! - `b/IO`: batches per device write, i.e. how much group commit merged.
//! - `IOs`: device writes (reads) in the run. `syncs`: `fdatasync`s in the
//!   timed span (not those of close).
//! - `amp`: device bytes per batch byte. Above 1 for writes: partly filled
//!   tail blocks written again; for reads: bytes read and thrown away.
//! - `usr%`, `sys%`: process CPU time over wall time (one core = 100%),
//!   kernel io_uring workers included. Near 100% together: the shard's CPU,
//!   not the device, is the limit.
//! - `close ms`: closing all partitions after the timed span.
//! - `RSS MiB`: peak resident memory of the process during the run (freed
//!   heap is returned to the kernel before each run).

use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, Instant};

use futures::stream::{FuturesUnordered, StreamExt};
use glommio::io::{DmaFile, OpenOptions};
use glommio::{LocalExecutorBuilder, Placement};
use sluice_io::batch::build_test_batch;
use sluice_io::storage::dma::DmaStorage;
use sluice_io::{AppendTime, FlushPolicy, LogConfig, LogStats, PartitionLog};

const MIB: u64 = 1 << 20;
const KIB: usize = 1 << 10;
/// Block size of the raw rows.
const RAW_BLOCK_BYTES: usize = 1 << 20;
/// Writes (reads) in flight of the raw rows: one at a time, and a few.
const RAW_IN_FLIGHT: [usize; 2] = [1, 4];
/// Name suffix of the raw rows measured again at the end.
const END_SUFFIX: &str = " (end)";
/// `max_bytes` of every read, as a consumer's `max.partition.fetch.bytes`.
const READ_MAX_BYTES: usize = 1 << 20;
const BATCH_SIZES_BYTES: [usize; 3] = [KIB, 16 * KIB, 1 << 20];
const PARTITIONS_MANY: usize = 256;
const LINGER: Duration = Duration::from_millis(2);
const LINGER_MIN_BYTES: usize = 64 << 10;
/// The producer count of the extra 1 KiB case showing group commit scaling.
const PRODUCERS_MANY: usize = 64;
/// Appends in flight of the deep 256-partition cases: 8 per partition, so a
/// linger has something to gather.
const TASKS_DEEP: usize = 8 * PARTITIONS_MANY;
const BATCH_TIMESTAMP_MS: i64 = 1_700_000_000_000;
/// Bytes per append when writing the data of a read case.
const SETUP_APPEND_BYTES: usize = 1 << 20;

type Log = PartitionLog<DmaStorage>;

fn main() {
    let settings = Settings::from_env();
    let cases: Vec<Case> = all_cases(&settings)
        .into_iter()
        .filter(|case| case.is_raw() || settings.selects(&case.name))
        .collect();
    let wants_reads = cases.iter().any(|c| matches!(c.kind, Kind::Read(_)));
    let cases: Vec<Case> = cases
        .into_iter()
        .filter(|c| wants_reads || !matches!(c.kind, Kind::RawRead { .. }))
        .collect();
    let started = Instant::now();
    LocalExecutorBuilder::new(Placement::Fixed(0))
        .name("sluice-bench")
        .spawn(move || async move { run_all(&settings, &cases).await })
        .expect("spawning the glommio executor")
        .join()
        .expect("the benchmark executor panicked");
    println!("\ntotal run time {:.1} s", started.elapsed().as_secs_f64());
}

/// Run-wide settings, from the environment and the command line.
struct Settings {
    volume_bytes_p1: u64,
    volume_bytes_many: u64,
    runs: usize,
    write_secs_max: f64,
    producers: usize,
    tasks_many: usize,
    root: PathBuf,
    filters: Vec<String>,
}

impl Settings {
    fn from_env() -> Settings {
        let volume_mib = env_u64("SLUICE_BENCH_MB", 256).max(1);
        let volume_many_mib = env_u64("SLUICE_BENCH_MB_P256", 4 * volume_mib).max(1);
        let base = std::env::var_os("SLUICE_BENCH_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(std::env::temp_dir);
        let mut filters: Vec<String> = std::env::args()
            .skip(1)
            .filter(|arg| !arg.starts_with('-'))
            .collect();
        if let Ok(list) = std::env::var("SLUICE_BENCH_FILTER") {
            filters.extend(list.split(',').filter(|s| !s.is_empty()).map(String::from));
        }
        Settings {
            volume_bytes_p1: volume_mib * MIB,
            volume_bytes_many: volume_many_mib * MIB,
            runs: env_u64("SLUICE_BENCH_RUNS", 3).max(1) as usize,
            write_secs_max: env_f64("SLUICE_BENCH_SECS", 2.0).max(0.1),
            producers: env_u64("SLUICE_BENCH_PRODUCERS", 8).max(1) as usize,
            tasks_many: env_u64("SLUICE_BENCH_TASKS", PARTITIONS_MANY as u64).max(1) as usize,
            root: base.join(format!("sluice-bench-{}", std::process::id())),
            filters,
        }
    }

    fn selects(&self, name: &str) -> bool {
        self.filters.is_empty() || self.filters.iter().any(|f| name.contains(f.as_str()))
    }

    fn volume_bytes(&self, partitions: usize) -> u64 {
        if partitions == 1 {
            self.volume_bytes_p1
        } else {
            self.volume_bytes_many
        }
    }
}

fn env_f64(name: &str, default: f64) -> f64 {
    match std::env::var(name) {
        Ok(value) => value
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}={value:?} is not a number")),
        Err(_) => default,
    }
}

fn env_u64(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(value) => value
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}={value:?} is not a whole number")),
        Err(_) => default,
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Flush {
    EveryWrite,
    KafkaDefault,
    EverySecond,
}

impl Flush {
    fn policy(self) -> FlushPolicy {
        match self {
            Flush::EveryWrite => FlushPolicy::EveryWrite,
            Flush::KafkaDefault => FlushPolicy::KAFKA_DEFAULT,
            Flush::EverySecond => FlushPolicy::Interval {
                messages: u64::MAX,
                ms: 1000,
            },
        }
    }

    fn name(self) -> &'static str {
        match self {
            Flush::EveryWrite => "every-write",
            Flush::KafkaDefault => "interval",
            Flush::EverySecond => "interval-1s",
        }
    }
}

#[derive(Clone, Copy)]
struct WriteCase {
    batch_bytes: usize,
    partitions: usize,
    /// Appends in flight (tasks appending in a loop).
    tasks: usize,
    flush: Flush,
    linger: bool,
}

#[derive(Clone, Copy)]
struct ReadCase {
    batch_bytes: usize,
    partitions: usize,
    from_cache: bool,
}

#[derive(Clone, Copy)]
enum Kind {
    RawWrite { in_flight: usize },
    RawRead { in_flight: usize },
    Write(WriteCase),
    Read(ReadCase),
}

struct Case {
    name: String,
    kind: Kind,
}

impl Case {
    fn is_raw(&self) -> bool {
        matches!(self.kind, Kind::RawWrite { .. } | Kind::RawRead { .. })
    }
}

fn size_name(bytes: usize) -> String {
    if bytes >= 1 << 20 {
        format!("{}MiB", bytes >> 20)
    } else {
        format!("{}KiB", bytes >> 10)
    }
}

fn raw_cases(suffix: &str) -> Vec<Case> {
    let mut cases = Vec::new();
    for in_flight in RAW_IN_FLIGHT {
        cases.push(Case {
            name: format!("raw-write/1MiB/qd{in_flight}{suffix}"),
            kind: Kind::RawWrite { in_flight },
        });
        cases.push(Case {
            name: format!("raw-read/1MiB/qd{in_flight}{suffix}"),
            kind: Kind::RawRead { in_flight },
        });
    }
    cases
}

fn all_cases(settings: &Settings) -> Vec<Case> {
    let mut cases = raw_cases("");
    for batch_bytes in BATCH_SIZES_BYTES {
        for flush in [Flush::EveryWrite, Flush::KafkaDefault, Flush::EverySecond] {
            let case = WriteCase {
                batch_bytes,
                partitions: 1,
                tasks: settings.producers,
                flush,
                linger: false,
            };
            cases.push(write_case(case, ""));
        }
    }
    let case = WriteCase {
        batch_bytes: KIB,
        partitions: 1,
        tasks: PRODUCERS_MANY,
        flush: Flush::KafkaDefault,
        linger: false,
    };
    cases.push(write_case(case, &format!("/{PRODUCERS_MANY}-producers")));
    for batch_bytes in BATCH_SIZES_BYTES {
        for flush in [Flush::EveryWrite, Flush::KafkaDefault] {
            for linger in [false, true] {
                let case = WriteCase {
                    batch_bytes,
                    partitions: PARTITIONS_MANY,
                    tasks: settings.tasks_many,
                    flush,
                    linger,
                };
                cases.push(write_case(case, ""));
            }
        }
    }
    for batch_bytes in [KIB, 16 * KIB] {
        for linger in [false, true] {
            let case = WriteCase {
                batch_bytes,
                partitions: PARTITIONS_MANY,
                tasks: TASKS_DEEP,
                flush: Flush::KafkaDefault,
                linger,
            };
            cases.push(write_case(case, &format!("/{TASKS_DEEP}-producers")));
        }
    }
    for batch_bytes in BATCH_SIZES_BYTES {
        for partitions in [1, PARTITIONS_MANY] {
            for from_cache in [true, false] {
                let source = if from_cache { "cache" } else { "disk" };
                cases.push(Case {
                    name: format!("read/{}/p{partitions}/{source}", size_name(batch_bytes)),
                    kind: Kind::Read(ReadCase {
                        batch_bytes,
                        partitions,
                        from_cache,
                    }),
                });
            }
        }
    }
    cases.extend(raw_cases(END_SUFFIX));
    cases
}

fn write_case(case: WriteCase, suffix: &str) -> Case {
    let linger = if case.linger { "/linger-2ms" } else { "" };
    Case {
        name: format!(
            "write/{}/p{}/{}{linger}{suffix}",
            size_name(case.batch_bytes),
            case.partitions,
            case.flush.name()
        ),
        kind: Kind::Write(case),
    }
}

/// What one run measured.
#[derive(Clone, Copy, Default)]
struct Sample {
    /// Batch (or raw block) bytes moved.
    bytes: u64,
    secs: f64,
    /// Process CPU time, user and system.
    user_secs: f64,
    system_secs: f64,
    /// Device I/Os and their bytes (writes for write cases, reads for reads).
    ios: u64,
    io_bytes: u64,
    syncs: u64,
    close_secs: f64,
    peak_rss_bytes: u64,
    /// Batches appended (write cases), for batches per device write.
    batches: u64,
}

impl Sample {
    fn mb_per_sec(&self) -> f64 {
        self.bytes as f64 / self.secs / 1e6
    }
}

/// What the engine rows are divided by: the best median of the first raw
/// write (read) rows, whichever number of I/Os in flight did better.
#[derive(Default)]
struct Reference {
    write_mb_per_sec: Option<f64>,
    read_mb_per_sec: Option<f64>,
}

impl Reference {
    fn slot(&mut self, kind: &Kind) -> &mut Option<f64> {
        match kind {
            Kind::RawWrite { .. } | Kind::Write(_) => &mut self.write_mb_per_sec,
            Kind::RawRead { .. } | Kind::Read(_) => &mut self.read_mb_per_sec,
        }
    }

    fn offer(&mut self, kind: &Kind, mb_per_sec: f64) {
        let slot = self.slot(kind);
        *slot = Some(slot.map_or(mb_per_sec, |best| best.max(mb_per_sec)));
    }

    fn for_kind(&self, kind: &Kind) -> Option<f64> {
        match kind {
            Kind::RawWrite { .. } | Kind::Write(_) => self.write_mb_per_sec,
            Kind::RawRead { .. } | Kind::Read(_) => self.read_mb_per_sec,
        }
    }
}

/// A measured case waiting for its row to be printed.
struct Measured {
    name: String,
    kind: Kind,
    samples: Vec<Sample>,
}

async fn run_all(settings: &Settings, cases: &[Case]) {
    println!(
        "sluice-io append benchmark: {} runs per case, {} MiB per run (p1, raw), {} MiB (p{}), \
         write phase capped at {} s",
        settings.runs,
        settings.volume_bytes_p1 / MIB,
        settings.volume_bytes_many / MIB,
        PARTITIONS_MANY,
        settings.write_secs_max
    );
    println!(
        "dir {}; one glommio executor on CPU 0; p1 appends in flight {}, p{} appends in flight {}",
        settings.root.display(),
        settings.producers,
        PARTITIONS_MANY,
        settings.tasks_many
    );
    println!(
        "×raw: median over the best median of the first raw-write rows (writes) or raw-read \
         rows (reads)\n"
    );
    println!("{:<52} {:-^23}", "", " MB/s ");
    println!(
        "{:<52} {:>7} {:>7} {:>7} {:>6} {:>8} {:>7} {:>7} {:>6} {:>6} {:>5} {:>5} {:>5} {:>8} {:>7}",
        "case",
        "min",
        "med",
        "max",
        "×raw",
        "MiB/run",
        "IO KiB",
        "b/IO",
        "IOs",
        "syncs",
        "amp",
        "usr%",
        "sys%",
        "close ms",
        "RSS MiB"
    );
    let mut reference = Reference::default();
    // The first raw rows are held back until all are measured, so their
    // ratios are to the final reference too.
    let mut held: Vec<Measured> = Vec::new();
    for case in cases {
        let is_first_raw = case.is_raw() && !case.name.ends_with(END_SUFFIX);
        if !is_first_raw {
            print_held(&mut held, &reference);
        }
        eprintln!("running {}", case.name);
        let samples = match case.kind {
            Kind::RawWrite { in_flight } => {
                let mut samples = Vec::new();
                for _ in 0..settings.runs {
                    samples.push(raw_write_run(settings, in_flight).await);
                }
                samples
            }
            Kind::RawRead { in_flight } => raw_read_case(settings, in_flight).await,
            Kind::Write(write) => {
                let mut samples = Vec::new();
                for _ in 0..settings.runs {
                    samples.push(write_run(settings, &write).await);
                }
                samples
            }
            Kind::Read(read) => read_case(settings, &read).await,
        };
        let measured = Measured {
            name: case.name.clone(),
            kind: case.kind,
            samples,
        };
        if is_first_raw {
            reference.offer(&case.kind, median_of(&measured.samples).mb_per_sec());
            held.push(measured);
        } else {
            print_row(&measured, reference.for_kind(&case.kind));
        }
    }
    print_held(&mut held, &reference);
    std::fs::remove_dir_all(&settings.root).ok();
}

fn print_held(held: &mut Vec<Measured>, reference: &Reference) {
    for measured in held.drain(..) {
        print_row(&measured, reference.for_kind(&measured.kind));
    }
}

fn median_of(samples: &[Sample]) -> Sample {
    let mut sorted = samples.to_vec();
    sorted.sort_by(|a, b| a.mb_per_sec().total_cmp(&b.mb_per_sec()));
    sorted[sorted.len() / 2]
}

fn print_row(measured: &Measured, reference: Option<f64>) {
    let median = &median_of(&measured.samples);
    let rates: Vec<f64> = measured.samples.iter().map(Sample::mb_per_sec).collect();
    let min = rates.iter().copied().fold(f64::INFINITY, f64::min);
    let max = rates.iter().copied().fold(0.0, f64::max);
    let ratio = reference
        .map(|r| format!("{:.2}", median.mb_per_sec() / r))
        .unwrap_or_else(|| "-".into());
    let (io_kib, amp) = if median.ios == 0 {
        ("-".to_string(), "-".to_string())
    } else {
        (
            format!("{:.1}", median.io_bytes as f64 / median.ios as f64 / 1024.0),
            format!("{:.2}", median.io_bytes as f64 / median.bytes as f64),
        )
    };
    let batches_per_io = if median.batches == 0 || median.ios == 0 {
        "-".to_string()
    } else {
        format!("{:.1}", median.batches as f64 / median.ios as f64)
    };
    println!(
        "{:<52} {:>7.0} {:>7.0} {:>7.0} {:>6} {:>8.0} {:>7} {:>7} {:>6} {:>6} {:>5} {:>5.0} {:>5.0} {:>8.1} {:>7}",
        measured.name,
        min,
        median.mb_per_sec(),
        max,
        ratio,
        median.bytes as f64 / MIB as f64,
        io_kib,
        batches_per_io,
        median.ios,
        median.syncs,
        amp,
        100.0 * median.user_secs / median.secs,
        100.0 * median.system_secs / median.secs,
        median.close_secs * 1e3,
        median.peak_rss_bytes / MIB
    );
}

/// A fresh, empty directory for one run.
fn fresh_dir(settings: &Settings) -> PathBuf {
    let dir = settings.root.join("run");
    std::fs::remove_dir_all(&dir).ok();
    std::fs::create_dir_all(&dir).expect("creating the benchmark directory");
    dir
}

fn remove_dir(dir: &Path) {
    std::fs::remove_dir_all(dir).expect("removing the benchmark directory");
}

/// Process CPU time in seconds: (user, system). Includes the kernel's
/// io_uring worker threads, which belong to the process.
#[allow(unsafe_code)] // the unsafe block says why (SAFETY:)
fn cpu_secs() -> (f64, f64) {
    // SAFETY: getrusage only writes into the zeroed struct we own.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    (secs(usage.ru_utime), secs(usage.ru_stime))
}

/// Gives freed heap back to the kernel and resets the peak-RSS mark
/// (VmHWM), so the next reading covers one run and not the runs before it.
#[allow(unsafe_code)] // the unsafe block says why (SAFETY:)
fn reset_peak_rss() {
    // SAFETY: malloc_trim has no preconditions.
    unsafe {
        libc::malloc_trim(0);
    }
    std::fs::write("/proc/self/clear_refs", "5").ok();
}

fn peak_rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        })
        .map_or(0, |kib| kib * 1024)
}

/// Times a span: wall clock and process CPU.
struct Span {
    started: Instant,
    cpu_started: (f64, f64),
}

impl Span {
    fn start() -> Span {
        reset_peak_rss();
        Span {
            started: Instant::now(),
            cpu_started: cpu_secs(),
        }
    }

    fn sample(&self, bytes: u64) -> Sample {
        Sample {
            bytes,
            secs: self.started.elapsed().as_secs_f64(),
            user_secs: cpu_secs().0 - self.cpu_started.0,
            system_secs: cpu_secs().1 - self.cpu_started.1,
            peak_rss_bytes: peak_rss_bytes(),
            ..Sample::default()
        }
    }
}

// ---- raw rows ------------------------------------------------------------

/// Writes `volume_bytes_p1` to a new file in 1 MiB blocks, `in_flight` at a
/// time, then fdatasyncs; returns the sample and leaves the file for reads.
async fn raw_write(settings: &Settings, in_flight: usize, path: &Path) -> Sample {
    // glommio probes once per device whether it supports polled I/O by
    // reading the first block of the first DmaFile opened; an empty file
    // answers wrongly, so the raw file starts with a block of data.
    std::fs::write(path, [0x5au8; 4096]).expect("creating the raw file");
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .dma_open(path)
        .await
        .expect("opening the raw file");
    let buffers: Vec<_> = (0..in_flight)
        .map(|_| {
            let mut buffer = file.alloc_dma_buffer(RAW_BLOCK_BYTES);
            for (i, byte) in buffer.as_bytes_mut().iter_mut().enumerate() {
                *byte = (i % 251) as u8;
            }
            Rc::new(buffer)
        })
        .collect();
    let blocks = (settings.volume_bytes_p1 as usize).div_ceil(RAW_BLOCK_BYTES);
    let span = Span::start();
    let mut pending = FuturesUnordered::new();
    for block in 0..blocks {
        if pending.len() == in_flight {
            let written = pending.next().await.expect("a write is pending");
            check_raw_io(written);
        }
        let position = (block * RAW_BLOCK_BYTES) as u64;
        pending.push(file.write_rc_at(buffers[block % in_flight].clone(), position));
    }
    while let Some(written) = pending.next().await {
        check_raw_io(written);
    }
    file.fdatasync().await.expect("raw fdatasync");
    let mut sample = span.sample((blocks * RAW_BLOCK_BYTES) as u64);
    sample.ios = blocks as u64;
    sample.io_bytes = sample.bytes;
    sample.syncs = 1;
    drop(pending);
    file.close().await.expect("closing the raw file");
    sample
}

fn check_raw_io(result: glommio::Result<usize, ()>) {
    let done = result.expect("raw I/O");
    assert_eq!(done, RAW_BLOCK_BYTES, "short raw I/O");
}

async fn raw_write_run(settings: &Settings, in_flight: usize) -> Sample {
    let dir = fresh_dir(settings);
    let sample = raw_write(settings, in_flight, &dir.join("raw")).await;
    remove_dir(&dir);
    sample
}

/// Writes a raw file once, then reads it back `runs` times.
async fn raw_read_case(settings: &Settings, in_flight: usize) -> Vec<Sample> {
    let dir = fresh_dir(settings);
    let path = dir.join("raw");
    raw_write(settings, in_flight, &path).await;
    let file = DmaFile::open(&path).await.expect("opening the raw file");
    let blocks = (settings.volume_bytes_p1 as usize).div_ceil(RAW_BLOCK_BYTES);
    let mut samples = Vec::new();
    for _ in 0..settings.runs {
        let span = Span::start();
        let mut pending = FuturesUnordered::new();
        for block in 0..blocks {
            if pending.len() == in_flight {
                let read = pending.next().await.expect("a read is pending");
                check_raw_read(read);
            }
            let position = (block * RAW_BLOCK_BYTES) as u64;
            pending.push(file.read_at_aligned(position, RAW_BLOCK_BYTES));
        }
        while let Some(read) = pending.next().await {
            check_raw_read(read);
        }
        let mut sample = span.sample((blocks * RAW_BLOCK_BYTES) as u64);
        sample.ios = blocks as u64;
        sample.io_bytes = sample.bytes;
        samples.push(sample);
    }
    file.close().await.expect("closing the raw file");
    remove_dir(&dir);
    samples
}

fn check_raw_read(result: glommio::Result<glommio::io::ReadResult, ()>) {
    let read = result.expect("raw read");
    assert_eq!(read.len(), RAW_BLOCK_BYTES, "short raw read");
}

// ---- engine rows ---------------------------------------------------------

/// A valid v2 batch of exactly `batch_bytes`, one record per KiB.
fn bench_batch(batch_bytes: usize) -> Rc<Vec<u8>> {
    let records = (batch_bytes / KIB).max(1) as i32;
    let payload_bytes = batch_bytes - sluice_io::batch::BATCH_HEADER_BYTES;
    let batch = build_test_batch(records, payload_bytes, BATCH_TIMESTAMP_MS);
    assert_eq!(batch.len(), batch_bytes);
    Rc::new(batch)
}

async fn open_logs(dir: &Path, partitions: usize, config: &LogConfig) -> Rc<Vec<Log>> {
    let mut logs = Vec::with_capacity(partitions);
    for partition in 0..partitions {
        let log = PartitionLog::open(
            DmaStorage,
            dir.join(format!("bench-{partition}")),
            config.clone(),
        )
        .await
        .expect("opening a partition log");
        logs.push(log);
    }
    Rc::new(logs)
}

fn summed_stats(logs: &[Log]) -> LogStats {
    let mut sum = LogStats::default();
    for stats in logs.iter().map(Log::stats) {
        sum.appends += stats.appends;
        sum.device_writes += stats.device_writes;
        sum.device_write_bytes += stats.device_write_bytes;
        sum.syncs += stats.syncs;
        sum.cache_read_bytes += stats.cache_read_bytes;
        sum.disk_reads += stats.disk_reads;
        sum.disk_read_bytes += stats.disk_read_bytes;
    }
    sum
}

/// Appends batch number i to partition i mod partitions from `tasks` tasks,
/// each waiting for durability before its next append, until `batches_max`
/// batches or the deadline. Returns the batches appended.
async fn produce(
    logs: &Rc<Vec<Log>>,
    batch: &Rc<Vec<u8>>,
    tasks: usize,
    batches_max: u64,
    deadline: Instant,
) -> u64 {
    let next_batch = Rc::new(Cell::new(0u64));
    let producers: Vec<_> = (0..tasks)
        .map(|_| {
            let logs = logs.clone();
            let batch = batch.clone();
            let next_batch = next_batch.clone();
            glommio::spawn_local(async move {
                loop {
                    let number = next_batch.get();
                    if number >= batches_max || Instant::now() >= deadline {
                        break;
                    }
                    next_batch.set(number + 1);
                    let log = &logs[(number % logs.len() as u64) as usize];
                    let info = log
                        .append(&batch, BATCH_TIMESTAMP_MS, AppendTime::Create)
                        .await
                        .expect("append");
                    log.wait_durable(info.last_offset + 1)
                        .await
                        .expect("wait_durable");
                }
            })
        })
        .collect();
    for producer in producers {
        producer.await;
    }
    next_batch.get()
}

fn write_config(case: &WriteCase) -> LogConfig {
    let mut config = LogConfig {
        flush_policy: case.flush.policy(),
        ..LogConfig::default()
    };
    if case.linger {
        config.write_linger = LINGER;
        config.write_min_bytes = LINGER_MIN_BYTES;
    }
    config
}

/// Closes every partition, all at once as a shard shutting down would.
async fn close_all(logs: &Rc<Vec<Log>>) -> f64 {
    let started = Instant::now();
    let closers: Vec<_> = (0..logs.len())
        .map(|partition| {
            let logs = logs.clone();
            glommio::spawn_local(async move {
                logs[partition]
                    .close()
                    .await
                    .expect("closing a partition log")
            })
        })
        .collect();
    for closer in closers {
        closer.await;
    }
    started.elapsed().as_secs_f64()
}

async fn write_run(settings: &Settings, case: &WriteCase) -> Sample {
    let dir = fresh_dir(settings);
    let logs = open_logs(&dir, case.partitions, &write_config(case)).await;
    let batch = bench_batch(case.batch_bytes);
    let batches_max = (settings.volume_bytes(case.partitions) / case.batch_bytes as u64).max(1);
    let deadline = Instant::now() + Duration::from_secs_f64(settings.write_secs_max);
    let span = Span::start();
    let appended = produce(&logs, &batch, case.tasks, batches_max, deadline).await;
    let mut sample = span.sample(appended * case.batch_bytes as u64);
    sample.batches = appended;
    let stats = summed_stats(&logs);
    sample.ios = stats.device_writes;
    sample.io_bytes = stats.device_write_bytes;
    sample.syncs = stats.syncs;
    sample.close_secs = close_all(&logs).await;
    drop(logs);
    remove_dir(&dir);
    sample
}

/// Writes the case's log once (Kafka-default flushing), then reads it all
/// back `runs` times, one reader per partition.
async fn read_case(settings: &Settings, case: &ReadCase) -> Vec<Sample> {
    let dir = fresh_dir(settings);
    let volume_bytes = settings.volume_bytes(case.partitions);
    let per_partition_bytes = volume_bytes as usize / case.partitions;
    let config = LogConfig {
        // Written buffers overlap by a tail block and small writes leave
        // buffers partly used, so hold four times the data to be sure.
        cache_bytes_max: if case.from_cache {
            4 * per_partition_bytes + (16 << 20)
        } else {
            0
        },
        ..LogConfig::default()
    };
    let logs = open_logs(&dir, case.partitions, &config).await;
    // Small batches are appended SETUP_APPEND_BYTES at a time (many batches
    // per append): the bytes on disk are the same as one batch per append,
    // and the setup takes seconds instead of minutes.
    let batch = bench_batch(case.batch_bytes);
    let batches_per_append = (SETUP_APPEND_BYTES / case.batch_bytes).max(1);
    let append_bytes = Rc::new(batch.repeat(batches_per_append));
    let appends = (volume_bytes / append_bytes.len() as u64).max(1);
    let batches = appends * batches_per_append as u64;
    let tasks = if case.partitions == 1 {
        settings.producers
    } else {
        settings.tasks_many
    };
    let far = Instant::now() + Duration::from_secs(3600);
    let appended = produce(&logs, &append_bytes, tasks, appends, far).await;
    assert_eq!(appended, appends);
    let logs = if case.from_cache {
        logs
    } else {
        // Reopened logs start with an empty cache: every read goes to disk.
        close_all(&logs).await;
        drop(logs);
        open_logs(&dir, case.partitions, &config).await
    };

    let mut samples = Vec::new();
    for _ in 0..settings.runs {
        let before = summed_stats(&logs);
        let span = Span::start();
        let readers: Vec<_> = (0..case.partitions)
            .map(|partition| {
                let logs = logs.clone();
                glommio::spawn_local(async move { read_all(&logs[partition]).await })
            })
            .collect();
        let mut bytes = 0u64;
        for reader in readers {
            bytes += reader.await;
        }
        let mut sample = span.sample(bytes);
        assert_eq!(bytes, batches * case.batch_bytes as u64, "read back all");
        let after = summed_stats(&logs);
        sample.ios = after.disk_reads - before.disk_reads;
        sample.io_bytes = after.disk_read_bytes - before.disk_read_bytes;
        samples.push(sample);
    }
    close_all(&logs).await;
    drop(logs);
    remove_dir(&dir);
    samples
}

/// Reads a partition from its start to its end, 1 MiB at a time, as a
/// consumer catching up would, and copies each read once into a scratch
/// buffer, standing in for the copy of the socket write that would send it.
/// Returns the bytes read.
async fn read_all(log: &Log) -> u64 {
    let end_offset = log.log_end_offset();
    let mut offset = log.log_start_offset();
    let mut bytes = 0u64;
    let mut socket = Vec::with_capacity(READ_MAX_BYTES);
    while offset < end_offset {
        let read = log
            .read(offset, READ_MAX_BYTES, true)
            .await
            .expect("reading the log");
        assert!(read.next_offset > offset, "a read makes progress");
        socket.clear();
        for chunk in &read.chunks {
            socket.extend_from_slice(chunk.as_slice());
        }
        std::hint::black_box(&socket);
        bytes += read.bytes as u64;
        offset = read.next_offset;
    }
    bytes
}
