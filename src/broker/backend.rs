//! The backend: partition work applied on the shard that owns the
//! partition, and the mesh handler that receives it from other shards.
//!
//! The frontend (`frontend/`) calls these functions directly when the owner
//! is its own shard, and sends a [`ShardRequest`] that [`Backend`] turns into
//! the same calls when the owner is another shard. So every produce, read,
//! offset lookup and record deletion runs through exactly one function here,
//! whichever shard the client's connection is on; only the copy of read
//! bytes into a mesh answer differs (another shard cannot share this shard's
//! buffers).

use std::rc::Rc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use kafka_protocol::ResponseError;
use sluice_io::storage::Chunk;
use sluice_shards::{ShardHandler, ShardId};

use super::control::{AgentSlot, ControlService};
use super::error::BrokerError;
use super::frontend;
use super::messages::{
    ControlRequest, ControlResponse, DeleteRecordsOutcome, OffsetOutcome, ReadOutcome, ReadPart,
    ReplicaSize, ShardRequest, ShardResponse,
};
use super::shard::ShardState;
use crate::clock::now_ms;
use crate::cluster::TopicPartition;
use crate::partition::manager::PartitionManager;
use crate::partition::{Partition, ProduceOutcome, RecordsFormat};
use crate::protocol::errors;

/// One partition read on its owner: the log's own buffers, not copied.
#[derive(Debug)]
pub struct LocalRead {
    pub error_code: i16,
    pub high_watermark: i64,
    pub log_start_offset: i64,
    pub chunks: Vec<Chunk>,
    /// Bytes in `chunks`.
    pub bytes: usize,
}

impl LocalRead {
    fn failed(error_code: i16, high_watermark: i64, log_start_offset: i64) -> LocalRead {
        LocalRead {
            error_code,
            high_watermark,
            log_start_offset,
            chunks: Vec::new(),
            bytes: 0,
        }
    }

    /// The same result with its bytes copied out, for another shard.
    pub fn into_outcome(self) -> ReadOutcome {
        let records = if self.bytes == 0 {
            Bytes::new()
        } else {
            let mut records = BytesMut::with_capacity(self.bytes);
            for chunk in &self.chunks {
                records.extend_from_slice(chunk.as_slice());
            }
            records.freeze()
        };
        ReadOutcome {
            error_code: self.error_code,
            high_watermark: self.high_watermark,
            log_start_offset: self.log_start_offset,
            records,
        }
    }
}

fn local(partitions: &PartitionManager, partition: &TopicPartition) -> Option<Rc<Partition>> {
    partitions.get(&partition.topic, partition.partition)
}

/// Starts reading, in the background, what a sequential reader that just
/// got up to `next_offset` will ask for next, so that its next Fetch is
/// answered from memory while this answer is still being sent and parsed.
/// Without it a consumer behind the write cache waits for the device on
/// every Fetch (measured: half of rdkafka_performance's consume time).
/// Does nothing for a reader at the tail, whose bytes are in the write
/// cache; a failed read-ahead is only logged, the Fetch reads again.
fn read_ahead(partition: &Rc<Partition>, next_offset: u64, max_bytes: usize) {
    let partition = partition.clone();
    glommio::spawn_local(async move {
        if let Err(error) = partition.log.prefetch(next_offset, max_bytes).await {
            tracing::debug!(%error, "read-ahead failed");
        }
    })
    .detach();
}

/// Appends each part on this shard; answers in order.
pub async fn produce(
    partitions: &PartitionManager,
    acks: i16,
    now_ms: i64,
    timeout: Duration,
    format: RecordsFormat,
    parts: Vec<(TopicPartition, Bytes)>,
) -> Vec<ProduceOutcome> {
    let calls = parts.into_iter().map(|(partition, records)| {
        let local = local(partitions, &partition);
        async move {
            match local {
                Some(partition) => {
                    partition
                        .produce_records(records, format, acks, now_ms, timeout)
                        .await
                }
                None => ProduceOutcome::failed(
                    ResponseError::NotLeaderOrFollower,
                    "partition is not on this shard",
                ),
            }
        }
    });
    futures::future::join_all(calls).await
}

/// Reads one partition on this shard: the one read path of Fetch, for a
/// connection on this shard (the chunks go to its socket as they are) and
/// for one on another (they are copied into the mesh answer).
///
/// A consumer reads up to the high watermark; a follower (a replica id)
/// up to the log end, and its fetch offset is its log end for the leader's
/// ISR and high watermark. A fetcher naming an older leader epoch gets
/// FENCED_LEADER_EPOCH, a newer one UNKNOWN_LEADER_EPOCH (KIP-320).
pub async fn read(shard: &ShardState, part: &ReadPart) -> LocalRead {
    let Some(partition) = local(shard.partitions(), &part.partition) else {
        return LocalRead::failed(ResponseError::NotLeaderOrFollower.code(), -1, -1);
    };
    let log_start_offset = partition.log.log_start_offset() as i64;
    if let Some(epoch) = partition.leader_epoch() {
        let fenced = match part.current_leader_epoch {
            e if e >= 0 && e < epoch => Some(ResponseError::FencedLeaderEpoch),
            e if e > epoch => Some(ResponseError::UnknownLeaderEpoch),
            _ => None,
        };
        if let Some(error) = fenced {
            let high_watermark = partition.high_watermark() as i64;
            return LocalRead::failed(error.code(), high_watermark, log_start_offset);
        }
    }
    if part.offset < 0 {
        let high_watermark = partition.high_watermark() as i64;
        return LocalRead::failed(
            ResponseError::OffsetOutOfRange.code(),
            high_watermark,
            log_start_offset,
        );
    }
    let offset = part.offset as u64;
    let end = if part.replica_id >= 0 {
        if let Some(isr) = partition.follower_fetched(part.replica_id, offset, now_ms()) {
            propose_isr(shard, &part.partition, &partition, isr);
        }
        u64::MAX
    } else {
        partition.high_watermark()
    };
    let high_watermark = partition.high_watermark() as i64;
    match partition
        .log
        .read_to(offset, end, part.max_bytes, part.min_one_batch)
        .await
    {
        Ok(read) => {
            if read.bytes > 0 {
                read_ahead(&partition, read.next_offset, part.max_bytes);
            }
            LocalRead {
                error_code: errors::NONE,
                high_watermark,
                log_start_offset,
                bytes: read.bytes,
                chunks: read.chunks,
            }
        }
        Err(error) => LocalRead::failed(
            errors::from_io(&error).code(),
            high_watermark,
            log_start_offset,
        ),
    }
}

/// Sends a leader's ISR proposal to the control shard, which writes it to
/// ZooKeeper if the partition's state has not changed meanwhile; a refused
/// proposal is forgotten (the next cluster view decides again).
pub fn propose_isr(
    shard: &ShardState,
    tp: &TopicPartition,
    partition: &Rc<Partition>,
    isr: Vec<i32>,
) {
    let Some((leader_epoch, state_version)) = partition.leader_term() else {
        return;
    };
    let Some(state) = shard.self_rc() else {
        return;
    };
    let request = ControlRequest::AlterIsr {
        partition: tp.clone(),
        leader_epoch,
        isr: isr.clone(),
        state_version,
    };
    let partition = partition.clone();
    glommio::spawn_local(async move {
        let outcome = frontend::control::call(&state, request).await;
        match outcome {
            Ok(ControlResponse::IsrAltered(Ok(()))) => {
                tracing::info!(topic = %partition.topic, partition = partition.index, ?isr, "ISR changed");
            }
            other => {
                if let Ok(ControlResponse::IsrAltered(Err(reason))) = &other {
                    tracing::debug!(topic = %partition.topic, partition = partition.index, %reason, "ISR change refused");
                }
                partition.forget_isr_proposal();
            }
        }
    })
    .detach();
}

/// OffsetsForLeaderEpoch for one partition on this shard: where `epoch`
/// ends in this replica's log (Kafka's `endOffsetFor`), with the
/// requester's `current_epoch` checked like a fetch's.
pub fn epoch_end_offset(
    partitions: &PartitionManager,
    partition: &TopicPartition,
    current_epoch: i32,
    epoch: i32,
) -> (i16, i32, i64) {
    let Some(partition) = local(partitions, partition) else {
        return (ResponseError::NotLeaderOrFollower.code(), -1, -1);
    };
    let Some(leader_epoch) = partition.serving_epoch() else {
        return (ResponseError::NotLeaderOrFollower.code(), -1, -1);
    };
    if current_epoch >= 0 && current_epoch < leader_epoch {
        return (ResponseError::FencedLeaderEpoch.code(), -1, -1);
    }
    if current_epoch > leader_epoch {
        return (ResponseError::UnknownLeaderEpoch.code(), -1, -1);
    }
    let (found_epoch, end) = partition.end_offset_for(epoch);
    (errors::NONE, found_epoch, end)
}

/// Waits until one of `parts` (owned here) gets new readable data, or
/// `timeout`.
pub async fn wait_for_data(
    partitions: &PartitionManager,
    parts: &[TopicPartition],
    timeout: Duration,
) {
    let owned: Vec<Rc<Partition>> = parts.iter().filter_map(|p| local(partitions, p)).collect();
    if owned.is_empty() {
        return;
    }
    let waits = owned.iter().map(|p| {
        let seen = p.arrivals.version();
        Box::pin(p.arrivals.changed_since(seen))
    });
    let any = futures::future::select_all(waits);
    let timer = glommio::timer::sleep(timeout);
    futures::future::select(Box::pin(any), Box::pin(timer)).await;
}

/// ListOffsets for one partition on this shard: Kafka's special
/// timestamps (-1 latest, -2 earliest, -3 max timestamp, -4 earliest
/// local: no tiered storage here, so earliest) or a timestamp.
pub async fn list_offset(
    partitions: &PartitionManager,
    partition: &TopicPartition,
    timestamp: i64,
) -> OffsetOutcome {
    let Some(partition) = local(partitions, partition) else {
        return OffsetOutcome {
            error_code: ResponseError::NotLeaderOrFollower.code(),
            timestamp: -1,
            offset: -1,
        };
    };
    let found = |timestamp: i64, offset: i64| OffsetOutcome {
        error_code: errors::NONE,
        timestamp,
        offset,
    };
    match timestamp {
        -1 => found(-1, partition.high_watermark() as i64),
        -2 | -4 => found(-1, partition.log.log_start_offset() as i64),
        -3 => match partition.log.max_timestamp() {
            Some((timestamp, offset)) => found(timestamp, offset as i64),
            None => found(-1, -1),
        },
        timestamp => match partition.log.offset_for_timestamp(timestamp).await {
            Ok(Some((timestamp, offset))) => found(timestamp, offset as i64),
            Ok(None) => found(-1, -1),
            Err(error) => OffsetOutcome {
                error_code: errors::from_io(&error).code(),
                timestamp: -1,
                offset: -1,
            },
        },
    }
}

/// DeleteRecords for one partition on this shard: the log start offset
/// moves up to `offset` (-1: the high watermark).
pub async fn delete_records(
    partitions: &PartitionManager,
    partition: &TopicPartition,
    offset: i64,
) -> DeleteRecordsOutcome {
    let Some(partition) = local(partitions, partition) else {
        return DeleteRecordsOutcome {
            error_code: ResponseError::NotLeaderOrFollower.code(),
            low_watermark: -1,
        };
    };
    let target = if offset == -1 {
        partition.high_watermark() as i64
    } else {
        offset
    };
    if target < 0 || target as u64 > partition.high_watermark() {
        return DeleteRecordsOutcome {
            error_code: ResponseError::OffsetOutOfRange.code(),
            low_watermark: partition.log.log_start_offset() as i64,
        };
    }
    match partition.log.advance_log_start_offset(target as u64).await {
        Ok(()) => DeleteRecordsOutcome {
            error_code: errors::NONE,
            low_watermark: partition.log.log_start_offset() as i64,
        },
        Err(error) => DeleteRecordsOutcome {
            error_code: errors::from_io(&error).code(),
            low_watermark: -1,
        },
    }
}

/// The mesh handler: what another shard's frontend asks of this one. On
/// shard 0 it also holds the control plane.
pub struct Backend {
    shard: Rc<ShardState>,
    control: Option<ControlService>,
}

impl Backend {
    /// `cluster`: where a cluster member's shard 0 will find its agent.
    pub fn new(shard: Rc<ShardState>, cluster: Option<AgentSlot>) -> Result<Backend, BrokerError> {
        let control = if shard.context().shard_id() == ShardId::CONTROL {
            Some(ControlService::new(&shard.config().log_dir, cluster)?)
        } else {
            None
        };
        Ok(Backend { shard, control })
    }
}

impl ShardHandler<ShardRequest, ShardResponse> for Backend {
    async fn handle(&self, source: ShardId, request: ShardRequest) -> ShardResponse {
        let shard = &self.shard;
        let partitions = shard.partitions();
        match request {
            ShardRequest::ApplyTopics(table) => ShardResponse::Applied(
                shard
                    .apply_topics(table)
                    .await
                    .map_err(|error| error.to_string()),
            ),
            ShardRequest::ApplyCluster(view) => ShardResponse::Applied(
                shard
                    .apply_cluster(view)
                    .await
                    .map_err(|error| error.to_string()),
            ),
            ShardRequest::Produce {
                acks,
                now_ms,
                timeout,
                format,
                parts,
            } => ShardResponse::Produced(
                produce(partitions, acks, now_ms, timeout, format, parts).await,
            ),
            // The parts are read at once (each may wait on the disk), their
            // answers kept in request order.
            ShardRequest::Read { parts } => ShardResponse::Read(
                futures::future::join_all(
                    parts
                        .iter()
                        .map(|part| async move { read(shard, part).await.into_outcome() }),
                )
                .await,
            ),
            ShardRequest::ReplicaSizes { wanted } => {
                ShardResponse::ReplicaSizes(replica_sizes(partitions, wanted.as_deref()))
            }
            ShardRequest::EpochEndOffsets { parts } => ShardResponse::EpochEndOffsets(
                parts
                    .iter()
                    .map(|(tp, current, epoch)| epoch_end_offset(partitions, tp, *current, *epoch))
                    .collect(),
            ),
            ShardRequest::WaitForData { parts, timeout } => {
                wait_for_data(partitions, &parts, timeout).await;
                ShardResponse::DataArrived
            }
            ShardRequest::ListOffsets { parts } => {
                let mut outcomes = Vec::with_capacity(parts.len());
                for (partition, timestamp) in &parts {
                    outcomes.push(list_offset(partitions, partition, *timestamp).await);
                }
                ShardResponse::Offsets(outcomes)
            }
            ShardRequest::DeleteRecords { parts } => {
                let mut outcomes = Vec::with_capacity(parts.len());
                for (partition, offset) in &parts {
                    outcomes.push(delete_records(partitions, partition, *offset).await);
                }
                ShardResponse::RecordsDeleted(outcomes)
            }
            ShardRequest::Group(call) => {
                ShardResponse::Group(shard.groups().handle(&shard.offsets_log(), call).await)
            }
            ShardRequest::GroupParked { call, ticket } => {
                let state = shard.clone();
                glommio::spawn_local(async move {
                    let reply = state.groups().handle(&state.offsets_log(), call).await;
                    frontend::groups::answer_parked(&state, source, ticket, reply).await;
                })
                .detach();
                ShardResponse::Parked
            }
            ShardRequest::GroupAnswer { ticket, reply } => {
                shard.parked_group_calls().complete(ticket, reply);
                ShardResponse::Applied(Ok(()))
            }
            ShardRequest::Control(request) => match &self.control {
                Some(control) => ShardResponse::Control(control.handle(shard, request).await),
                None => ShardResponse::Control(ControlResponse::ProducerId(Err(
                    "control request sent to a shard other than 0".into(),
                ))),
            },
        }
    }
}

/// The replicas this shard holds, every one or those in `wanted`.
pub fn replica_sizes(
    partitions: &PartitionManager,
    wanted: Option<&[TopicPartition]>,
) -> Vec<ReplicaSize> {
    partitions
        .owned()
        .iter()
        .filter(|p| {
            wanted.is_none_or(|w| {
                w.iter()
                    .any(|tp| *tp.topic == *p.topic && tp.partition == p.index)
            })
        })
        .map(|p| {
            let end = i64::try_from(p.log.log_end_offset()).unwrap_or(i64::MAX);
            let high_watermark = i64::try_from(p.high_watermark()).unwrap_or(i64::MAX);
            ReplicaSize {
                partition: TopicPartition::new(p.topic.clone(), p.index),
                size_bytes: p.log.size_bytes(),
                offset_lag: (high_watermark - end).max(0),
            }
        })
        .collect()
}
