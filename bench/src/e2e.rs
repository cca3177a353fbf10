//! `sluice perf e2e`: end-to-end latency at a fixed rate, from the time a
//! record was meant to be sent to the time the consumer has it.
//!
//! One producer thread follows a [`RateSchedule`]; each value starts with
//! two little-endian u64s, the intended and the actual send time in
//! nanoseconds since the run's start (producer and consumer share the
//! process clock). The consumer, assigned every partition at its end offset
//! before the first send, records `receipt - intended` (corrected for
//! coordinated omission: a stall delays every record scheduled during it)
//! and, apart, `receipt - actual`. Windows of 10 s and an aggregate, in the
//! style of the OpenMessaging Benchmark.

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use serde_json::json;

use crate::client::{
    assign_only_group_id, client_config, ensure_topic, parse_props, partitions_of, METADATA_TIMEOUT,
};
use crate::duration::parse_duration;
use crate::error::{BenchError, Result};
use crate::payload::Payloads;
use crate::progress::Progress;
use crate::rate::RateSchedule;
use crate::report::json::latency_summary_json;
use crate::report::{unix_ms_now, Figure, LatencyReport, RunReport};
use crate::sender::{create_sender, flush, lock, send, Deliveries};
use crate::stop::StopFlag;
use crate::windows::{latency_histogram, LatencySummary, WindowSnapshot, Windows, PERCENTILES};

/// The OpenMessaging Benchmark reports every 10 s.
pub const E2E_WINDOW: Duration = Duration::from_secs(10);
/// Intended and actual send time at the start of every value.
const TIMESTAMP_BYTES: usize = 16;
/// After the last send, how long the consumer may take to see the rest.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);
const POLL_TIMEOUT: Duration = Duration::from_millis(100);
const TICK: Duration = Duration::from_millis(50);
const FLUSH_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, clap::Args)]
pub struct E2eArgs {
    #[arg(long, default_value = "localhost:9092")]
    pub bootstrap_server: String,
    #[arg(long)]
    pub topic: String,
    /// Records/s the producer sends at (fixed; the schedule is absolute).
    #[arg(long)]
    pub throughput: f64,
    /// Send for this long ("60s"); default 30 s unless --num-records.
    #[arg(long, value_parser = parse_duration, conflicts_with = "num_records")]
    pub duration: Option<Duration>,
    #[arg(long)]
    pub num_records: Option<u64>,
    /// Bytes per record value (at least 16: the two timestamps).
    #[arg(long, default_value_t = 1024)]
    pub record_size: usize,
    /// Create the topic with this many partitions if it does not exist.
    #[arg(long)]
    pub partitions: Option<i32>,
    /// Producer properties; the default linger.ms=1 is OMB's.
    #[arg(long, num_args = 1.., value_name = "KEY=VALUE")]
    pub producer_props: Vec<String>,
    #[arg(long, num_args = 1.., value_name = "KEY=VALUE")]
    pub consumer_props: Vec<String>,
}

const DEFAULT_DURATION: Duration = Duration::from_secs(30);

/// The intended and actual send times carried in a value.
fn stamp(value: &mut [u8], intended_ns: u64, actual_ns: u64) {
    value[..8].copy_from_slice(&intended_ns.to_le_bytes());
    value[8..16].copy_from_slice(&actual_ns.to_le_bytes());
}

fn read_stamp(value: &[u8]) -> Option<(u64, u64)> {
    let intended = u64::from_le_bytes(value.get(..8)?.try_into().ok()?);
    let actual = u64::from_le_bytes(value.get(8..16)?.try_into().ok()?);
    Some((intended, actual))
}

fn latency_text(summary: Option<&LatencySummary>, all_percentiles: bool) -> String {
    let Some(summary) = summary else {
        return "no records".into();
    };
    let mut text = format!("avg: {:7.3}", summary.mean_ms);
    for (label, value) in PERCENTILES
        .iter()
        .map(|(l, _)| *l)
        .zip(summary.percentiles_ms)
    {
        if all_percentiles || matches!(label, "p50" | "p99" | "p99.9") {
            text += &format!(" - {}%: {value:7.3}", &label[1..]);
        }
    }
    text + &format!(" - Max: {:7.3}", summary.max_ms)
}

fn window_line(
    elapsed_s: f64,
    publish: &WindowSnapshot,
    received: &WindowSnapshot,
    backlog: u64,
) -> String {
    let secs = publish.elapsed.as_secs_f64().max(1e-9);
    format!(
        "E2E {elapsed_s:6.1}s | Pub rate {:9.1} msg/s / {:6.1} MB/s | Pub err {:5.1} err/s | \
         Cons rate {:9.1} msg/s / {:6.1} MB/s | Backlog: {:6.1} K | Pub Latency (ms) {} | E2E Latency (ms) {}",
        publish.records_per_sec(),
        publish.mib_per_sec(),
        publish.errors as f64 / secs,
        received.records_per_sec(),
        received.mib_per_sec(),
        backlog as f64 / 1000.0,
        latency_text(publish.latency.as_ref(), false),
        latency_text(received.latency.as_ref(), true),
    )
}

/// What the consumer thread hands back.
struct Received {
    uncorrected: Histogram<u64>,
    malformed: u64,
    first_error: Option<String>,
}

pub fn run(args: &E2eArgs, stop: &StopFlag, out: &mut dyn Write) -> Result<RunReport> {
    if args.throughput <= 0.0 {
        return Err(BenchError::Usage(
            "e2e needs a fixed --throughput > 0 (records/s)".into(),
        ));
    }
    if args.record_size < TIMESTAMP_BYTES {
        return Err(BenchError::Usage(format!(
            "--record-size must be at least {TIMESTAMP_BYTES} (the timestamps)"
        )));
    }
    let producer_props = parse_props(&args.producer_props)?;
    let consumer_props = parse_props(&args.consumer_props)?;
    if let Some(partitions) = args.partitions {
        ensure_topic(&args.bootstrap_server, &args.topic, partitions)?;
    }
    let group_id = assign_only_group_id();
    let consumer: BaseConsumer = client_config(
        &args.bootstrap_server,
        &[
            ("group.id", group_id.as_str()),
            ("enable.auto.commit", "false"),
            ("enable.auto.offset.store", "false"),
            ("enable.partition.eof", "false"),
        ],
        &consumer_props,
    )
    .create()
    .map_err(BenchError::kafka("cannot create the consumer"))?;
    let partitions = partitions_of(&consumer, &args.topic)?;
    let mut assignment = TopicPartitionList::new();
    for &partition in &partitions {
        let (_, high) = consumer
            .fetch_watermarks(&args.topic, partition, METADATA_TIMEOUT)
            .map_err(BenchError::kafka(format!(
                "cannot read the end of {}-{partition}",
                args.topic
            )))?;
        assignment
            .add_partition_offset(&args.topic, partition, Offset::Offset(high))
            .map_err(BenchError::kafka("cannot build the assignment"))?;
    }
    consumer
        .assign(&assignment)
        .map_err(BenchError::kafka(format!("cannot assign {}", args.topic)))?;
    let sender_config = client_config(
        &args.bootstrap_server,
        &[("linger.ms", "1")],
        &producer_props,
    );

    let started_unix_ms = unix_ms_now();
    let start = Instant::now();
    let deliveries = Deliveries::new(start, E2E_WINDOW);
    let received_windows = Arc::new(Mutex::new(Windows::new(start, E2E_WINDOW)));
    let sent = Arc::new(AtomicU64::new(0));
    let sending_done = Arc::new(AtomicBool::new(false));

    let consumer_thread = {
        let windows = Arc::clone(&received_windows);
        let sent = Arc::clone(&sent);
        let sending_done = Arc::clone(&sending_done);
        let stop = stop.clone();
        std::thread::Builder::new()
            .name("perf-e2e-consumer".into())
            .spawn(move || {
                let mut uncorrected = latency_histogram();
                let mut received = 0u64;
                let mut malformed = 0u64;
                let mut first_error = None;
                let mut done_at: Option<Instant> = None;
                loop {
                    if sending_done.load(Ordering::Acquire) {
                        let done = *done_at.get_or_insert_with(Instant::now);
                        if received >= sent.load(Ordering::Acquire)
                            || done.elapsed() > DRAIN_TIMEOUT
                            || stop.is_set()
                        {
                            break;
                        }
                    }
                    match consumer.poll(POLL_TIMEOUT) {
                        Some(Ok(message)) => {
                            let now = Instant::now();
                            received += 1;
                            let value = message.payload().unwrap_or(&[]);
                            match read_stamp(value) {
                                Some((intended_ns, actual_ns)) => {
                                    let since = |ns: u64| {
                                        now.saturating_duration_since(
                                            start + Duration::from_nanos(ns),
                                        )
                                        .as_micros() as u64
                                    };
                                    lock(&windows)
                                        .record(value.len() as u64, Some(since(intended_ns)));
                                    uncorrected.saturating_record(since(actual_ns).max(1));
                                }
                                None => malformed += 1,
                            }
                        }
                        Some(Err(error)) => {
                            first_error.get_or_insert_with(|| error.to_string());
                        }
                        None => {}
                    }
                }
                Received {
                    uncorrected,
                    malformed,
                    first_error,
                }
            })
            .map_err(BenchError::io("cannot start the consumer thread", "thread"))?
    };

    let producer_thread = {
        let sender = create_sender(&sender_config, &deliveries)?;
        let deliveries = Arc::clone(&deliveries);
        let sent = Arc::clone(&sent);
        let sending_done = Arc::clone(&sending_done);
        let stop = stop.clone();
        let topic = args.topic.clone();
        let mut value = Payloads::random(args.record_size, 0x5eed)
            .next_value()
            .to_vec();
        let limit = args.num_records;
        let deadline = start + args.duration.unwrap_or(DEFAULT_DURATION);
        let schedule = RateSchedule::new(start, args.throughput);
        std::thread::Builder::new()
            .name("perf-e2e-producer".into())
            .spawn(move || -> Result<()> {
                let mut index = 0u64;
                let result = loop {
                    if limit.is_some_and(|n| index >= n) || stop.is_set() {
                        break Ok(());
                    }
                    let intended = schedule.wait_for(index);
                    if limit.is_none() && intended >= deadline {
                        break Ok(());
                    }
                    let actual = Instant::now();
                    stamp(
                        &mut value,
                        deliveries.opaque(intended) as u64,
                        deliveries.opaque(actual) as u64,
                    );
                    match send(
                        &sender,
                        &topic,
                        None,
                        &value,
                        deliveries.opaque(actual),
                        &stop,
                        limit.is_none().then_some(deadline),
                    ) {
                        Ok(true) => {}
                        Ok(false) => break Ok(()),
                        Err(error) => break Err(error),
                    }
                    index += 1;
                    sent.store(index, Ordering::Release);
                };
                let flushed = flush(&sender, FLUSH_TIMEOUT);
                sending_done.store(true, Ordering::Release);
                result.and(flushed)
            })
            .map_err(BenchError::io("cannot start the producer thread", "thread"))?
    };

    let mut progress = Progress::new("e2e", start);
    while !consumer_thread.is_finished() {
        std::thread::sleep(TICK);
        let now = Instant::now();
        let mut publish = lock(&deliveries.windows);
        if publish.window_due(now) {
            let publish_window = publish.close_window(now);
            drop(publish);
            let received_window = lock(&received_windows).close_window(now);
            let received_total = lock(&received_windows).total_records();
            let backlog = sent.load(Ordering::Acquire).saturating_sub(received_total);
            let elapsed_s = now.duration_since(start).as_secs_f64();
            let _ = writeln!(
                out,
                "{}",
                window_line(elapsed_s, &publish_window, &received_window, backlog)
            );
            let _ = out.flush();
        } else {
            drop(publish);
        }
        progress.tick(|| {
            format!(
                "{} sent, {} received",
                sent.load(Ordering::Acquire),
                lock(&received_windows).total_records()
            )
        });
    }
    let produced = producer_thread
        .join()
        .map_err(|_| BenchError::Usage("the producer thread panicked".into()))?;
    let received = consumer_thread
        .join()
        .map_err(|_| BenchError::Usage("the consumer thread panicked".into()))?;
    produced?;
    let end = Instant::now();
    let elapsed = end.duration_since(start);
    let mut publish = lock(&deliveries.windows);
    let mut receipt = lock(&received_windows);
    publish.finish(end);
    receipt.finish(end);

    let pub_latency = LatencySummary::of(publish.total_histogram());
    let e2e_latency = LatencySummary::of(receipt.total_histogram());
    let uncorrected = LatencySummary::of(&received.uncorrected);
    let _ = writeln!(
        out,
        "----- Aggregated Pub Latency (ms) {}",
        latency_text(pub_latency.as_ref(), true)
    );
    let _ = writeln!(
        out,
        "----- Aggregated E2E Latency (ms) {}",
        latency_text(e2e_latency.as_ref(), true)
    );
    let _ = writeln!(
        out,
        "----- Aggregated E2E Latency from the actual send (not corrected for coordinated omission) (ms) {}",
        latency_text(uncorrected.as_ref(), true)
    );
    let _ = out.flush();
    if let Some(error) = deliveries.first_error().or(received.first_error.clone()) {
        eprintln!("first error: {error}");
    }

    let secs = elapsed.as_secs_f64().max(1e-9);
    let sent_total = sent.load(Ordering::Acquire);
    let mut figures = vec![
        Figure::rate(
            "pub_records_per_sec",
            "records/s",
            publish.total_records() as f64 / secs,
        ),
        Figure::rate(
            "cons_records_per_sec",
            "records/s",
            receipt.total_records() as f64 / secs,
        ),
    ];
    if let Some(latency) = &e2e_latency {
        figures.push(Figure::latency_ms("e2e_avg_ms", latency.mean_ms));
        for (label, value) in PERCENTILES
            .iter()
            .map(|(l, _)| *l)
            .zip(latency.percentiles_ms)
        {
            figures.push(Figure::latency_ms(&format!("e2e_{label}_ms"), value));
        }
        figures.push(Figure::latency_ms("e2e_max_ms", latency.max_ms));
    }
    if let Some(latency) = &pub_latency {
        figures.push(Figure::latency_ms(
            "pub_p99_ms",
            latency.percentile_ms("p99").unwrap_or(0.0),
        ));
    }
    let mut latency = Vec::new();
    latency.extend(LatencyReport::of(
        "end to end (from intended send)",
        receipt.total_histogram(),
    ));
    latency.extend(LatencyReport::of(
        "end to end (from actual send)",
        &received.uncorrected,
    ));
    latency.extend(LatencyReport::of(
        "send to acknowledgement",
        publish.total_histogram(),
    ));
    Ok(RunReport {
        mode: "e2e",
        target: args.bootstrap_server.clone(),
        workload: json!({
            "topic": args.topic,
            "throughput": args.throughput,
            "duration_s": args.num_records.is_none().then(|| args.duration.unwrap_or(DEFAULT_DURATION).as_secs_f64()),
            "num_records": args.num_records,
            "record_size": args.record_size,
            "partitions": partitions,
            "producer_props": args.producer_props,
            "consumer_props": args.consumer_props,
            "client": format!("librdkafka {}", rdkafka::util::get_rdkafka_version().1),
        }),
        started_unix_ms,
        elapsed,
        figures,
        windows: receipt.closed().to_vec(),
        latency,
        details: json!({
            "records_sent": sent_total,
            "records_acknowledged": publish.total_records(),
            "records_failed": publish.total_errors(),
            "records_received": receipt.total_records(),
            "records_malformed": received.malformed,
            "publish_windows": publish.closed().iter().map(|w| json!({
                "start_s": w.start_s,
                "records_per_sec": w.records_per_sec(),
                "latency": w.latency.as_ref().map(latency_summary_json),
            })).collect::<Vec<_>>(),
            "e2e_uncorrected": uncorrected.as_ref().map(latency_summary_json),
            "first_error": deliveries.first_error().or(received.first_error),
        }),
        interrupted: stop.is_set(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stamp_round_trips_and_short_values_have_none() {
        let mut value = vec![0u8; 32];
        stamp(&mut value, 123_456_789, 987_654_321);
        assert_eq!(read_stamp(&value), Some((123_456_789, 987_654_321)));
        assert_eq!(read_stamp(&value[..15]), None);
    }
}
