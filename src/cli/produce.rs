//! `sluice produce`: kafka-console-producer.sh. One record per line of
//! stdin (or `--file`), parsed as Kafka's `LineMessageReader` parses it:
//!
//! ```text
//! [headers <headers.delimiter>] [key <key.separator>] value
//! headers: k1<headers.key.separator>v1<headers.separator>k2...
//! ```
//!
//! with `parse.key` and `parse.headers` off by default, Kafka's default
//! separators (tab, tab, `:`, `,`), `null.marker` for null keys, values and
//! header values, and `ignore.error` to take a line without a separator as
//! a value. `--sync` waits for each record's acknowledgement before the
//! next. The tool exits 1 if any record was not delivered.

use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::ClientContext;

use super::common::Connection;
use super::properties::{parse_pairs, read_properties_file};
use super::CliError;

#[derive(clap::Args, Debug)]
pub struct ProduceArgs {
    #[command(flatten)]
    pub connection: Connection,
    /// The topic to produce to.
    #[arg(long)]
    pub topic: String,
    /// Read records from this file instead of stdin.
    #[arg(long)]
    pub file: Option<PathBuf>,
    /// Line parsing, KEY=VALUE (repeatable): parse.key, key.separator,
    /// parse.headers, headers.delimiter, headers.separator,
    /// headers.key.separator, null.marker, ignore.error.
    #[arg(long = "property", value_name = "KEY=VALUE")]
    pub property: Vec<String>,
    /// acks: 0, 1 or -1/all (Kafka's default -1).
    #[arg(long = "request-required-acks", default_value = "-1")]
    pub request_required_acks: String,
    /// none, gzip, snappy, lz4 or zstd; the flag alone means gzip.
    #[arg(long = "compression-codec", num_args = 0..=1, default_missing_value = "gzip")]
    pub compression_codec: Option<String>,
    /// Wait for each record to be acknowledged before sending the next.
    #[arg(long)]
    pub sync: bool,
    /// How long a record may wait to fill a batch, in ms (linger.ms).
    #[arg(long = "timeout", default_value_t = 1000)]
    pub linger_ms: u64,
    /// Records per batch before it is sent (batch.num.messages).
    #[arg(long = "batch-size")]
    pub batch_size: Option<u64>,
    /// Retries of a failed send.
    #[arg(long = "message-send-max-retries")]
    pub message_send_max_retries: Option<u64>,
    /// A producer setting, KEY=VALUE (repeatable; librdkafka's names).
    #[arg(long = "producer-property", value_name = "KEY=VALUE")]
    pub producer_property: Vec<String>,
    /// A file of producer settings.
    #[arg(long = "producer.config", value_name = "FILE")]
    pub producer_config: Option<PathBuf>,
}

/// How lines become records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineFormat {
    pub parse_key: bool,
    pub key_separator: String,
    pub parse_headers: bool,
    pub headers_delimiter: String,
    pub headers_separator: String,
    pub headers_key_separator: String,
    pub null_marker: Option<String>,
    pub ignore_error: bool,
}

impl LineFormat {
    pub fn from_properties(properties: &BTreeMap<String, String>) -> Result<Self, CliError> {
        let flag = |name: &str| -> Result<bool, CliError> {
            match properties.get(name).map(|v| v.trim().to_ascii_lowercase()) {
                None => Ok(false),
                Some(v) if v == "true" => Ok(true),
                Some(v) if v == "false" => Ok(false),
                Some(v) => Err(CliError::Usage(format!(
                    "{name} must be true or false, got {v:?}"
                ))),
            }
        };
        let text = |name: &str, default: &str| -> Result<String, CliError> {
            let value = properties
                .get(name)
                .cloned()
                .unwrap_or_else(|| default.to_string());
            if value.is_empty() {
                return Err(CliError::Usage(format!("{name} must not be empty")));
            }
            Ok(value)
        };
        let format = LineFormat {
            parse_key: flag("parse.key")?,
            key_separator: text("key.separator", "\t")?,
            parse_headers: flag("parse.headers")?,
            headers_delimiter: text("headers.delimiter", "\t")?,
            headers_separator: text("headers.separator", ",")?,
            headers_key_separator: text("headers.key.separator", ":")?,
            null_marker: properties.get("null.marker").cloned(),
            ignore_error: flag("ignore.error")?,
        };
        if format.parse_headers && format.headers_delimiter == format.headers_separator {
            return Err(CliError::Usage(
                "headers.delimiter and headers.separator may not be equal".into(),
            ));
        }
        if format.null_marker.as_deref() == Some(format.key_separator.as_str()) {
            return Err(CliError::Usage(
                "null.marker and key.separator may not be equal".into(),
            ));
        }
        Ok(format)
    }

    fn nullable(&self, text: &str) -> Option<String> {
        if self.null_marker.as_deref() == Some(text) {
            None
        } else {
            Some(text.to_string())
        }
    }

    /// One line as a record; `number` (from 1) is for the message.
    pub fn parse(&self, line: &str, number: usize) -> Result<LineRecord, CliError> {
        let mut rest = line;
        let mut headers = Vec::new();
        if self.parse_headers {
            match rest.split_once(self.headers_delimiter.as_str()) {
                Some((head, after)) => {
                    rest = after;
                    for header in head.split(self.headers_separator.as_str()) {
                        let (key, value) =
                            match header.split_once(self.headers_key_separator.as_str()) {
                                Some((key, value)) => (key, self.nullable(value)),
                                None => (header, None),
                            };
                        headers.push((key.to_string(), value));
                    }
                }
                None if self.ignore_error => {}
                None => {
                    return Err(CliError::Failed(format!(
                        "No headers delimiter found on line number {number}: '{line}'"
                    )))
                }
            }
        }
        let mut key = None;
        if self.parse_key {
            match rest.split_once(self.key_separator.as_str()) {
                Some((k, after)) => {
                    key = self.nullable(k);
                    rest = after;
                }
                None if self.ignore_error => {}
                None => {
                    return Err(CliError::Failed(format!(
                        "No key separator found on line number {number}: '{line}'"
                    )))
                }
            }
        }
        Ok(LineRecord {
            headers,
            key,
            value: self.nullable(rest),
        })
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineRecord {
    pub headers: Vec<(String, Option<String>)>,
    pub key: Option<String>,
    pub value: Option<String>,
}

/// Counts acknowledgements and keeps the first failure (callbacks run on
/// the thread that polls, which is this one, but the trait wants `Sync`).
#[derive(Default)]
struct Deliveries {
    delivered: AtomicU64,
    failed: AtomicU64,
    first_error: Mutex<Option<String>>,
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(_) => {
                self.delivered.fetch_add(1, Ordering::Relaxed);
            }
            Err((error, _)) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                if let Ok(mut first) = self.first_error.lock() {
                    first.get_or_insert_with(|| error.to_string());
                }
            }
        }
    }
}

fn acks(value: &str) -> Result<&'static str, CliError> {
    match value.trim() {
        "0" => Ok("0"),
        "1" => Ok("1"),
        "-1" | "all" => Ok("all"),
        other => Err(CliError::Usage(format!(
            "--request-required-acks must be 0, 1, -1 or all, got {other:?}"
        ))),
    }
}

fn codec(value: &str) -> Result<&'static str, CliError> {
    match value.trim() {
        "none" => Ok("none"),
        "gzip" => Ok("gzip"),
        "snappy" => Ok("snappy"),
        "lz4" => Ok("lz4"),
        "zstd" => Ok("zstd"),
        other => Err(CliError::Usage(format!(
            "--compression-codec must be none, gzip, snappy, lz4 or zstd, got {other:?}"
        ))),
    }
}

pub fn run(mut args: ProduceArgs) -> Result<(), CliError> {
    args.connection.resolve()?;
    let format = LineFormat::from_properties(&parse_pairs("--property", &args.property)?)?;
    let mut settings = BTreeMap::new();
    settings.insert(
        "acks".to_string(),
        acks(&args.request_required_acks)?.to_string(),
    );
    let codec = codec(args.compression_codec.as_deref().unwrap_or("none"))?;
    settings.insert("compression.codec".to_string(), codec.to_string());
    let linger = if args.sync { 0 } else { args.linger_ms };
    settings.insert("linger.ms".to_string(), linger.to_string());
    // A record that cannot be delivered fails within the tool's timeout
    // instead of librdkafka's five minutes.
    settings.insert(
        "message.timeout.ms".to_string(),
        args.connection.request_timeout_ms.max(1000).to_string(),
    );
    if let Some(size) = args.batch_size {
        settings.insert("batch.num.messages".to_string(), size.to_string());
    }
    if let Some(retries) = args.message_send_max_retries {
        settings.insert("message.send.max.retries".to_string(), retries.to_string());
    }
    if let Some(path) = &args.producer_config {
        settings.extend(read_properties_file(path)?);
    }
    settings.extend(parse_pairs("--producer-property", &args.producer_property)?);

    args.connection.wire()?;
    let producer: BaseProducer<Deliveries> = args
        .connection
        .client_config(&settings)?
        .create_with_context(Deliveries::default())
        .map_err(|e| CliError::Failed(format!("creating the producer: {e}")))?;

    let input: Box<dyn BufRead> = match &args.file {
        Some(path) => Box::new(std::io::BufReader::new(
            std::fs::File::open(path)
                .map_err(|e| CliError::Failed(format!("opening {}: {e}", path.display())))?,
        )),
        None => Box::new(std::io::stdin().lock()),
    };
    let prompt = args.file.is_none() && std::io::stdin().is_terminal();
    let timeout = args.connection.timeout();
    let mut sent = 0u64;
    let mut failure = None;
    if prompt {
        print_prompt();
    }
    for (index, line) in input.lines().enumerate() {
        let line = line.map_err(|e| CliError::Failed(format!("reading input: {e}")))?;
        let record = match format.parse(&line, index + 1) {
            Ok(record) => record,
            Err(error) => {
                failure = Some(error);
                break;
            }
        };
        send(&producer, &args.topic, &record, timeout)?;
        sent += 1;
        if args.sync {
            flush(&producer, timeout)?;
            if producer.context().failed.load(Ordering::Relaxed) > 0 {
                break;
            }
        } else {
            producer.poll(Duration::ZERO);
        }
        if prompt {
            print_prompt();
        }
    }
    flush(&producer, timeout)?;
    let deliveries = producer.context();
    let failed = deliveries.failed.load(Ordering::Relaxed);
    if failed > 0 {
        let first = deliveries
            .first_error
            .lock()
            .ok()
            .and_then(|e| e.clone())
            .unwrap_or_default();
        return Err(CliError::Failed(format!(
            "{failed} of {sent} records were not delivered to topic {} at {}: {first}",
            args.topic, args.connection.bootstrap_server
        )));
    }
    match failure {
        Some(error) => Err(error),
        None => Ok(()),
    }
}

fn print_prompt() {
    let mut out = std::io::stdout();
    let _ = out.write_all(b">");
    let _ = out.flush();
}

/// Sends one record, waiting while librdkafka's queue is full.
fn send(
    producer: &BaseProducer<Deliveries>,
    topic: &str,
    record: &LineRecord,
    timeout: Duration,
) -> Result<(), CliError> {
    let mut headers = OwnedHeaders::new_with_capacity(record.headers.len());
    for (key, value) in &record.headers {
        headers = headers.insert(Header {
            key: key.as_str(),
            value: value.as_deref(),
        });
    }
    let mut base = BaseRecord::to(topic);
    if let Some(value) = &record.value {
        base = base.payload(value.as_str());
    }
    if let Some(key) = &record.key {
        base = base.key(key.as_str());
    }
    if !record.headers.is_empty() {
        base = base.headers(headers);
    }
    let deadline = Instant::now() + timeout;
    loop {
        match producer.send(base) {
            Ok(()) => return Ok(()),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back))
                if Instant::now() < deadline =>
            {
                producer.poll(Duration::from_millis(100));
                base = back;
            }
            Err((error, _)) => {
                return Err(CliError::Failed(format!(
                    "producing to topic {topic}: {error}"
                )))
            }
        }
    }
}

fn flush(producer: &BaseProducer<Deliveries>, timeout: Duration) -> Result<(), CliError> {
    producer.flush(timeout).map_err(|e| {
        CliError::Failed(format!(
            "records not acknowledged within {} ms: {e}",
            timeout.as_millis()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn format(pairs: &[(&str, &str)]) -> LineFormat {
        let map = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        LineFormat::from_properties(&map).unwrap()
    }

    #[test]
    fn plain_lines_are_values() {
        let record = format(&[]).parse("a\tb:c", 1).unwrap();
        assert_eq!(record.key, None);
        assert_eq!(record.value.as_deref(), Some("a\tb:c"));
    }

    #[test]
    fn keys_split_at_the_first_separator() {
        let f = format(&[("parse.key", "true"), ("key.separator", ":")]);
        let record = f.parse("k:v:w", 1).unwrap();
        assert_eq!(record.key.as_deref(), Some("k"));
        assert_eq!(record.value.as_deref(), Some("v:w"));
        let error = f.parse("novalue", 7).unwrap_err().to_string();
        assert_eq!(error, "No key separator found on line number 7: 'novalue'");
        let lenient = format(&[("parse.key", "true"), ("ignore.error", "true")]);
        assert_eq!(lenient.parse("x", 1).unwrap().value.as_deref(), Some("x"));
    }

    #[test]
    fn headers_keys_and_null_markers() {
        let f = format(&[
            ("parse.key", "true"),
            ("parse.headers", "true"),
            ("null.marker", "NULL"),
        ]);
        let record = f.parse("h1:v1,h2,h3:NULL\tNULL\tvalue", 1).unwrap();
        assert_eq!(
            record.headers,
            [
                ("h1".to_string(), Some("v1".to_string())),
                ("h2".to_string(), None),
                ("h3".to_string(), None)
            ]
        );
        assert_eq!(record.key, None);
        assert_eq!(record.value.as_deref(), Some("value"));
    }
}
