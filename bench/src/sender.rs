//! The producing side shared by `produce` and `e2e`: a librdkafka
//! `ThreadedProducer` whose delivery callbacks (run on its polling thread)
//! record each acknowledged record's send-to-ack latency in shared windows.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use rdkafka::error::KafkaError;
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientConfig, ClientContext};

use crate::error::{BenchError, Result};
use crate::stop::StopFlag;
use crate::windows::Windows;

/// How long a sender waits for room when librdkafka's queue is full.
const QUEUE_FULL_BACKOFF: Duration = Duration::from_micros(200);

/// A mutex whose holder panicked is still usable for counting.
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What the delivery callbacks of all producers of one run share.
#[derive(Debug)]
pub struct Deliveries {
    /// Send times travel as nanoseconds since this instant.
    pub start: Instant,
    pub windows: Mutex<Windows>,
    first_error: Mutex<Option<String>>,
}

impl Deliveries {
    pub fn new(start: Instant, window: Duration) -> Arc<Deliveries> {
        Arc::new(Deliveries {
            start,
            windows: Mutex::new(Windows::new(start, window)),
            first_error: Mutex::new(None),
        })
    }

    pub fn first_error(&self) -> Option<String> {
        lock(&self.first_error).clone()
    }

    /// Nanoseconds from the start to `at`, the delivery opaque.
    pub fn opaque(&self, at: Instant) -> usize {
        at.saturating_duration_since(self.start).as_nanos() as usize
    }
}

/// The producer context: one per producer, all pointing at one
/// [`Deliveries`].
pub struct DeliveryContext(pub Arc<Deliveries>);

impl ClientContext for DeliveryContext {}

impl ProducerContext for DeliveryContext {
    /// The send time, in nanoseconds since [`Deliveries::start`].
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, sent_ns: usize) {
        let now = Instant::now();
        match result {
            Ok(message) => {
                let sent = self.0.start + Duration::from_nanos(sent_ns as u64);
                let latency_us = now.saturating_duration_since(sent).as_micros() as u64;
                lock(&self.0.windows).record(message.payload_len() as u64, Some(latency_us));
            }
            Err((error, _)) => {
                lock(&self.0.windows).record_error();
                let mut first = lock(&self.0.first_error);
                if first.is_none() {
                    *first = Some(error.to_string());
                }
            }
        }
    }
}

pub type Sender = ThreadedProducer<DeliveryContext>;

pub fn create_sender(config: &ClientConfig, deliveries: &Arc<Deliveries>) -> Result<Sender> {
    config
        .create_with_context(DeliveryContext(Arc::clone(deliveries)))
        .map_err(BenchError::kafka("cannot create the producer"))
}

/// Sends one record, waiting while librdkafka's queue is full (as Java's
/// `send` blocks). Returns false, unsent, if the user stopped the run or
/// `give_up_at` passed meanwhile (a broker that went away keeps the queue
/// full; the run must still end).
pub fn send(
    sender: &Sender,
    topic: &str,
    key: Option<&[u8]>,
    value: &[u8],
    sent_opaque: usize,
    stop: &StopFlag,
    give_up_at: Option<Instant>,
) -> Result<bool> {
    let mut record = BaseRecord::with_opaque_to(topic, sent_opaque).payload(value);
    if let Some(key) = key {
        record = record.key(key);
    }
    loop {
        match sender.send(record) {
            Ok(()) => return Ok(true),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), returned)) => {
                if stop.is_set() || give_up_at.is_some_and(|at| Instant::now() >= at) {
                    return Ok(false);
                }
                record = returned;
                std::thread::sleep(QUEUE_FULL_BACKOFF);
            }
            Err((error, _)) => {
                return Err(BenchError::Kafka {
                    context: format!("cannot send to {topic}"),
                    source: error,
                })
            }
        }
    }
}

/// Waits for every sent record to be acknowledged (or failed), up to
/// `timeout`.
pub fn flush(sender: &Sender, timeout: Duration) -> Result<()> {
    sender.flush(timeout).map_err(BenchError::kafka(
        "records were still unacknowledged at the end",
    ))
}
