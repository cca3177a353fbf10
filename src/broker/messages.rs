//! The typed messages shards send each other over the mesh.
//!
//! Everything here is `Send` and owns its data: record bytes travel as
//! `Bytes` (the request frame's own buffer, no copy, on the way in; a copy
//! out of the owner's cache on the way back, since the cache's buffers are
//! shard-local). A fetch whose partition lives on the connection's own
//! shard never comes through here and copies nothing.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use crate::cluster::TopicTable;
use crate::partition::ProduceOutcome;

/// A partition named by topic and index.
pub type PartitionRef = (Arc<str>, i32);

pub enum ShardRequest {
    /// A newer topic table from the control shard: open what this shard now
    /// owns, close what was deleted.
    ApplyTopics(TopicTable),
    Produce {
        acks: i16,
        now_ms: i64,
        parts: Vec<(PartitionRef, Bytes)>,
    },
    Read {
        parts: Vec<ReadPart>,
    },
    /// Answer once any of `parts` has new readable data, or after `timeout`.
    WaitForData {
        parts: Vec<PartitionRef>,
        timeout: Duration,
    },
    ListOffsets {
        parts: Vec<(PartitionRef, i64)>,
    },
    DeleteRecords {
        parts: Vec<(PartitionRef, i64)>,
    },
    /// Topic changes and producer ids: only the control shard (0) answers.
    Control(super::control::ControlRequest),
    /// A consumer-group request for a group this shard coordinates.
    Group(crate::coordinator::calls::GroupCall),
    /// A group request that may wait (JoinGroup, SyncGroup): answered at
    /// once with `Parked`; the reply comes back as a `GroupAnswer`.
    GroupParked {
        call: crate::coordinator::calls::GroupCall,
        ticket: u64,
    },
    /// The reply to a parked call this shard made.
    GroupAnswer {
        ticket: u64,
        reply: crate::coordinator::calls::GroupReply,
    },
}

pub enum ShardResponse {
    Applied(Result<(), String>),
    Produced(Vec<ProduceOutcome>),
    Read(Vec<ReadOutcome>),
    DataArrived,
    Offsets(Vec<OffsetOutcome>),
    RecordsDeleted(Vec<DeleteRecordsOutcome>),
    Control(super::control::ControlResponse),
    Group(crate::coordinator::calls::GroupReply),
    Parked,
}

#[derive(Clone, Debug)]
pub struct ReadPart {
    pub partition: PartitionRef,
    pub offset: i64,
    pub max_bytes: usize,
    pub min_one_batch: bool,
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
