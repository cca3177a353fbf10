//! Writing group records to `__consumer_offsets` and reading them back.
//!
//! Writes are one uncompressed v2 batch per call, appended through the
//! partition like a client's `acks=all` produce (same flush policy, same
//! durability). Loading reads the partition from its start and replays the
//! records in order: the last value of a key wins, a tombstone removes it.

use std::collections::HashMap;
use std::rc::Rc;
use std::time::Instant;

use bytes::{Buf, Bytes, BytesMut};
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

use super::group::{CommittedOffset, Group};
use super::records::{self, RecordKey};
use super::{partition_for, OFFSETS_TOPIC};
use crate::clock::now_ms;
use crate::partition::manager::PartitionManager;
use crate::partition::Partition;

/// A record key and its value (None: a tombstone).
pub type KeyValue = (Bytes, Option<Bytes>);

/// How long a group write waits for the partition's in-sync replicas
/// (Kafka's `offsets.commit.timeout.ms` default).
const COMMIT_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(5000);

/// Bytes read from the log per step while loading.
const LOAD_READ_BYTES: usize = 1 << 20;

/// The coordinator's handle on its log: the `__consumer_offsets`
/// partitions of its shard, and nothing else of the shard.
#[derive(Clone, Copy)]
pub struct OffsetsLog<'a> {
    partitions: &'a PartitionManager,
}

impl<'a> OffsetsLog<'a> {
    pub fn new(partitions: &'a PartitionManager) -> OffsetsLog<'a> {
        OffsetsLog { partitions }
    }

    /// Partition `partition` of `__consumer_offsets`, if this shard owns it.
    pub fn partition(&self, partition: i32) -> Option<Rc<Partition>> {
        self.partitions.get(OFFSETS_TOPIC, partition)
    }
}

/// Appends `records` to partition `partition` of `__consumer_offsets`
/// and waits until they are as durable as an `acks=all` write.
pub async fn append(
    log: &OffsetsLog<'_>,
    partition: i32,
    records: Vec<KeyValue>,
) -> Result<(), String> {
    if records.is_empty() {
        return Ok(());
    }
    let Some(log) = log.partition(partition) else {
        return Err(format!("{OFFSETS_TOPIC}-{partition} is not on this shard"));
    };
    let now = now_ms();
    let records: Vec<Record> = records
        .into_iter()
        .enumerate()
        .map(|(i, (key, value))| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            // The encoder keeps records in one batch while offset minus
            // sequence is constant; the batch's base sequence is the first
            // record's, -1 (no producer id).
            sequence: i as i32 - 1,
            timestamp: now,
            key: Some(key),
            value,
            headers: Default::default(),
        })
        .collect();
    let mut batch = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut batch,
        &records,
        &RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        },
    )
    .map_err(|e| format!("encoding group records: {e}"))?;
    let outcome = log.produce(batch.freeze(), -1, now, COMMIT_TIMEOUT).await;
    match outcome.error {
        None => Ok(()),
        Some((error, message)) => Err(format!("{error:?}: {message}")),
    }
}

/// Reads one partition back into its groups.
pub async fn load(
    log: &OffsetsLog<'_>,
    partition: i32,
    partitions: i32,
    now: Instant,
) -> Result<HashMap<String, Group>, String> {
    let Some(log) = log.partition(partition) else {
        return Ok(HashMap::new());
    };
    let mut groups: HashMap<String, Group> = HashMap::new();
    let mut offset = log.log.log_start_offset();
    let end = log.high_watermark();
    while offset < end {
        let read = log
            .read(offset, LOAD_READ_BYTES, true)
            .await
            .map_err(|e| format!("reading {OFFSETS_TOPIC}-{partition} at {offset}: {e}"))?;
        if read.bytes == 0 || read.next_offset <= offset {
            break;
        }
        offset = read.next_offset;
        let mut bytes = BytesMut::with_capacity(read.bytes);
        for chunk in &read.chunks {
            bytes.extend_from_slice(chunk.as_slice());
        }
        let mut bytes = bytes.freeze();
        while bytes.remaining() > 0 {
            let set = match RecordBatchDecoder::decode(&mut bytes) {
                Ok(set) => set,
                Err(error) => {
                    // Compressed batches (from a migrated Kafka) need codecs
                    // this build of kafka-protocol leaves out.
                    tracing::warn!(partition, %error, "skipping an unreadable batch of group records");
                    break;
                }
            };
            for record in set.records {
                apply(&mut groups, partition, partitions, record, now);
            }
        }
    }
    groups.retain(|_, g| !g.is_empty_of_members() || !g.offsets.is_empty() || g.generation > 0);
    Ok(groups)
}

fn apply(
    groups: &mut HashMap<String, Group>,
    partition: i32,
    partitions: i32,
    record: Record,
    now: Instant,
) {
    let Some(key) = record.key else { return };
    let key = match records::decode_key(&key) {
        Ok(key) => key,
        Err(error) => {
            tracing::warn!(partition, %error, "skipping a group record with an unreadable key");
            return;
        }
    };
    let group_id = match &key {
        RecordKey::Offset { group, .. } | RecordKey::Group { group } => group.clone(),
    };
    if partition_for(&group_id, partitions) != partition {
        tracing::warn!(partition, group = %group_id, "group record in the wrong partition (was offsets.topic.num.partitions changed?)");
    }
    let group = groups
        .entry(group_id.clone())
        .or_insert_with(|| Group::new(group_id, partition, record.timestamp));
    match (key, record.value) {
        (
            RecordKey::Offset {
                topic,
                partition: p,
                ..
            },
            None,
        ) => {
            group.offsets.remove(&(topic, p));
        }
        (
            RecordKey::Offset {
                topic,
                partition: p,
                ..
            },
            Some(value),
        ) => match records::decode_offset_value(&value) {
            Ok(value) => {
                group.offsets.insert(
                    (topic, p),
                    CommittedOffset {
                        offset: value.offset,
                        leader_epoch: value.leader_epoch,
                        metadata: value.metadata,
                        commit_timestamp: value.commit_timestamp,
                    },
                );
            }
            Err(error) => tracing::warn!(partition, %error, "skipping an unreadable offset record"),
        },
        (RecordKey::Group { .. }, None) => {
            // The group was deleted or expired; offsets have their own
            // tombstones.
            group.restore(Default::default(), now);
            group.generation = 0;
        }
        (RecordKey::Group { .. }, Some(value)) => match records::decode_group_value(&value) {
            Ok(value) => group.restore(value, now),
            Err(error) => tracing::warn!(partition, %error, "skipping an unreadable group record"),
        },
    }
}
