//! Partition work through the routing seam: produce, read, the long-poll
//! wait, offsets and record deletion.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::ResponseError;
use sluice_io::storage::Chunk;
use sluice_shards::ShardId;

use super::{by_owner, scatter, Slotted};
use crate::broker::backend;
use crate::broker::error::BrokerError;
use crate::broker::messages::{
    DeleteRecordsOutcome, OffsetOutcome, ReadPart, ReplicaSize, ShardRequest, ShardResponse,
};
use crate::broker::shard::ShardState;
use crate::cluster::{Owner, TopicPartition};
use crate::partition::{ProduceOutcome, RecordsFormat};

/// Record bytes of a Fetch response: shared with this shard's log buffers,
/// or copied out of another shard's.
pub enum FetchRecords {
    Local(Chunk),
    Remote(Bytes),
}

impl FetchRecords {
    /// The first `len` bytes, sharing the same buffer (no copy).
    pub fn prefix(&self, len: usize) -> FetchRecords {
        match self {
            FetchRecords::Local(chunk) => FetchRecords::Local(chunk.slice(0..len)),
            FetchRecords::Remote(bytes) => FetchRecords::Remote(bytes.slice(0..len)),
        }
    }
}

impl AsRef<[u8]> for FetchRecords {
    fn as_ref(&self) -> &[u8] {
        match self {
            FetchRecords::Local(chunk) => chunk.as_slice(),
            FetchRecords::Remote(bytes) => bytes,
        }
    }
}

/// What a read found for one partition, wherever it was read.
pub struct PartitionRead {
    pub error_code: i16,
    pub high_watermark: i64,
    pub log_start_offset: i64,
    pub records: Vec<FetchRecords>,
    /// Bytes in `records`.
    pub bytes: usize,
}

impl PartitionRead {
    pub fn failed(error_code: i16) -> PartitionRead {
        PartitionRead {
            error_code,
            high_watermark: -1,
            log_start_offset: -1,
            records: Vec::new(),
            bytes: 0,
        }
    }
}

/// Why a partition is refused here, for the client's log.
fn not_led_here(owner: Owner) -> String {
    match owner {
        Owner::Broker(leader) => format!("broker {leader} leads this partition"),
        _ => "the partition has no leader now".to_string(),
    }
}

/// Appends each part's records on its owner; acks=0 still waits for the
/// owners to take the batches (the answer is then not sent).
pub async fn produce(
    shard: &ShardState,
    acks: i16,
    now_ms: i64,
    timeout: Duration,
    format: RecordsFormat,
    parts: Vec<Slotted<(TopicPartition, Bytes)>>,
) -> Vec<Slotted<ProduceOutcome>> {
    scatter(
        shard,
        parts,
        |parts| ShardRequest::Produce {
            acks,
            now_ms,
            timeout,
            format,
            parts,
        },
        |response| match response {
            ShardResponse::Produced(outcomes) => Some(outcomes),
            _ => None,
        },
        |reason| ProduceOutcome::failed(ResponseError::UnknownServerError, reason),
        |owner| ProduceOutcome::failed(ResponseError::NotLeaderOrFollower, not_led_here(owner)),
    )
    .await
}

/// Reads each part: on this shard in place (the log's buffers go to the
/// socket, no copy), on another through one mesh request per owner. All
/// reads run at once, the local ones and the mesh requests alike: each may
/// wait on the disk, and a consumer's time per Fetch is the slowest read
/// rather than their sum.
pub async fn read(
    shard: &ShardState,
    parts: Vec<Slotted<ReadPart>>,
) -> Vec<Slotted<PartitionRead>> {
    let here = shard.context().shard_id();
    let mut answered = Vec::with_capacity(parts.len());
    let keyed = parts
        .into_iter()
        .map(|(slot, part)| (slot, (part.partition.clone(), part)))
        .collect();
    let mut local: Vec<Slotted<ReadPart>> = Vec::new();
    let mut remote: BTreeMap<ShardId, Vec<Slotted<ReadPart>>> = BTreeMap::new();
    let routed = by_owner(shard, keyed);
    for (slot, _) in routed.elsewhere {
        answered.push((
            slot,
            PartitionRead::failed(ResponseError::NotLeaderOrFollower.code()),
        ));
    }
    for (owner, owned) in routed.by_shard {
        let owned = owned.into_iter().map(|(slot, (_, part))| (slot, part));
        if owner == here {
            local.extend(owned);
        } else {
            remote.insert(owner, owned.collect());
        }
    }
    let local_reads = futures::future::join_all(local.iter().map(|(slot, part)| async move {
        let read = backend::read(shard, part).await;
        (
            *slot,
            PartitionRead {
                error_code: read.error_code,
                high_watermark: read.high_watermark,
                log_start_offset: read.log_start_offset,
                bytes: read.bytes,
                records: read.chunks.into_iter().map(FetchRecords::Local).collect(),
            },
        )
    }));
    let calls = futures::future::join_all(remote.into_iter().map(|(owner, parts)| {
        let (slots, parts): (Vec<usize>, Vec<ReadPart>) = parts.into_iter().unzip();
        async move {
            let answer = shard
                .context()
                .invoke_on(owner, ShardRequest::Read { parts })
                .await;
            (slots, answer)
        }
    }));
    let (local_answers, remote_answers) = futures::future::join(local_reads, calls).await;
    answered.extend(local_answers);
    for (slots, answer) in remote_answers {
        match answer {
            Ok(ShardResponse::Read(outcomes)) if outcomes.len() == slots.len() => {
                for (slot, outcome) in slots.into_iter().zip(outcomes) {
                    let bytes = outcome.records.len();
                    answered.push((
                        slot,
                        PartitionRead {
                            error_code: outcome.error_code,
                            high_watermark: outcome.high_watermark,
                            log_start_offset: outcome.log_start_offset,
                            records: if bytes == 0 {
                                Vec::new()
                            } else {
                                vec![FetchRecords::Remote(outcome.records)]
                            },
                            bytes,
                        },
                    ));
                }
            }
            other => {
                if let Err(error) = other {
                    tracing::error!(%error, "owning shard unreachable");
                }
                for slot in slots {
                    answered.push((
                        slot,
                        PartitionRead::failed(ResponseError::UnknownServerError.code()),
                    ));
                }
            }
        }
    }
    answered
}

/// Waits until any of `parts` gets an append, or `timeout`: the owners are
/// asked concurrently and the first to see data ends the wait.
pub async fn wait_for_data(shard: &ShardState, parts: Vec<TopicPartition>, timeout: Duration) {
    let routing = shard.routing();
    let mut grouped: BTreeMap<ShardId, Vec<TopicPartition>> = BTreeMap::new();
    for partition in parts {
        // Only partitions led here can see new data here.
        if let Owner::Shard(owner) = routing.owner(&partition) {
            grouped.entry(owner).or_default().push(partition);
        }
    }
    if grouped.is_empty() {
        glommio::timer::sleep(timeout).await;
        return;
    }
    let here = shard.context().shard_id();
    let waits = grouped.into_iter().map(|(owner, parts)| {
        Box::pin(async move {
            if owner == here {
                backend::wait_for_data(shard.partitions(), &parts, timeout).await;
            } else {
                let _ = shard
                    .context()
                    .invoke_on(owner, ShardRequest::WaitForData { parts, timeout })
                    .await;
            }
        })
    });
    futures::future::select_all(waits).await;
}

/// ListOffsets for each part (a timestamp or Kafka's special values).
pub async fn list_offsets(
    shard: &ShardState,
    parts: Vec<Slotted<(TopicPartition, i64)>>,
) -> Vec<Slotted<OffsetOutcome>> {
    scatter(
        shard,
        parts,
        |parts| ShardRequest::ListOffsets { parts },
        |response| match response {
            ShardResponse::Offsets(outcomes) => Some(outcomes),
            _ => None,
        },
        |_| OffsetOutcome {
            error_code: ResponseError::UnknownServerError.code(),
            timestamp: -1,
            offset: -1,
        },
        |_| OffsetOutcome {
            error_code: ResponseError::NotLeaderOrFollower.code(),
            timestamp: -1,
            offset: -1,
        },
    )
    .await
}

/// DeleteRecords for each part (an offset, or -1 for the high watermark).
pub async fn delete_records(
    shard: &ShardState,
    parts: Vec<Slotted<(TopicPartition, i64)>>,
) -> Vec<Slotted<DeleteRecordsOutcome>> {
    scatter(
        shard,
        parts,
        |parts| ShardRequest::DeleteRecords { parts },
        |response| match response {
            ShardResponse::RecordsDeleted(outcomes) => Some(outcomes),
            _ => None,
        },
        |_| DeleteRecordsOutcome {
            error_code: ResponseError::UnknownServerError.code(),
            low_watermark: -1,
        },
        |_| DeleteRecordsOutcome {
            error_code: ResponseError::NotLeaderOrFollower.code(),
            low_watermark: -1,
        },
    )
    .await
}

/// OffsetsForLeaderEpoch for each part: (the requester's current epoch,
/// the epoch asked about) to (error code, epoch, end offset).
pub async fn epoch_end_offsets(
    shard: &ShardState,
    parts: Vec<Slotted<(TopicPartition, (i32, i32))>>,
) -> Vec<Slotted<(i16, i32, i64)>> {
    scatter(
        shard,
        parts,
        |parts| ShardRequest::EpochEndOffsets {
            parts: parts
                .into_iter()
                .map(|(tp, (current, epoch))| (tp, current, epoch))
                .collect(),
        },
        |response| match response {
            ShardResponse::EpochEndOffsets(outcomes) => Some(outcomes),
            _ => None,
        },
        |_| (ResponseError::UnknownServerError.code(), -1, -1),
        |_| (ResponseError::NotLeaderOrFollower.code(), -1, -1),
    )
    .await
}

/// Every replica this broker holds, on every shard (DescribeLogDirs), or
/// those of `wanted`.
pub async fn replica_sizes(
    shard: &ShardState,
    wanted: Option<Vec<TopicPartition>>,
) -> Result<Vec<ReplicaSize>, BrokerError> {
    let calls = shard.context().shard_count().ids().map(|target| {
        let wanted = wanted.clone();
        async move {
            let answer = shard
                .context()
                .invoke_on(target, ShardRequest::ReplicaSizes { wanted })
                .await;
            (target, answer)
        }
    });
    let mut sizes = Vec::new();
    for (target, answer) in futures::future::join_all(calls).await {
        match answer {
            Ok(ShardResponse::ReplicaSizes(held)) => sizes.extend(held),
            Ok(_) => {
                return Err(BrokerError::UnexpectedAnswer {
                    shard: target,
                    request: "DescribeLogDirs",
                })
            }
            Err(source) => {
                return Err(BrokerError::Mesh {
                    shard: target,
                    source,
                })
            }
        }
    }
    sizes.sort_by(|a, b| {
        (&*a.partition.topic, a.partition.partition)
            .cmp(&(&*b.partition.topic, b.partition.partition))
    });
    Ok(sizes)
}
