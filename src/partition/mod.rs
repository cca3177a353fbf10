//! A partition: its log, its idempotent-producer state and its readers'
//! wake-ups. Lives on the shard that owns it ([`manager::PartitionManager`]);
//! requests from other shards reach it through the mesh.

pub mod cleaner;
pub mod manager;
pub mod producer_state;
pub mod replica;
pub mod validation;
pub use validation::RecordsFormat;

use std::cell::{Cell, RefCell};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::ResponseError;
use sluice_io::batch;
use sluice_io::storage::dma::DmaStorage;
use sluice_io::{AppendTime, IoError, LogRead, PartitionLog};

use crate::protocol::errors;
use producer_state::{ProducerState, SequenceCheck};
use sluice_io::notify::Notify;
use validation::{check_records, producer_batch, RecordRules};

/// Settings a partition takes from its topic's config.
#[derive(Clone, Debug)]
pub struct PartitionSettings {
    /// `max.message.bytes` and the `message.timestamp.*` rules produced
    /// records must pass.
    pub rules: RecordRules,
    /// `message.downconversion.enable`: whether consumers that read only
    /// v0/v1 (Fetch v0-3) are served.
    pub downconversion_enabled: bool,
    /// `cleanup.policy` includes `compact`: every record needs a key.
    pub compacted: bool,
    /// `min.insync.replicas`: `acks=all` needs at least this many in sync.
    pub min_insync_replicas: usize,
}

/// What a produce did for one partition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProduceOutcome {
    pub error: Option<(ResponseError, String)>,
    pub base_offset: i64,
    /// -1 unless the topic uses LogAppendTime.
    pub log_append_time_ms: i64,
    pub log_start_offset: i64,
    /// (batch index, message) of each refused record, for Produce v8+.
    pub record_errors: Vec<(i32, String)>,
}

impl ProduceOutcome {
    /// A refusal without per-record errors.
    pub fn failed(error: ResponseError, message: impl Into<String>) -> Self {
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
    /// Leader, follower or the only copy ([`replica`]).
    role: RefCell<replica::Role>,
    /// Which leader epoch wrote which offsets (`leader-epoch-checkpoint`).
    epochs: RefCell<crate::replication::epochs::LeaderEpochs>,
    /// A follower's high watermark, from its leader's fetch answers.
    follower_hw: Cell<u64>,
    /// Bumped when the high watermark moves or the role changes, for
    /// producers waiting on `acks=all`.
    replicated: Notify,
}

impl Partition {
    /// Wraps an opened log and rebuilds producer state from its batches.
    pub async fn new(
        topic: Arc<str>,
        index: i32,
        log: PartitionLog<DmaStorage>,
        settings: PartitionSettings,
    ) -> Result<Partition, IoError> {
        let epochs = Partition::load_epochs(log.dir())?;
        let partition = Partition {
            topic,
            index,
            log,
            role: RefCell::new(replica::Role::Solo),
            epochs: RefCell::new(epochs),
            follower_hw: Cell::new(0),
            replicated: Notify::default(),
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

    /// The topic's `message.downconversion.enable`.
    pub fn downconversion_enabled(&self) -> bool {
        self.settings.borrow().downconversion_enabled
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

    /// Appends one produce request's records (Produce v3+: one v2 batch)
    /// for this partition and waits for durability unless `acks` is 0.
    pub async fn produce(
        &self,
        records: Bytes,
        acks: i16,
        now_ms: i64,
        timeout: Duration,
    ) -> ProduceOutcome {
        self.produce_records(records, RecordsFormat::V2Batch, acks, now_ms, timeout)
            .await
    }

    /// [`produce`](Self::produce) for records of `format`: Produce v0-2
    /// pass [`RecordsFormat::MessageSet`], whose v0/v1 messages are
    /// converted to one v2 batch.
    pub async fn produce_records(
        &self,
        records: Bytes,
        format: RecordsFormat,
        acks: i16,
        now_ms: i64,
        timeout: Duration,
    ) -> ProduceOutcome {
        let rules = self.settings.borrow().rules;
        let min_insync = self.settings.borrow().min_insync_replicas;
        if let Err(refused) = self.check_can_append(acks, min_insync) {
            return refused;
        }
        let checked = match check_records(&records, format, &rules, now_ms) {
            Ok(checked) => checked,
            Err(refusal) => {
                return ProduceOutcome {
                    record_errors: refusal.record_errors,
                    ..ProduceOutcome::failed(refusal.error, refusal.message)
                }
            }
        };
        if self.settings.borrow().compacted {
            let inflated_bytes_max = rules.inflated_bytes_max();
            let partition = format!("{}-{}", self.topic, self.index);
            if let Err(refused) = check_keys(&checked.batch, inflated_bytes_max, &partition) {
                return refused;
            }
        }
        let producer = checked.producer;
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
        let time = checked.append_time;
        let info = match self.log.append(&checked.batch, now_ms, time).await {
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
            self.appended();
        }
        if acks == -1 {
            if let Err((error, message)) = self
                .wait_replicated(info.last_offset + 1, min_insync, timeout)
                .await
            {
                return ProduceOutcome::failed(error, message);
            }
        }
        ProduceOutcome {
            error: None,
            base_offset: info.base_offset as i64,
            log_append_time_ms: match time {
                AppendTime::LogAppend(append_ms) => append_ms,
                _ => -1,
            },
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

    /// Periodic work (writes for acks=0, interval syncs); wakes readers if
    /// that made data readable.
    pub async fn tick(&self) -> Result<(), IoError> {
        let before = self.log.written_offset();
        let result = self.log.tick().await;
        if self.log.written_offset() != before {
            self.appended();
        }
        result
    }
}
/// Record errors listed in one Produce response partition for keyless
/// records (the message counts them all).
const KEYLESS_RECORD_ERRORS_MAX: usize = 1000;

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
            if record_errors.len() < KEYLESS_RECORD_ERRORS_MAX {
                record_errors.push((
                    index as i32,
                    format!(
                        "Compacted topic cannot accept message without key in topic partition {partition}."
                    ),
                ));
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
        .map(|(index, message)| format!("RecordError(batchIndex={index}, message='{message}')"))
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

#[cfg(test)]
mod compaction_tests {
    use super::*;

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
                .map(|(index, _)| *index)
                .collect::<Vec<_>>(),
            [1, 2]
        );
        assert_eq!(
            refused.record_errors[0].1,
            "Compacted topic cannot accept message without key in topic partition t-0."
        );
        // A bomb is refused at the bound, not inflated.
        let zeros = vec![0u8; 8 << 20];
        let bomb =
            sluice_io::records::build_batch(Codec::Zstd, 0, &[(Some(b"k"), Some(&zeros))]).unwrap();
        let refused = check_keys(&bomb, 1 << 20, "t-0").unwrap_err();
        assert_eq!(refused.error.unwrap().0, ResponseError::InvalidRecord);
    }
}
