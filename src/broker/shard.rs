//! [`ShardState`]: everything one shard owns, and the backend that answers
//! the mesh requests addressed to it.
//!
//! Lifecycle: built by the shard's main task at start, shared (`Rc`) by its
//! connection tasks and its mesh handler; dropped after shutdown closed the
//! partitions. Everything in it is touched only on this shard.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use kafka_protocol::ResponseError;
use sluice_shards::{ShardContext, ShardHandler, ShardId};

use super::control::{ControlRequest, ControlResponse, ControlService};
use super::messages::{
    DeleteRecordsOutcome, OffsetOutcome, PartitionRef, ReadOutcome, ReadPart, ShardRequest,
    ShardResponse,
};
use crate::cluster::TopicTable;
use crate::config::BrokerConfig;
use crate::coordinator::parked::ParkedAnswers;
use crate::coordinator::{GroupCoordinator, GroupSettings};
use crate::partition::manager::PartitionManager;
use crate::partition::{Partition, ProduceOutcome};
use crate::protocol::errors;

pub type Context = ShardContext<ShardRequest, ShardResponse>;

/// Where clients should connect: the advertised listener.
#[derive(Clone, Debug)]
pub struct Advertised {
    pub host: String,
    pub port: u16,
}

pub struct ShardState {
    ctx: Context,
    config: Arc<BrokerConfig>,
    /// Shared, not cloned, per request: a table is replaced whole, never edited.
    topics: RefCell<Arc<TopicTable>>,
    /// Serializes topic table applications on this shard.
    applying: futures::lock::Mutex<()>,
    pub partitions: PartitionManager,
    control: Option<ControlService>,
    /// The consumer groups whose `__consumer_offsets` partition is here.
    pub groups: GroupCoordinator,
    /// Group calls this shard parked on other shards, awaiting answers.
    pub parked_group_calls: ParkedAnswers,
    pub advertised: Advertised,
    pub cluster_id: String,
}

impl ShardState {
    pub fn new(
        ctx: Context,
        config: Arc<BrokerConfig>,
        table: TopicTable,
        advertised: Advertised,
        cluster_id: String,
    ) -> Result<ShardState, String> {
        let control = if ctx.shard_id() == ShardId::CONTROL {
            Some(ControlService::new(&config.log_dir)?)
        } else {
            None
        };
        let partitions = PartitionManager::new(
            ctx.shard_id(),
            ctx.shard_count(),
            config.log_dir.clone(),
            config.topic_defaults(),
        );
        let groups = GroupCoordinator::new(GroupSettings::from_config(&config));
        Ok(ShardState {
            ctx,
            config,
            topics: RefCell::new(Arc::new(table)),
            applying: futures::lock::Mutex::new(()),
            partitions,
            control,
            groups,
            parked_group_calls: ParkedAnswers::default(),
            advertised,
            cluster_id,
        })
    }

    pub fn context(&self) -> &Context {
        &self.ctx
    }

    pub fn config(&self) -> &BrokerConfig {
        &self.config
    }

    /// This shard's copy of the topic table.
    pub fn topics(&self) -> Arc<TopicTable> {
        self.topics.borrow().clone()
    }

    /// Applies `table` if it is newer than the one held.
    pub async fn apply_topics(&self, table: TopicTable) -> Result<(), String> {
        let _applying = self.applying.lock().await;
        if table.version <= self.topics.borrow().version && self.topics.borrow().version != 0 {
            return Ok(());
        }
        let result = self.partitions.apply(&table).await;
        *self.topics.borrow_mut() = Arc::new(table);
        result
    }

    /// Sends a control request to shard 0 (directly when this is shard 0).
    pub async fn control(&self, request: ControlRequest) -> Result<ControlResponse, String> {
        match self
            .ctx
            .invoke_on(ShardId::CONTROL, ShardRequest::Control(request))
            .await
        {
            Ok(ShardResponse::Control(response)) => Ok(response),
            Ok(_) => Err("unexpected answer from the control shard".into()),
            Err(error) => Err(error.to_string()),
        }
    }

    fn local(&self, (topic, index): &PartitionRef) -> Option<Rc<Partition>> {
        self.partitions.get(topic, *index)
    }

    async fn produce(
        &self,
        acks: i16,
        now_ms: i64,
        parts: Vec<(PartitionRef, Bytes)>,
    ) -> Vec<ProduceOutcome> {
        let calls = parts.into_iter().map(|(partition, records)| {
            let local = self.local(&partition);
            async move {
                match local {
                    Some(partition) => partition.produce(records, acks, now_ms).await,
                    None => ProduceOutcome {
                        error: Some((
                            ResponseError::NotLeaderOrFollower,
                            "partition is not on this shard".into(),
                        )),
                        base_offset: -1,
                        log_append_time_ms: -1,
                        log_start_offset: -1,
                        record_errors: Vec::new(),
                    },
                }
            }
        });
        futures::future::join_all(calls).await
    }

    /// Reads for another shard: the bytes are copied out of this shard's
    /// buffers, because they cannot cross threads.
    async fn read(&self, parts: Vec<ReadPart>) -> Vec<ReadOutcome> {
        let mut outcomes = Vec::with_capacity(parts.len());
        for part in parts {
            let Some(partition) = self.local(&part.partition) else {
                outcomes.push(ReadOutcome {
                    error_code: ResponseError::NotLeaderOrFollower.code(),
                    high_watermark: -1,
                    log_start_offset: -1,
                    records: Bytes::new(),
                });
                continue;
            };
            let high_watermark = partition.high_watermark() as i64;
            let log_start_offset = partition.log.log_start_offset() as i64;
            if part.offset < 0 {
                outcomes.push(ReadOutcome {
                    error_code: ResponseError::OffsetOutOfRange.code(),
                    high_watermark,
                    log_start_offset,
                    records: Bytes::new(),
                });
                continue;
            }
            let outcome = match partition
                .read(part.offset as u64, part.max_bytes, part.min_one_batch)
                .await
            {
                Ok(read) => {
                    let mut records = BytesMut::with_capacity(read.bytes);
                    for chunk in &read.chunks {
                        records.extend_from_slice(chunk.as_slice());
                    }
                    ReadOutcome {
                        error_code: errors::NONE,
                        high_watermark,
                        log_start_offset,
                        records: records.freeze(),
                    }
                }
                Err(error) => ReadOutcome {
                    error_code: errors::from_io(&error).code(),
                    high_watermark,
                    log_start_offset,
                    records: Bytes::new(),
                },
            };
            outcomes.push(outcome);
        }
        outcomes
    }

    /// Waits until one of `parts` (owned here) gets new readable data.
    pub async fn wait_for_data(&self, parts: &[PartitionRef], timeout: Duration) {
        let partitions: Vec<Rc<Partition>> = parts.iter().filter_map(|p| self.local(p)).collect();
        if partitions.is_empty() {
            return;
        }
        let waits = partitions.iter().map(|p| {
            let seen = p.arrivals.version();
            Box::pin(p.arrivals.changed_since(seen))
        });
        let any = futures::future::select_all(waits);
        let timer = glommio::timer::sleep(timeout);
        futures::future::select(Box::pin(any), Box::pin(timer)).await;
    }

    pub async fn list_offset(&self, partition: &PartitionRef, timestamp: i64) -> OffsetOutcome {
        let Some(partition) = self.local(partition) else {
            return OffsetOutcome {
                error_code: ResponseError::NotLeaderOrFollower.code(),
                timestamp: -1,
                offset: -1,
            };
        };
        let found = |offset: u64| OffsetOutcome {
            error_code: errors::NONE,
            timestamp: -1,
            offset: offset as i64,
        };
        match timestamp {
            // Kafka's special timestamps: latest, earliest, max timestamp,
            // earliest local (no tiered storage here, so earliest).
            -1 => found(partition.high_watermark()),
            -2 | -4 => found(partition.log.log_start_offset()),
            -3 => match partition.log.max_timestamp() {
                Some((timestamp, offset)) => OffsetOutcome {
                    error_code: errors::NONE,
                    timestamp,
                    offset: offset as i64,
                },
                None => OffsetOutcome {
                    error_code: errors::NONE,
                    timestamp: -1,
                    offset: -1,
                },
            },
            timestamp => match partition.log.offset_for_timestamp(timestamp).await {
                Ok(Some((timestamp, offset))) => OffsetOutcome {
                    error_code: errors::NONE,
                    timestamp,
                    offset: offset as i64,
                },
                Ok(None) => OffsetOutcome {
                    error_code: errors::NONE,
                    timestamp: -1,
                    offset: -1,
                },
                Err(error) => OffsetOutcome {
                    error_code: errors::from_io(&error).code(),
                    timestamp: -1,
                    offset: -1,
                },
            },
        }
    }

    pub async fn delete_records(
        &self,
        partition: &PartitionRef,
        offset: i64,
    ) -> DeleteRecordsOutcome {
        let Some(partition) = self.local(partition) else {
            return DeleteRecordsOutcome {
                error_code: ResponseError::NotLeaderOrFollower.code(),
                low_watermark: -1,
            };
        };
        // -1 means "up to the high watermark".
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
}

/// The mesh handler: a shard's backend.
pub struct Backend(pub Rc<ShardState>);

impl ShardHandler<ShardRequest, ShardResponse> for Backend {
    async fn handle(&self, source: ShardId, request: ShardRequest) -> ShardResponse {
        let shard = &self.0;
        match request {
            ShardRequest::ApplyTopics(table) => {
                ShardResponse::Applied(shard.apply_topics(table).await)
            }
            ShardRequest::Produce {
                acks,
                now_ms,
                parts,
            } => ShardResponse::Produced(shard.produce(acks, now_ms, parts).await),
            ShardRequest::Read { parts } => ShardResponse::Read(shard.read(parts).await),
            ShardRequest::WaitForData { parts, timeout } => {
                shard.wait_for_data(&parts, timeout).await;
                ShardResponse::DataArrived
            }
            ShardRequest::ListOffsets { parts } => {
                let mut outcomes = Vec::with_capacity(parts.len());
                for (partition, timestamp) in &parts {
                    outcomes.push(shard.list_offset(partition, *timestamp).await);
                }
                ShardResponse::Offsets(outcomes)
            }
            ShardRequest::DeleteRecords { parts } => {
                let mut outcomes = Vec::with_capacity(parts.len());
                for (partition, offset) in &parts {
                    outcomes.push(shard.delete_records(partition, *offset).await);
                }
                ShardResponse::RecordsDeleted(outcomes)
            }
            ShardRequest::Group(call) => {
                ShardResponse::Group(shard.groups.handle(shard, call).await)
            }
            ShardRequest::GroupParked { call, ticket } => {
                let state = shard.clone();
                glommio::spawn_local(async move {
                    let reply = state.groups.handle(&state, call).await;
                    let answer = ShardRequest::GroupAnswer { ticket, reply };
                    if let Err(error) = state.context().invoke_on(source, answer).await {
                        tracing::warn!(%error, "a parked group call's answer could not be delivered");
                    }
                })
                .detach();
                ShardResponse::Parked
            }
            ShardRequest::GroupAnswer { ticket, reply } => {
                shard.parked_group_calls.complete(ticket, reply);
                ShardResponse::Applied(Ok(()))
            }
            ShardRequest::Control(request) => match &shard.control {
                Some(control) => ShardResponse::Control(control.handle(shard, request).await),
                None => ShardResponse::Control(ControlResponse::ProducerId(Err(
                    "control request sent to a shard other than 0".into(),
                ))),
            },
        }
    }
}
