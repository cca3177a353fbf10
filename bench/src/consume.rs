//! `sluice perf consume`: kafka-consumer-perf-test with librdkafka. Without
//! `--group` the consumer assigns itself every partition of the topic from
//! the beginning (no coordinator involved); with one it subscribes and the
//! time to the first assignment is the rebalance time. Prints Kafka's CSV
//! header and result line.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance};
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use serde_json::json;

use crate::client::{
    assign_only_group_id, client_config, parse_props, partitions_of, METADATA_TIMEOUT,
};
use crate::duration::parse_duration;
use crate::error::{BenchError, Result};
use crate::format::{ConsumerLine, CONSUMER_HEADER};
use crate::progress::Progress;
use crate::report::{unix_ms_now, Figure, RunReport};
use crate::sender::lock;
use crate::stop::StopFlag;
use crate::windows::Windows;

pub const CONSUME_WINDOW: Duration = Duration::from_secs(5);
const POLL_TIMEOUT: Duration = Duration::from_millis(100);

#[derive(Debug, Clone, clap::Args)]
pub struct ConsumeArgs {
    #[arg(long, default_value = "localhost:9092")]
    pub bootstrap_server: String,
    #[arg(long)]
    pub topic: String,
    /// Records to consume; default: what the topic holds when the run starts.
    #[arg(long)]
    pub messages: Option<u64>,
    /// Consume in this group (subscribe); without: assign all partitions.
    #[arg(long)]
    pub group: Option<String>,
    /// Stop when no record came for this many milliseconds.
    #[arg(long, default_value_t = 10_000)]
    pub timeout: u64,
    /// Stop after this long ("30s").
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Bytes per partition per fetch (max.partition.fetch.bytes).
    #[arg(long, default_value_t = 1024 * 1024)]
    pub fetch_size: u64,
    /// librdkafka/Kafka consumer properties: fetch.min.bytes=1 ...
    #[arg(long, num_args = 1.., value_name = "KEY=VALUE")]
    pub consumer_props: Vec<String>,
    /// Do not print the CSV header.
    #[arg(long)]
    pub hide_header: bool,
}

/// Records when the group first assigned partitions to us.
struct RebalanceClock {
    first_assignment: Mutex<Option<Instant>>,
}

struct ConsumeContext(Arc<RebalanceClock>);

impl ClientContext for ConsumeContext {}

impl ConsumerContext for ConsumeContext {
    fn post_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(list) = rebalance {
            if list.count() > 0 {
                lock(&self.0.first_assignment).get_or_insert_with(Instant::now);
            }
        }
    }
}

/// Records between the low and high watermarks of every partition now.
fn records_available(
    consumer: &BaseConsumer<ConsumeContext>,
    topic: &str,
    partitions: &[i32],
) -> Result<u64> {
    let mut total = 0u64;
    for &partition in partitions {
        let (low, high) = consumer
            .fetch_watermarks(topic, partition, METADATA_TIMEOUT)
            .map_err(BenchError::kafka(format!(
                "cannot read the offsets of {topic}-{partition}"
            )))?;
        total += high.saturating_sub(low).max(0) as u64;
    }
    Ok(total)
}

pub fn run(args: &ConsumeArgs, stop: &StopFlag, out: &mut dyn Write) -> Result<RunReport> {
    let props = parse_props(&args.consumer_props)?;
    let fetch_size = args.fetch_size.to_string();
    let mut defaults = vec![
        ("enable.auto.commit", "false"),
        ("auto.offset.reset", "earliest"),
        ("enable.partition.eof", "false"),
        ("max.partition.fetch.bytes", fetch_size.as_str()),
    ];
    let assign_group = assign_only_group_id();
    defaults.push(("group.id", args.group.as_deref().unwrap_or(&assign_group)));
    if args.group.is_none() {
        defaults.push(("enable.auto.offset.store", "false"));
    }
    let config = client_config(&args.bootstrap_server, &defaults, &props);
    let clock = Arc::new(RebalanceClock {
        first_assignment: Mutex::new(None),
    });
    let consumer: BaseConsumer<ConsumeContext> = config
        .create_with_context(ConsumeContext(Arc::clone(&clock)))
        .map_err(BenchError::kafka("cannot create the consumer"))?;
    let partitions = partitions_of(&consumer, &args.topic)?;
    let target = match args.messages {
        Some(n) => n,
        None => records_available(&consumer, &args.topic, &partitions)?,
    };
    if target == 0 {
        return Err(BenchError::Usage(format!(
            "topic {} is empty: produce to it first (or give --messages)",
            args.topic
        )));
    }

    if !args.hide_header {
        let _ = writeln!(out, "{CONSUMER_HEADER}");
    }
    let started_unix_ms = unix_ms_now();
    let start = Instant::now();
    match &args.group {
        Some(_) => consumer
            .subscribe(&[args.topic.as_str()])
            .map_err(BenchError::kafka(format!(
                "cannot subscribe to {}",
                args.topic
            )))?,
        None => {
            let mut assignment = TopicPartitionList::new();
            for &partition in &partitions {
                assignment
                    .add_partition_offset(&args.topic, partition, Offset::Beginning)
                    .map_err(BenchError::kafka("cannot build the assignment"))?;
            }
            consumer
                .assign(&assignment)
                .map_err(BenchError::kafka(format!("cannot assign {}", args.topic)))?;
        }
    }

    let mut windows = Windows::new(start, CONSUME_WINDOW);
    let progress = Progress::new("consume", start);
    let mut last_record = Instant::now();
    let mut first_error: Option<String> = None;
    let timeout = Duration::from_millis(args.timeout);
    let mut timed_out = false;
    while windows.total_records() < target && !stop.is_set() {
        let now = Instant::now();
        if args
            .duration
            .is_some_and(|d| now.duration_since(start) >= d)
        {
            break;
        }
        if now.duration_since(last_record) > timeout {
            timed_out = true;
            break;
        }
        match consumer.poll(POLL_TIMEOUT) {
            Some(Ok(message)) => {
                windows.record_many(1, (message.key_len() + message.payload_len()) as u64);
                last_record = Instant::now();
            }
            Some(Err(error)) => {
                first_error.get_or_insert_with(|| error.to_string());
            }
            None => {}
        }
        let now = Instant::now();
        if windows.window_due(now) {
            let window = windows.close_window(now);
            progress.print(&format!(
                "{} of {target} records, {:.1} MiB/s in the last window",
                windows.total_records(),
                window.mib_per_sec()
            ));
        }
    }
    // Kafka's end is when the loop ends: the last record when all came,
    // otherwise now (after the timeout, the duration or Ctrl-C).
    let end = if windows.total_records() >= target {
        last_record.max(start)
    } else {
        Instant::now()
    };
    let end_unix_ms = started_unix_ms + end.duration_since(start).as_millis() as u64;
    windows.finish(end);
    let elapsed = end.duration_since(start);
    let rebalance_ms = match &args.group {
        Some(_) => lock(&clock.first_assignment).map_or(0, |at| {
            at.saturating_duration_since(start).as_millis() as u64
        }),
        None => 0,
    };
    if timed_out {
        let _ = writeln!(
            out,
            "WARNING: Exiting before consuming the expected number of messages: timeout ({} ms) exceeded. \
             You can use the --timeout option to increase the timeout.",
            args.timeout
        );
    }
    if let Some(error) = &first_error {
        eprintln!("consumer error (the first one): {error}");
    }
    let line = ConsumerLine {
        start_ms: started_unix_ms,
        end_ms: end_unix_ms,
        bytes: windows.total_bytes(),
        records: windows.total_records(),
        rebalance_ms,
    };
    let _ = writeln!(out, "{line}");
    let _ = out.flush();

    let secs = elapsed.as_secs_f64().max(1e-9);
    let fetch_secs = (secs - rebalance_ms as f64 / 1000.0).max(1e-9);
    let bytes = windows.total_bytes() as f64;
    let records = windows.total_records() as f64;
    Ok(RunReport {
        mode: "consume",
        target: args.bootstrap_server.clone(),
        workload: json!({
            "topic": args.topic,
            "messages": target,
            "group": args.group,
            "partitions": partitions,
            "fetch_size": args.fetch_size,
            "consumer_props": args.consumer_props,
            "timeout_ms": args.timeout,
            "duration_s": args.duration.map(|d| d.as_secs_f64()),
            "client": format!("librdkafka {}", rdkafka::util::get_rdkafka_version().1),
        }),
        started_unix_ms,
        elapsed,
        figures: vec![
            Figure::rate("mib_per_sec", "MiB/s", bytes / secs / (1024.0 * 1024.0)),
            Figure::rate("mb_per_sec", "MB/s", bytes / secs / 1e6),
            Figure::rate("records_per_sec", "records/s", records / secs),
            Figure::rate(
                "fetch_mib_per_sec",
                "MiB/s",
                bytes / fetch_secs / (1024.0 * 1024.0),
            ),
            Figure::latency_ms("rebalance_ms", rebalance_ms as f64),
        ],
        windows: windows.closed().to_vec(),
        latency: Vec::new(),
        details: json!({
            "records": windows.total_records(),
            "bytes": windows.total_bytes(),
            "timed_out": timed_out,
            "first_error": first_error,
            "csv_line": line.to_string(),
        }),
        interrupted: stop.is_set(),
    })
}
