//! A partition: its log, its idempotent-producer state and its readers'
//! wake-ups. Lives on the shard that owns it ([`manager::PartitionManager`]);
//! requests from other shards reach it through the mesh.

pub mod cleaner;
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
    /// `cleanup.policy` includes `compact`: every record needs a key.
    pub compacted: bool,
}

/// The most a produced batch's records may inflate to, as a multiple of
/// `max.message.bytes`, where the broker must read them (the keys of a
/// compacted topic's records): real record data compresses 2-10 times, so
/// 32 leaves room, and a compression bomb costs at most 32 batches' worth of
/// memory before it is refused.
pub const INFLATION_RATIO_MAX: usize = 32;

/// Record errors listed in one Produce response partition (Kafka lists
/// all; a batch of 100,000 keyless records would make a response of
/// megabytes). The message counts them all.
pub const RECORD_ERRORS_MAX: usize = 1000;

/// One refused record of a batch (KIP-467's `record_errors`, Produce v8+).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordError {
    /// The record's index in its batch.
    pub batch_index: i32,
    pub message: String,
}

/// What a produce did for one partition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProduceOutcome {
    pub error: Option<(ResponseError, String)>,
    pub base_offset: i64,
    /// -1 unless the topic uses LogAppendTime.
    pub log_append_time_ms: i64,
    pub log_start_offset: i64,
    /// The records that made the batch fail, when the error is about them.
    pub record_errors: Vec<RecordError>,
}

impl ProduceOutcome {
    fn failed(error: ResponseError, message: impl Into<String>) -> Self {
        ProduceOutcome {
            error: Some((error, message.into())),
            base_offset: -1,
            log_append_time_ms: -1,
            log_start_offset: -1,
            record_errors: Vec::new(),
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
                    let mut producer = producer_batch(header);
                    // A cleaned batch may hold fewer records than offsets;
                    // its sequences span its offsets (Kafka's lastSequence
                    // is baseSequence + lastOffsetDelta).
                    producer.record_count = header.last_offset_delta.get() + 1;
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
        if settings.compacted {
            let inflated_bytes_max = settings.batch_bytes_max.saturating_mul(INFLATION_RATIO_MAX);
            let partition = format!("{}-{}", self.topic, self.index);
            if let Err(refused) = check_keys(&records, inflated_bytes_max, &partition) {
                return refused;
            }
        }
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
                    record_errors: Vec::new(),
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
            record_errors: Vec::new(),
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

/// Kafka's rule for compacted topics (`LogValidator.validateKey`): every
/// record has a key; each keyless one is a record error and the whole batch
/// is `INVALID_RECORD`. A compressed batch is read within
/// `inflated_bytes_max`; one that inflates past it cannot be checked and is
/// refused.
fn check_keys(
    records: &[u8],
    inflated_bytes_max: usize,
    partition: &str,
) -> Result<(), ProduceOutcome> {
    let unreadable = |detail: String| {
        ProduceOutcome::failed(
            ResponseError::InvalidRecord,
            format!("cannot read the records of a batch for compacted topic partition {partition}: {detail}"),
        )
    };
    let batch_records = sluice_io::records::records(records, inflated_bytes_max)
        .map_err(|e| unreadable(e.to_string()))?;
    let mut keyless = 0usize;
    let mut record_errors = Vec::new();
    for (index, record) in batch_records.iter().enumerate() {
        let record = record.map_err(|e| unreadable(e.to_string()))?;
        if record.key.is_none() {
            keyless += 1;
            if record_errors.len() < RECORD_ERRORS_MAX {
                record_errors.push(RecordError {
                    batch_index: index as i32,
                    message: format!(
                        "Compacted topic cannot accept message without key in topic partition {partition}."
                    ),
                });
            }
        }
    }
    if keyless == 0 {
        return Ok(());
    }
    // Kafka's `LogValidator.processRecordErrors` message.
    let shown: Vec<String> = record_errors
        .iter()
        .take(3)
        .map(|e| {
            format!(
                "RecordError(batchIndex={}, message='{}')",
                e.batch_index, e.message
            )
        })
        .collect();
    let mut refused = ProduceOutcome::failed(
        ResponseError::InvalidRecord,
        format!(
            "One or more records have been rejected due to {keyless} record errors in total, and only showing the first three errors at most: [{}]",
            shown.join(", ")
        ),
    );
    refused.record_errors = record_errors;
    Err(refused)
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
    fn keyless_records_are_refused_one_by_one() {
        use sluice_io::compression::Codec;
        let keyed = sluice_io::records::build_batch(
            Codec::Lz4,
            0,
            &[(Some(b"k"), Some(b"v")), (Some(b"k"), None)],
        )
        .unwrap();
        assert!(check_keys(&keyed, 1 << 20, "t-0").is_ok());
        let mixed = sluice_io::records::build_batch(
            Codec::Zstd,
            0,
            &[(Some(b"k"), Some(b"v")), (None, Some(b"v")), (None, None)],
        )
        .unwrap();
        let refused = check_keys(&mixed, 1 << 20, "t-0").unwrap_err();
        let (error, message) = refused.error.unwrap();
        assert_eq!(error, ResponseError::InvalidRecord);
        assert!(
            message.starts_with("One or more records have been rejected due to 2 record errors"),
            "{message}"
        );
        assert_eq!(
            refused
                .record_errors
                .iter()
                .map(|e| e.batch_index)
                .collect::<Vec<_>>(),
            [1, 2]
        );
        assert_eq!(
            refused.record_errors[0].message,
            "Compacted topic cannot accept message without key in topic partition t-0."
        );
        // A bomb is refused at the bound, not inflated.
        let zeros = vec![0u8; 8 << 20];
        let bomb =
            sluice_io::records::build_batch(Codec::Zstd, 0, &[(Some(b"k"), Some(&zeros))]).unwrap();
        let refused = check_keys(&bomb, 1 << 20, "t-0").unwrap_err();
        assert_eq!(refused.error.unwrap().0, ResponseError::InvalidRecord);
    }

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
