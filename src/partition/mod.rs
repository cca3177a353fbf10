//! A partition: its log, its idempotent-producer state and its readers'
//! wake-ups. Lives on the shard that owns it ([`manager::PartitionManager`]);
//! requests from other shards reach it through the mesh.

pub mod manager;
pub mod producer_state;

use std::cell::RefCell;
use std::sync::Arc;

use bytes::Bytes;
use kafka_protocol::ResponseError;
use sluice_io::batch::{self, BatchError};
use sluice_io::storage::dma::DmaStorage;
use sluice_io::{AppendTime, IoError, LogRead, PartitionLog};

use crate::protocol::errors;
use producer_state::{ProducerBatch, ProducerState, SequenceCheck};
use sluice_io::notify::Notify;

/// Settings a partition takes from its topic's config.
#[derive(Clone, Debug)]
pub struct PartitionSettings {
    /// `max.message.bytes`: the largest batch accepted.
    pub batch_bytes_max: usize,
    /// `message.timestamp.type=LogAppendTime`.
    pub log_append_time: bool,
}

/// What a produce did for one partition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProduceOutcome {
    pub error: Option<(ResponseError, String)>,
    pub base_offset: i64,
    /// -1 unless the topic uses LogAppendTime.
    pub log_append_time_ms: i64,
    pub log_start_offset: i64,
}

impl ProduceOutcome {
    fn failed(error: ResponseError, message: impl Into<String>) -> Self {
        ProduceOutcome {
            error: Some((error, message.into())),
            base_offset: -1,
            log_append_time_ms: -1,
            log_start_offset: -1,
        }
    }
}

pub struct Partition {
    pub topic: Arc<str>,
    pub index: i32,
    pub log: PartitionLog<DmaStorage>,
    producers: RefCell<ProducerState>,
    pub arrivals: Notify,
    settings: RefCell<PartitionSettings>,
    /// Held from the sequence check to the recorded append, so concurrent
    /// produces to this partition see each other's sequences in order.
    append_order: futures::lock::Mutex<()>,
}

impl Partition {
    /// Wraps an opened log and rebuilds producer state from its batches.
    pub async fn new(
        topic: Arc<str>,
        index: i32,
        log: PartitionLog<DmaStorage>,
        settings: PartitionSettings,
    ) -> Result<Partition, IoError> {
        let partition = Partition {
            topic,
            index,
            log,
            producers: RefCell::new(ProducerState::default()),
            arrivals: Notify::default(),
            settings: RefCell::new(settings),
            append_order: futures::lock::Mutex::new(()),
        };
        partition.rebuild_producer_state().await?;
        Ok(partition)
    }

    pub fn set_settings(&self, settings: PartitionSettings) {
        *self.settings.borrow_mut() = settings;
    }

    /// Scans the log's batch headers for producer ids and sequences.
    async fn rebuild_producer_state(&self) -> Result<(), IoError> {
        let mut offset = self.log.log_start_offset();
        let end = self.log.written_offset();
        let mut state = ProducerState::default();
        while offset < end {
            let read = self.log.read(offset, 1 << 20, true).await?;
            if read.bytes == 0 {
                break;
            }
            for chunk in &read.chunks {
                for item in batch::iter(chunk.as_slice()) {
                    let Ok((_, bytes)) = item else { break };
                    let header = batch::header(bytes).expect("validated by iter");
                    let producer = producer_batch(header);
                    if producer.producer_id >= 0 {
                        state.record(&producer, header.base_offset() as u64);
                    }
                }
            }
            offset = read.next_offset;
        }
        *self.producers.borrow_mut() = state;
        Ok(())
    }

    /// Appends one produce request's records for this partition and waits
    /// for durability unless `acks` is 0.
    pub async fn produce(&self, records: Bytes, acks: i16, now_ms: i64) -> ProduceOutcome {
        let settings = self.settings.borrow().clone();
        let producer = match check_records(&records, settings.batch_bytes_max) {
            Ok(producer) => producer,
            Err((error, message)) => return ProduceOutcome::failed(error, message),
        };
        let ordered = self.append_order.lock().await;
        let check = self.producers.borrow().check(&producer);
        match check {
            SequenceCheck::Append => {}
            SequenceCheck::Duplicate { base_offset } => {
                return ProduceOutcome {
                    error: None,
                    base_offset: base_offset as i64,
                    log_append_time_ms: -1,
                    log_start_offset: self.log.log_start_offset() as i64,
                };
            }
            SequenceCheck::Reject(error) => {
                return ProduceOutcome::failed(
                    error,
                    format!(
                        "producer {} sequence {} rejected",
                        producer.producer_id, producer.base_sequence
                    ),
                );
            }
        }
        let time = if settings.log_append_time {
            AppendTime::LogAppend(now_ms)
        } else {
            AppendTime::Create
        };
        let info = match self.log.append(&records, now_ms, time).await {
            Ok(info) => info,
            Err(error) => {
                return ProduceOutcome::failed(errors::from_io(&error), error.to_string())
            }
        };
        self.producers
            .borrow_mut()
            .record(&producer, info.base_offset);
        drop(ordered);
        if acks != 0 {
            if let Err(error) = self.log.wait_durable(info.last_offset + 1).await {
                return ProduceOutcome::failed(errors::from_io(&error), error.to_string());
            }
            self.arrivals.notify();
        }
        ProduceOutcome {
            error: None,
            base_offset: info.base_offset as i64,
            log_append_time_ms: if settings.log_append_time { now_ms } else { -1 },
            log_start_offset: self.log.log_start_offset() as i64,
        }
    }

    /// Reads from `offset`; see [`PartitionLog::read`].
    pub async fn read(
        &self,
        offset: u64,
        max_bytes: usize,
        min_one_batch: bool,
    ) -> Result<LogRead, IoError> {
        self.log.read(offset, max_bytes, min_one_batch).await
    }

    /// The high watermark: on a single node, everything readable.
    pub fn high_watermark(&self) -> u64 {
        self.log.written_offset()
    }

    /// Periodic work (writes for acks=0, interval syncs); wakes readers if
    /// that made data readable.
    pub async fn tick(&self) -> Result<(), IoError> {
        let before = self.log.written_offset();
        let result = self.log.tick().await;
        if self.log.written_offset() != before {
            self.arrivals.notify();
        }
        result
    }
}

/// Kafka's rules for a produce request's records (v3 and later): exactly one
/// v2 batch, valid, within `max.message.bytes`.
fn check_records(
    records: &[u8],
    batch_bytes_max: usize,
) -> Result<ProducerBatch, (ResponseError, String)> {
    let header = batch::validate(records).map_err(|error| match error {
        BatchError::BadMagic(magic) => (
            ResponseError::UnsupportedForMessageFormat,
            format!("message format v{magic} (magic {magic}) is not supported; produce v2 record batches"),
        ),
        other => (ResponseError::CorruptMessage, other.to_string()),
    })?;
    let total = header.total_bytes();
    if total != records.len() {
        return Err((
            ResponseError::InvalidRecord,
            "Produce requests with version 3 and above are only allowed to contain exactly one record batch".into(),
        ));
    }
    if total > batch_bytes_max {
        return Err((
            ResponseError::MessageTooLarge,
            format!("batch of {total} bytes exceeds max.message.bytes {batch_bytes_max}"),
        ));
    }
    Ok(producer_batch(header))
}

fn producer_batch(header: &batch::BatchHeader) -> ProducerBatch {
    ProducerBatch {
        producer_id: header.producer_id.get(),
        epoch: header.producer_epoch.get(),
        base_sequence: header.base_sequence.get(),
        record_count: header.record_count.get(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_io::batch::build_test_batch;

    #[test]
    fn records_checks_follow_kafka() {
        let one = build_test_batch(3, 100, 0);
        assert!(check_records(&one, 1 << 20).is_ok());
        let mut two = one.clone();
        two.extend_from_slice(&one);
        assert_eq!(
            check_records(&two, 1 << 20).unwrap_err().0,
            ResponseError::InvalidRecord
        );
        assert_eq!(
            check_records(&one, 50).unwrap_err().0,
            ResponseError::MessageTooLarge
        );
        let mut corrupt = one.clone();
        *corrupt.last_mut().unwrap() ^= 1;
        assert_eq!(
            check_records(&corrupt, 1 << 20).unwrap_err().0,
            ResponseError::CorruptMessage
        );
        let mut old = one.clone();
        old[16] = 1;
        assert_eq!(
            check_records(&old, 1 << 20).unwrap_err().0,
            ResponseError::UnsupportedForMessageFormat
        );
        assert_eq!(
            check_records(&[], 1 << 20).unwrap_err().0,
            ResponseError::CorruptMessage
        );
    }
}
