//! The typed messages shards send each other over the mesh.
//!
//! Everything here is `Send` and owns its data: record bytes travel as
//! `Bytes` (the request frame's own buffer, no copy, on the way in; a copy
//! out of the owner's cache on the way back, since the cache's buffers are
//! shard-local). A fetch whose partition lives on the connection's own
//! shard never comes through here and copies nothing.
//!
//! Only the frontend (`frontend/`) sends these and only the backend
//! (`backend.rs`) answers them.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::ResponseError;
use uuid::Uuid;

use super::config_edit::ConfigEdit;
use crate::cluster::agent::{
    Election, ElectionOutcome, OngoingReassignment, ReassignmentRequest, Refusal,
};
use crate::cluster::{ClusterView, TopicPartition, TopicTable};
use crate::coordinator::calls::{GroupCall, GroupReply};
use crate::partition::{ProduceOutcome, RecordsFormat};

pub enum ShardRequest {
    /// A newer topic table from the control shard: open what this shard now
    /// owns, close what was deleted.
    ApplyTopics(TopicTable),
    /// A newer cluster view from shard 0's cluster agent (cluster mode):
    /// route by it, open the replicas this broker holds, coordinate the
    /// groups of the `__consumer_offsets` partitions it leads.
    ApplyCluster(Arc<ClusterView>),
    Produce {
        acks: i16,
        now_ms: i64,
        /// How long `acks=all` waits for the in-sync replicas.
        timeout: Duration,
        /// What the records may be: v2 batches, or (Produce v0-2) old
        /// message sets too.
        format: RecordsFormat,
        parts: Vec<(TopicPartition, Bytes)>,
    },
    Read {
        parts: Vec<ReadPart>,
    },
    /// Answer once any of `parts` has new readable data, or after `timeout`.
    WaitForData {
        parts: Vec<TopicPartition>,
        timeout: Duration,
    },
    ListOffsets {
        parts: Vec<(TopicPartition, i64)>,
    },
    DeleteRecords {
        parts: Vec<(TopicPartition, i64)>,
    },
    /// Topic changes and producer ids: only the control shard (0) answers.
    Control(ControlRequest),
    /// OffsetsForLeaderEpoch for partitions this shard holds: (partition,
    /// the requester's current epoch, the epoch asked about).
    EpochEndOffsets {
        parts: Vec<(TopicPartition, i32, i32)>,
    },
    /// DescribeLogDirs: the replicas this shard holds (leading or
    /// following), every one or those named.
    ReplicaSizes {
        wanted: Option<Vec<TopicPartition>>,
    },
    /// A consumer-group request for a group this shard coordinates.
    Group(GroupCall),
    /// A group request that may wait (JoinGroup, SyncGroup): answered at
    /// once with `Parked`; the reply comes back as a `GroupAnswer`.
    GroupParked {
        call: GroupCall,
        ticket: u64,
    },
    /// The reply to a parked call this shard made.
    GroupAnswer {
        ticket: u64,
        reply: GroupReply,
    },
}

pub enum ShardResponse {
    Applied(Result<(), String>),
    Produced(Vec<ProduceOutcome>),
    Read(Vec<ReadOutcome>),
    DataArrived,
    Offsets(Vec<OffsetOutcome>),
    RecordsDeleted(Vec<DeleteRecordsOutcome>),
    Control(ControlResponse),
    /// Per part: error code, epoch, end offset.
    EpochEndOffsets(Vec<(i16, i32, i64)>),
    Group(GroupReply),
    Parked,
    ReplicaSizes(Vec<ReplicaSize>),
}

/// One replica this broker holds, for DescribeLogDirs.
#[derive(Clone, Debug)]
pub struct ReplicaSize {
    pub partition: TopicPartition,
    /// Bytes of all its segments.
    pub size_bytes: u64,
    /// How far its log end is behind its high watermark (0 once caught up;
    /// Kafka's `offset_lag` of a current log).
    pub offset_lag: i64,
}

/// One partition of a fetch: where to read and how much.
#[derive(Clone, Debug)]
pub struct ReadPart {
    pub partition: TopicPartition,
    pub offset: i64,
    pub max_bytes: usize,
    pub min_one_batch: bool,
    /// The fetching follower's broker id; -1 for a consumer.
    pub replica_id: i32,
    /// The leader epoch the fetcher believes in; -1 when it does not say.
    pub current_leader_epoch: i32,
}

/// One partition's fetch result from another shard.
#[derive(Clone, Debug)]
pub struct ReadOutcome {
    pub error_code: i16,
    pub high_watermark: i64,
    pub log_start_offset: i64,
    pub records: Bytes,
}

#[derive(Clone, Copy, Debug)]
pub struct OffsetOutcome {
    pub error_code: i16,
    pub timestamp: i64,
    pub offset: i64,
}

#[derive(Clone, Copy, Debug)]
pub struct DeleteRecordsOutcome {
    pub error_code: i16,
    pub low_watermark: i64,
}

/// A topic change or producer id request for the control shard.
pub enum ControlRequest {
    CreateTopics {
        topics: Vec<NewTopic>,
        validate_only: bool,
    },
    DeleteTopics {
        topics: Vec<TopicSelector>,
    },
    CreatePartitions {
        changes: Vec<PartitionGrowth>,
        validate_only: bool,
    },
    AllocateProducerId,
    /// A leader's proposed ISR for one of its partitions (cluster mode),
    /// written to the partition's state znode if `state_version` still
    /// holds; answered with `IsrAltered`.
    AlterIsr {
        partition: TopicPartition,
        leader_epoch: i32,
        isr: Vec<i32>,
        state_version: i32,
    },
    /// Creates `__consumer_offsets` in a cluster if it is missing (Kafka
    /// does so on the first FindCoordinator); answered with
    /// `TopicsCreated`.
    EnsureOffsetsTopic,
    /// AlterConfigs / IncrementalAlterConfigs on topics, one outcome each.
    AlterTopicConfigs {
        changes: Vec<(String, ConfigEdit)>,
        validate_only: bool,
    },
    /// ElectLeaders (None: every partition); answered with
    /// `LeadersElected`.
    ElectLeaders {
        election: Election,
        partitions: Option<Vec<TopicPartition>>,
    },
    /// AlterPartitionReassignments; answered with `ReassignmentsAltered`.
    AlterReassignments {
        partitions: Vec<ReassignmentRequest>,
        allow_replication_factor_change: bool,
    },
    /// ListPartitionReassignments (None: every partition); answered with
    /// `ReassignmentsListed`.
    ListReassignments {
        partitions: Option<Vec<TopicPartition>>,
    },
}

pub enum ControlResponse {
    TopicsCreated(Vec<TopicOutcome>),
    TopicsDeleted(Vec<TopicOutcome>),
    PartitionsCreated(Vec<TopicOutcome>),
    ProducerId(Result<i64, String>),
    IsrAltered(Result<(), String>),
    TopicConfigsAltered(Vec<Result<(), (ResponseError, String)>>),
    /// Err: this broker is not the controller (`NOT_CONTROLLER`).
    LeadersElected(Result<Vec<ElectionOutcome>, ResponseError>),
    /// Each partition's outcome (None: accepted); Err: `NOT_CONTROLLER`.
    ReassignmentsAltered(Result<Vec<(TopicPartition, Option<Refusal>)>, ResponseError>),
    /// Err: `NOT_CONTROLLER`.
    ReassignmentsListed(Result<Vec<OngoingReassignment>, ResponseError>),
}

#[derive(Clone, Debug)]
pub struct NewTopic {
    pub name: String,
    /// -1: `num.partitions`.
    pub partitions: i32,
    /// -1: `default.replication.factor`.
    pub replication_factor: i16,
    pub configs: Vec<(String, Option<String>)>,
    /// Replicas by partition (CreateTopics' manual assignment); then the
    /// two counts above are -1.
    pub assignments: Vec<(i32, Vec<i32>)>,
}

/// One topic of CreatePartitions.
#[derive(Clone, Debug)]
pub struct PartitionGrowth {
    pub topic: String,
    /// The partition count asked for.
    pub count: i32,
    /// The new partitions' replicas, if the request gives them.
    pub assignments: Option<Vec<Vec<i32>>>,
}

#[derive(Clone, Debug)]
pub enum TopicSelector {
    Name(String),
    Id(Uuid),
}

/// The result for one topic of a control request.
#[derive(Clone, Debug)]
pub struct TopicOutcome {
    pub name: String,
    pub id: Uuid,
    pub error: Option<(ResponseError, String)>,
    pub partitions: i32,
    pub replication_factor: i16,
}

impl TopicOutcome {
    pub fn failed(name: &str, error: ResponseError, message: impl Into<String>) -> Self {
        TopicOutcome {
            name: name.to_string(),
            id: Uuid::nil(),
            error: Some((error, message.into())),
            partitions: -1,
            replication_factor: -1,
        }
    }
}
