//! `sluice perf produce`: kafka-producer-perf-test with librdkafka. N
//! producer threads send records at a capped or unlimited rate; delivery
//! callbacks time each record from `send` to acknowledgement. Every 5 s a
//! window line and at the end the total line, both in Kafka's format.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::client::{client_config, ensure_topic, parse_props};
use crate::duration::parse_duration;
use crate::error::{BenchError, Result};
use crate::format::{ProducerTotalLine, ProducerWindowLine};
use crate::payload::Payloads;
use crate::progress::Progress;
use crate::rate::RateSchedule;
use crate::report::{unix_ms_now, Figure, LatencyReport, RunReport};
use crate::sender::{create_sender, flush, lock, send, Deliveries};
use crate::stop::StopFlag;
use crate::windows::{LatencySummary, WindowSnapshot};

/// Kafka's producer perf test reports every 5 s.
pub const PRODUCE_WINDOW: Duration = Duration::from_secs(5);
/// How long the end of a run waits for outstanding acknowledgements.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(120);
/// After Ctrl-C, a shorter wait: the user wants the figures now.
const FLUSH_TIMEOUT_STOPPED: Duration = Duration::from_secs(5);
/// How often the coordinating thread looks at windows and the stop flag.
const TICK: Duration = Duration::from_millis(50);

#[derive(Debug, Clone, clap::Args)]
pub struct ProduceArgs {
    /// The broker(s) to bootstrap from, HOST:PORT[,HOST:PORT...].
    #[arg(long, default_value = "localhost:9092")]
    pub bootstrap_server: String,
    #[arg(long)]
    pub topic: String,
    /// Records to send (all producers together).
    #[arg(long, required_unless_present = "duration")]
    pub num_records: Option<u64>,
    /// Send for this long instead ("30", "30s", "500ms", "2m").
    #[arg(long, value_parser = parse_duration, conflicts_with = "num_records")]
    pub duration: Option<Duration>,
    /// Bytes per record value.
    #[arg(long, required_unless_present = "payload_file")]
    pub record_size: Option<usize>,
    /// Values are the records of this file, picked at random.
    #[arg(long, conflicts_with = "record_size")]
    pub payload_file: Option<PathBuf>,
    #[arg(long, default_value = "\n")]
    pub payload_delimiter: String,
    /// Records/s cap of all producers together; -1: unlimited.
    #[arg(long, default_value_t = -1.0, allow_negative_numbers = true)]
    pub throughput: f64,
    /// librdkafka/Kafka producer properties: acks=all linger.ms=5 ...
    #[arg(long, num_args = 1.., value_name = "KEY=VALUE")]
    pub producer_props: Vec<String>,
    /// Producer threads, each with its own client and connections.
    #[arg(long, default_value_t = 1)]
    pub producers: usize,
    /// Create the topic with this many partitions if it does not exist.
    #[arg(long)]
    pub partitions: Option<i32>,
    /// Send a key (the record number, 8 bytes) with every record; without,
    /// keys are null and librdkafka's sticky partitioner spreads batches.
    #[arg(long)]
    pub keys: bool,
}

impl ProduceArgs {
    fn workload(&self, payloads: &Payloads) -> serde_json::Value {
        json!({
            "topic": self.topic,
            "num_records": self.num_records,
            "duration_s": self.duration.map(|d| d.as_secs_f64()),
            "record_size": self.record_size,
            "payload_file": self.payload_file,
            "mean_value_bytes": payloads.mean_size(),
            "throughput": self.throughput,
            "producer_props": self.producer_props,
            "producers": self.producers,
            "partitions": self.partitions,
            "keys": self.keys,
            "client": format!("librdkafka {}", rdkafka::util::get_rdkafka_version().1),
        })
    }
}

/// The records producer `index` of `producers` sends (the first ones take
/// the remainder).
fn share(total: u64, producers: usize, index: usize) -> u64 {
    let producers = producers as u64;
    total / producers + u64::from((index as u64) < total % producers)
}

fn window_line(window: &WindowSnapshot) -> ProducerWindowLine {
    let (avg, max) = window
        .latency
        .as_ref()
        .map_or((0.0, 0.0), |l| (l.mean_ms, l.max_ms));
    ProducerWindowLine {
        records: window.records,
        elapsed_ms: window.elapsed.as_millis() as u64,
        bytes: window.bytes,
        avg_latency_ms: avg,
        max_latency_ms: max as u64,
    }
}

fn total_line(
    records: u64,
    bytes: u64,
    elapsed: Duration,
    latency: Option<&LatencySummary>,
) -> ProducerTotalLine {
    let whole_ms = |label: &str| latency.and_then(|l| l.percentile_ms(label)).unwrap_or(0.0) as u64;
    ProducerTotalLine {
        records,
        elapsed_ms: elapsed.as_millis() as u64,
        bytes,
        avg_latency_ms: latency.map_or(0.0, |l| l.mean_ms),
        max_latency_ms: latency.map_or(0.0, |l| l.max_ms) as u64,
        p50_ms: whole_ms("p50"),
        p95_ms: whole_ms("p95"),
        p99_ms: whole_ms("p99"),
        p999_ms: whole_ms("p99.9"),
    }
}

/// Runs the workload, printing Kafka's lines to `out`.
pub fn run(args: &ProduceArgs, stop: &StopFlag, out: &mut dyn Write) -> Result<RunReport> {
    if args.producers == 0 {
        return Err(BenchError::Usage("--producers must be at least 1".into()));
    }
    let payloads = match (&args.payload_file, args.record_size) {
        (Some(path), _) => Payloads::from_file(path, &args.payload_delimiter, 0x5eed)?,
        (None, Some(size)) if size > 0 => Payloads::random(size, 0x5eed),
        _ => {
            return Err(BenchError::Usage(
                "--record-size must be at least 1 (or give --payload-file)".into(),
            ))
        }
    };
    let props = parse_props(&args.producer_props)?;
    if let Some(partitions) = args.partitions {
        ensure_topic(&args.bootstrap_server, &args.topic, partitions)?;
    }
    let config = client_config(&args.bootstrap_server, &[], &props);
    let started_unix_ms = unix_ms_now();
    let start = Instant::now();
    let deliveries = Deliveries::new(start, PRODUCE_WINDOW);
    let per_producer_rate = args.throughput / args.producers as f64;

    let mut handles = Vec::with_capacity(args.producers);
    for index in 0..args.producers {
        let sender = create_sender(&config, &deliveries)?;
        let deliveries = Arc::clone(&deliveries);
        let stop = stop.clone();
        let topic = args.topic.clone();
        let mut payloads = payloads.clone();
        let quota = args.num_records.map(|n| share(n, args.producers, index));
        let deadline = args.duration.map(|d| start + d);
        let keys = args.keys;
        let producers = args.producers as u64;
        let handle = std::thread::Builder::new()
            .name(format!("perf-producer-{index}"))
            .spawn(move || -> Result<u64> {
                let schedule = RateSchedule::new(start, per_producer_rate);
                let mut sent = 0u64;
                while quota.is_none_or(|q| sent < q) && !stop.is_set() {
                    let sent_at = if schedule.is_unlimited() {
                        Instant::now()
                    } else {
                        schedule.wait_for(sent);
                        Instant::now()
                    };
                    if deadline.is_some_and(|d| sent_at >= d) {
                        break;
                    }
                    // The record's number across all producers.
                    let key = (sent * producers + index as u64).to_be_bytes();
                    let value = payloads.next_value();
                    let opaque = deliveries.opaque(sent_at);
                    if !send(
                        &sender,
                        &topic,
                        keys.then_some(&key[..]),
                        value,
                        opaque,
                        &stop,
                        deadline,
                    )? {
                        break;
                    }
                    sent += 1;
                }
                let timeout = if stop.is_set() {
                    FLUSH_TIMEOUT_STOPPED
                } else {
                    FLUSH_TIMEOUT
                };
                match flush(&sender, timeout) {
                    // After Ctrl-C the records still in flight are simply
                    // not counted; the figures cover what was acknowledged.
                    Err(_) if stop.is_set() => Ok(sent),
                    Err(error) => Err(error),
                    Ok(()) => Ok(sent),
                }
            })
            .map_err(BenchError::io("cannot start a producer thread", "thread"))?;
        handles.push(handle);
    }

    let progress = Progress::new("produce", start);
    while !handles.iter().all(|h| h.is_finished()) {
        std::thread::sleep(TICK);
        let now = Instant::now();
        let mut windows = lock(&deliveries.windows);
        // The window line (every 5 s) doubles as the progress tick.
        if windows.window_due(now) {
            let window = windows.close_window(now);
            let total = windows.total_records();
            drop(windows);
            let _ = writeln!(out, "{}", window_line(&window));
            let _ = out.flush();
            progress.print(&format!("{total} records acknowledged"));
        }
    }
    let mut sent_total = 0u64;
    let mut failure = None;
    for handle in handles {
        match handle.join() {
            Ok(Ok(sent)) => sent_total += sent,
            Ok(Err(error)) => failure = failure.or(Some(error)),
            Err(_) => {
                failure = failure.or(Some(BenchError::Usage("a producer thread panicked".into())))
            }
        }
    }
    let end = Instant::now();
    let elapsed = end.duration_since(start);
    let mut windows = lock(&deliveries.windows);
    windows.finish(end);
    if let Some(error) = failure {
        // Figures of a run that broke are not worth printing as a result.
        return Err(error);
    }
    let latency = LatencySummary::of(windows.total_histogram());
    let records = windows.total_records();
    let bytes = windows.total_bytes();
    let errors = windows.total_errors();
    let line = total_line(records, bytes, elapsed, latency.as_ref());
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
    if let Some(error) = deliveries.first_error() {
        eprintln!("{errors} records failed; the first error: {error}");
    }

    let secs = elapsed.as_secs_f64().max(1e-9);
    let mut figures = vec![
        Figure::rate("records_per_sec", "records/s", records as f64 / secs),
        Figure::rate(
            "mib_per_sec",
            "MiB/s",
            bytes as f64 / secs / (1024.0 * 1024.0),
        ),
        Figure::rate("mb_per_sec", "MB/s", bytes as f64 / secs / 1e6),
    ];
    if let Some(latency) = &latency {
        figures.push(Figure::latency_ms("latency_avg_ms", latency.mean_ms));
        for label in ["p50", "p95", "p99", "p99.9"] {
            figures.push(Figure::latency_ms(
                &format!("latency_{label}_ms"),
                latency.percentile_ms(label).unwrap_or(0.0),
            ));
        }
        figures.push(Figure::latency_ms("latency_max_ms", latency.max_ms));
    }
    Ok(RunReport {
        mode: "produce",
        target: args.bootstrap_server.clone(),
        workload: args.workload(&payloads),
        started_unix_ms,
        elapsed,
        figures,
        windows: windows.closed().to_vec(),
        latency: LatencyReport::of("send to acknowledgement", windows.total_histogram())
            .into_iter()
            .collect(),
        details: json!({
            "records_sent": sent_total,
            "records_acknowledged": records,
            "records_failed": errors,
            "first_error": deliveries.first_error(),
            "final_line": line.to_string(),
        }),
        interrupted: stop.is_set(),
    })
}
