//! `sluice consume`: kafka-console-consumer.sh. Prints records as Kafka's
//! `DefaultMessageFormatter` does: optional timestamp, partition, offset,
//! headers and key, then the value, separated by `key.separator` (tab).
//!
//! With `--group` the consumer subscribes (the broker's coordinator assigns
//! partitions) and commits the offset after each printed record when it
//! stops; without one it reads every partition itself and commits nothing.
//! `--partition` reads one partition from `--offset`. It stops at
//! `--max-messages`, after `--timeout-ms` without a record, or on Ctrl-C /
//! SIGTERM, commits (with a group) and prints `Processed a total of N
//! messages` to stderr, as Kafka's tool does.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, Headers, Message, Timestamp};
use rdkafka::{Offset, TopicPartitionList};

use super::common::Connection;
use super::deserialize::Deserializer;
use super::properties::{parse_pairs, read_properties_file};
use super::CliError;

/// How long one poll waits, so Ctrl-C and `--timeout-ms` are noticed soon.
const POLL_INTERVAL: Duration = Duration::from_millis(100);

#[derive(clap::Args, Debug)]
pub struct ConsumeArgs {
    #[command(flatten)]
    pub connection: Connection,
    /// The topic to read.
    #[arg(long)]
    pub topic: String,
    /// Start at the earliest record when there is no committed offset.
    #[arg(long = "from-beginning")]
    pub from_beginning: bool,
    /// The consumer group (subscribe and commit).
    #[arg(long)]
    pub group: Option<String>,
    /// Read only this partition.
    #[arg(long)]
    pub partition: Option<i32>,
    /// With --partition: earliest, latest or an offset.
    #[arg(long)]
    pub offset: Option<String>,
    /// Stop after this many records.
    #[arg(long = "max-messages")]
    pub max_messages: Option<u64>,
    /// Stop when no record arrived for this long (ms).
    #[arg(long = "timeout-ms")]
    pub timeout_ms: Option<u64>,
    /// read_uncommitted (default) or read_committed.
    #[arg(long = "isolation-level", default_value = "read_uncommitted")]
    pub isolation_level: String,
    /// Output formatting, KEY=VALUE (repeatable): print.key, print.value,
    /// print.timestamp, print.partition, print.offset, print.headers,
    /// key.separator, line.separator, headers.separator,
    /// headers.key.separator, null.literal, key.deserializer,
    /// value.deserializer.
    #[arg(long = "property", value_name = "KEY=VALUE")]
    pub property: Vec<String>,
    /// How keys are printed: string (default), bytes, long, int, short,
    /// double, float, or Kafka's class name.
    #[arg(long = "key-deserializer")]
    pub key_deserializer: Option<String>,
    /// How values are printed (as --key-deserializer).
    #[arg(long = "value-deserializer")]
    pub value_deserializer: Option<String>,
    /// A consumer setting, KEY=VALUE (repeatable; librdkafka's names).
    #[arg(long = "consumer-property", value_name = "KEY=VALUE")]
    pub consumer_property: Vec<String>,
    /// A file of consumer settings.
    #[arg(long = "consumer.config", value_name = "FILE")]
    pub consumer_config: Option<PathBuf>,
    /// Skip records that do not deserialize instead of stopping.
    #[arg(long = "skip-message-on-error")]
    pub skip_message_on_error: bool,
}

/// Kafka's DefaultMessageFormatter settings.
#[derive(Clone, Debug)]
pub struct Formatter {
    pub print_timestamp: bool,
    pub print_partition: bool,
    pub print_offset: bool,
    pub print_headers: bool,
    pub print_key: bool,
    pub print_value: bool,
    pub key_separator: Vec<u8>,
    pub line_separator: Vec<u8>,
    pub headers_separator: Vec<u8>,
    pub headers_key_separator: Vec<u8>,
    pub null_literal: Vec<u8>,
    pub key: Deserializer,
    pub value: Deserializer,
}

impl Formatter {
    pub fn from_properties(
        properties: &BTreeMap<String, String>,
        key: Option<&str>,
        value: Option<&str>,
    ) -> Result<Formatter, CliError> {
        let flag = |name: &str, default: bool| -> Result<bool, CliError> {
            match properties.get(name).map(|v| v.trim().to_ascii_lowercase()) {
                None => Ok(default),
                Some(v) if v == "true" => Ok(true),
                Some(v) if v == "false" => Ok(false),
                Some(v) => Err(CliError::Usage(format!(
                    "{name} must be true or false, got {v:?}"
                ))),
            }
        };
        let text = |name: &str, default: &str| -> Vec<u8> {
            properties
                .get(name)
                .cloned()
                .unwrap_or_else(|| default.to_string())
                .into_bytes()
        };
        let deserializer = |flag: Option<&str>, property: &str| -> Result<Deserializer, CliError> {
            match flag.or(properties.get(property).map(String::as_str)) {
                Some(name) => Deserializer::parse(name),
                None => Ok(Deserializer::String),
            }
        };
        Ok(Formatter {
            print_timestamp: flag("print.timestamp", false)?,
            print_partition: flag("print.partition", false)?,
            print_offset: flag("print.offset", false)?,
            print_headers: flag("print.headers", false)?,
            print_key: flag("print.key", false)?,
            print_value: flag("print.value", true)?,
            key_separator: text("key.separator", "\t"),
            line_separator: text("line.separator", "\n"),
            headers_separator: text("headers.separator", ","),
            headers_key_separator: text("headers.key.separator", ":"),
            null_literal: text("null.literal", "null"),
            key: deserializer(key, "key.deserializer")?,
            value: deserializer(value, "value.deserializer")?,
        })
    }

    /// One record as Kafka prints it.
    pub fn format(&self, record: &RecordView<'_>) -> Result<Vec<u8>, String> {
        let mut out = Vec::with_capacity(64 + record.value.map_or(0, <[u8]>::len));
        let columns = [
            self.print_timestamp,
            self.print_partition,
            self.print_offset,
            self.print_headers,
            self.print_key,
            self.print_value,
        ];
        // A separator follows a column when any later column is printed.
        let more_after = |column: usize| columns[column + 1..].iter().any(|c| *c);
        let separate = |out: &mut Vec<u8>, column: usize| {
            if more_after(column) {
                out.extend_from_slice(&self.key_separator);
            }
        };
        if self.print_timestamp {
            match record.timestamp {
                Timestamp::CreateTime(t) => {
                    out.extend_from_slice(format!("CreateTime:{t}").as_bytes())
                }
                Timestamp::LogAppendTime(t) => {
                    out.extend_from_slice(format!("LogAppendTime:{t}").as_bytes())
                }
                Timestamp::NotAvailable => out.extend_from_slice(b"NO_TIMESTAMP"),
            }
            separate(&mut out, 0);
        }
        if self.print_partition {
            out.extend_from_slice(format!("Partition:{}", record.partition).as_bytes());
            separate(&mut out, 1);
        }
        if self.print_offset {
            out.extend_from_slice(format!("Offset:{}", record.offset).as_bytes());
            separate(&mut out, 2);
        }
        if self.print_headers {
            if record.headers.is_empty() {
                out.extend_from_slice(b"NO_HEADERS");
            }
            for (i, (key, value)) in record.headers.iter().enumerate() {
                if i > 0 {
                    out.extend_from_slice(&self.headers_separator);
                }
                out.extend_from_slice(key.as_bytes());
                out.extend_from_slice(&self.headers_key_separator);
                match value {
                    Some(value) => out.extend_from_slice(value),
                    None => out.extend_from_slice(&self.null_literal),
                }
            }
            separate(&mut out, 3);
        }
        if self.print_key {
            match record.key {
                Some(key) => out.extend(self.key.render(key)?),
                None => out.extend_from_slice(&self.null_literal),
            }
            separate(&mut out, 4);
        }
        if self.print_value {
            match record.value {
                Some(value) => out.extend(self.value.render(value)?),
                None => out.extend_from_slice(&self.null_literal),
            }
        }
        out.extend_from_slice(&self.line_separator);
        Ok(out)
    }
}

/// The parts of a record the formatter prints.
pub struct RecordView<'a> {
    pub timestamp: Timestamp,
    pub partition: i32,
    pub offset: i64,
    pub headers: Vec<(&'a str, Option<&'a [u8]>)>,
    pub key: Option<&'a [u8]>,
    pub value: Option<&'a [u8]>,
}

impl<'a> RecordView<'a> {
    fn of(message: &'a BorrowedMessage<'a>) -> RecordView<'a> {
        let headers = message
            .headers()
            .map(|h| h.iter().map(|h| (h.key, h.value)).collect())
            .unwrap_or_default();
        RecordView {
            timestamp: message.timestamp(),
            partition: message.partition(),
            offset: message.offset(),
            headers,
            key: message.key(),
            value: message.payload(),
        }
    }
}

/// Where a `--partition` read starts.
fn start_offset(args: &ConsumeArgs) -> Result<Offset, CliError> {
    match args.offset.as_deref().map(str::trim) {
        None if args.from_beginning => Ok(Offset::Beginning),
        None | Some("latest") => Ok(Offset::End),
        Some("earliest") => Ok(Offset::Beginning),
        Some(number) => match number.parse::<i64>() {
            Ok(offset) if offset >= 0 => Ok(Offset::Offset(offset)),
            _ => Err(CliError::Usage(format!(
                "--offset must be earliest, latest or a non-negative offset, got {number:?}"
            ))),
        },
    }
}

pub fn run(mut args: ConsumeArgs) -> Result<(), CliError> {
    args.connection.resolve()?;
    if args.offset.is_some() && args.partition.is_none() {
        return Err(CliError::Usage(
            "The partition is required when offset is specified.".into(),
        ));
    }
    if args.offset.is_some() && args.from_beginning {
        return Err(CliError::Usage(
            "Options from-beginning and offset cannot be specified together.".into(),
        ));
    }
    if !matches!(
        args.isolation_level.as_str(),
        "read_uncommitted" | "read_committed"
    ) {
        return Err(CliError::Usage(format!(
            "--isolation-level must be read_uncommitted or read_committed, got {:?}",
            args.isolation_level
        )));
    }
    let formatter = Formatter::from_properties(
        &parse_pairs("--property", &args.property)?,
        args.key_deserializer.as_deref(),
        args.value_deserializer.as_deref(),
    )?;
    let start = start_offset(&args)?;

    let mut settings = BTreeMap::new();
    settings.insert("isolation.level".to_string(), args.isolation_level.clone());
    let reset = if args.from_beginning {
        "earliest"
    } else {
        "latest"
    };
    settings.insert("auto.offset.reset".to_string(), reset.to_string());
    if let Some(group) = &args.group {
        settings.insert("group.id".to_string(), group.clone());
        // Offsets are stored only for printed records and committed when
        // the tool stops, so a group's offset is where the output ended.
        settings.insert("enable.auto.commit".to_string(), "true".to_string());
        settings.insert("enable.auto.offset.store".to_string(), "false".to_string());
    } else {
        // librdkafka assigns partitions only in a consumer with a group id;
        // this one never commits, so the group is never written to.
        settings.insert(
            "group.id".to_string(),
            format!("sluice-console-consumer-{}", std::process::id()),
        );
        settings.insert("enable.auto.commit".to_string(), "false".to_string());
    }
    if let Some(path) = &args.consumer_config {
        settings.extend(read_properties_file(path)?);
    }
    settings.extend(parse_pairs("--consumer-property", &args.consumer_property)?);

    args.connection.wire()?;
    let consumer: BaseConsumer = args
        .connection
        .client_config(&settings)?
        .create()
        .map_err(|e| CliError::Failed(format!("creating the consumer: {e}")))?;
    let partitions = topic_partitions(&consumer, &args)?;

    match (args.partition, &args.group) {
        (Some(partition), _) => {
            if !partitions.contains(&partition) {
                return Err(CliError::Failed(format!(
                    "topic {} has no partition {partition} (it has {})",
                    args.topic,
                    partitions.len()
                )));
            }
            let mut assignment = TopicPartitionList::new();
            assignment
                .add_partition_offset(&args.topic, partition, start)
                .map_err(|e| CliError::Failed(e.to_string()))?;
            consumer
                .assign(&assignment)
                .map_err(|e| CliError::Failed(format!("assigning: {e}")))?;
        }
        (None, Some(_)) => consumer
            .subscribe(&[&args.topic])
            .map_err(|e| CliError::Failed(format!("subscribing to {}: {e}", args.topic)))?,
        (None, None) => {
            let mut assignment = TopicPartitionList::new();
            for partition in partitions {
                assignment
                    .add_partition_offset(&args.topic, partition, start)
                    .map_err(|e| CliError::Failed(e.to_string()))?;
            }
            consumer
                .assign(&assignment)
                .map_err(|e| CliError::Failed(format!("assigning: {e}")))?;
        }
    }

    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, stop.clone())
            .map_err(|e| CliError::Failed(format!("installing the signal handler: {e}")))?;
    }
    let outcome = consume(&consumer, &args, &formatter, &stop);
    let processed = match &outcome {
        Ok(n) | Err((n, _)) => *n,
    };
    let commit = if args.group.is_some() && processed > 0 {
        consumer
            .commit_consumer_state(CommitMode::Sync)
            .or_else(|e| match e {
                // Nothing stored since the last automatic commit.
                KafkaError::ConsumerCommit(rdkafka::types::RDKafkaErrorCode::NoOffset) => Ok(()),
                e => Err(e),
            })
            .map_err(|e| CliError::Failed(format!("committing offsets: {e}")))
    } else {
        Ok(())
    };
    drop(consumer);
    eprintln!("Processed a total of {processed} messages");
    outcome.map(|_| ()).map_err(|(_, e)| e)?;
    commit
}

/// The topic's partitions, or an error naming an unknown topic.
fn topic_partitions(consumer: &BaseConsumer, args: &ConsumeArgs) -> Result<Vec<i32>, CliError> {
    let metadata = consumer
        .fetch_metadata(Some(&args.topic), args.connection.timeout())
        .map_err(|e| {
            CliError::Failed(format!(
                "reading metadata of topic {} from {}: {e}",
                args.topic, args.connection.bootstrap_server
            ))
        })?;
    let topic = metadata
        .topics()
        .iter()
        .find(|t| t.name() == args.topic)
        .ok_or_else(|| CliError::Failed(format!("Topic '{}' does not exist", args.topic)))?;
    if let Some(error) = topic.error() {
        let code = rdkafka::types::RDKafkaErrorCode::from(error);
        return Err(CliError::Failed(match code {
            rdkafka::types::RDKafkaErrorCode::UnknownTopicOrPartition => {
                format!("Topic '{}' does not exist", args.topic)
            }
            code => format!("topic {}: {code}", args.topic),
        }));
    }
    Ok(topic.partitions().iter().map(|p| p.id()).collect())
}

/// The poll loop; the count of printed records, with the error that
/// stopped it early if one did.
fn consume(
    consumer: &BaseConsumer,
    args: &ConsumeArgs,
    formatter: &Formatter,
    stop: &AtomicBool,
) -> Result<u64, (u64, CliError)> {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut processed = 0u64;
    let mut last_record = Instant::now();
    let idle = args.timeout_ms.map(Duration::from_millis);
    while !stop.load(Ordering::Relaxed) {
        if args.max_messages.is_some_and(|max| processed >= max) {
            break;
        }
        match consumer.poll(POLL_INTERVAL) {
            None => {
                let _ = out.flush();
                if idle.is_some_and(|idle| last_record.elapsed() >= idle) {
                    break;
                }
            }
            Some(Err(error)) => {
                let fatal = matches!(
                    error.rdkafka_error_code(),
                    Some(
                        rdkafka::types::RDKafkaErrorCode::TopicAuthorizationFailed
                            | rdkafka::types::RDKafkaErrorCode::GroupAuthorizationFailed
                            | rdkafka::types::RDKafkaErrorCode::UnknownTopicOrPartition
                            | rdkafka::types::RDKafkaErrorCode::Fatal
                    )
                );
                if fatal {
                    let _ = out.flush();
                    return Err((
                        processed,
                        CliError::Failed(format!("consuming {}: {error}", args.topic)),
                    ));
                }
                tracing::debug!(%error, "consumer error");
            }
            Some(Ok(message)) => {
                last_record = Instant::now();
                match formatter.format(&RecordView::of(&message)) {
                    Ok(bytes) => {
                        if let Err(error) = out.write_all(&bytes) {
                            // A closed pipe (`| head`) ends the tool quietly.
                            if error.kind() == std::io::ErrorKind::BrokenPipe {
                                break;
                            }
                            return Err((processed, CliError::Failed(format!("writing: {error}"))));
                        }
                    }
                    Err(reason) if args.skip_message_on_error => {
                        eprintln!(
                            "skipped the record at partition {} offset {}: {reason}",
                            message.partition(),
                            message.offset()
                        );
                    }
                    Err(reason) => {
                        let _ = out.flush();
                        return Err((
                            processed,
                            CliError::Failed(format!(
                                "Error processing message, terminating consumer process: record at partition {} offset {}: {reason}",
                                message.partition(),
                                message.offset()
                            )),
                        ));
                    }
                }
                processed += 1;
                if args.group.is_some() {
                    if let Err(error) = consumer.store_offset_from_message(&message) {
                        tracing::debug!(%error, "storing an offset");
                    }
                }
            }
        }
    }
    let _ = out.flush();
    Ok(processed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn formatter(pairs: &[(&str, &str)]) -> Formatter {
        let map = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Formatter::from_properties(&map, None, None).unwrap()
    }

    fn record<'a>(key: Option<&'a [u8]>, value: Option<&'a [u8]>) -> RecordView<'a> {
        RecordView {
            timestamp: Timestamp::CreateTime(5),
            partition: 2,
            offset: 7,
            headers: vec![("h", Some(b"v".as_slice()))],
            key,
            value,
        }
    }

    #[test]
    fn values_alone_by_default() {
        let line = formatter(&[])
            .format(&record(Some(b"k"), Some(b"v")))
            .unwrap();
        assert_eq!(line, b"v\n");
    }

    #[test]
    fn columns_in_kafkas_order() {
        let f = formatter(&[
            ("print.key", "true"),
            ("print.timestamp", "true"),
            ("print.partition", "true"),
            ("print.offset", "true"),
            ("print.headers", "true"),
            ("key.separator", "|"),
        ]);
        let line = f.format(&record(None, Some(b"x"))).unwrap();
        assert_eq!(
            String::from_utf8(line).unwrap(),
            "CreateTime:5|Partition:2|Offset:7|h:v|null|x\n"
        );
        let keys_only = formatter(&[("print.key", "true"), ("print.value", "false")]);
        assert_eq!(keys_only.format(&record(Some(b"k"), None)).unwrap(), b"k\n");
    }

    #[test]
    fn longs_print_as_numbers() {
        let f = Formatter::from_properties(
            &BTreeMap::new(),
            None,
            Some("org.apache.kafka.common.serialization.LongDeserializer"),
        )
        .unwrap();
        let bytes = 3i64.to_be_bytes();
        assert_eq!(f.format(&record(None, Some(&bytes))).unwrap(), b"3\n");
    }
}
