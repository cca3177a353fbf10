//! OffsetCommit (key 8), v2-9 (Kafka 4.0 dropped v0-1).
//!
//! Partitions of unknown topics (or past a topic's partition count) get
//! UNKNOWN_TOPIC_OR_PARTITION; the rest go to the group's shard, which
//! checks the member (generation -1 with no member id is a "simple" commit,
//! accepted only while the group has no members) and writes all of them in
//! one batch to `__consumer_offsets` before answering. The partitions may
//! live on any shards: a commit only names them. `retention_time_ms`
//! (v2-4) is ignored, as Kafka ignores it: `offsets.retention.minutes`
//! decides.

use std::rc::Rc;

use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::{ApiKey, OffsetCommitRequest, OffsetCommitResponse, RequestHeader};
use kafka_protocol::ResponseError;

use super::group_support::{opt_text, route, text};
use super::{encode, HandlerError, Reply};
use crate::broker::shard::ShardState;
use crate::coordinator::calls::{CommitCall, CommitPart, GroupCall, GroupReply, MemberRef};

pub async fn handle(
    shard: &Rc<ShardState>,
    header: &RequestHeader,
    version: i16,
    request: OffsetCommitRequest,
) -> Result<Reply, HandlerError> {
    let group_id = text(&request.group_id);
    let topics = shard.topics();
    // (topic index, partition index) of every part, with its error if it
    // never reaches the coordinator.
    let mut slots: Vec<(usize, usize, Option<i16>)> = Vec::new();
    let mut parts = Vec::new();
    for (t, topic) in request.topics.iter().enumerate() {
        let name = text(&topic.name);
        let known = topics.get(&name).map(|info| info.partitions);
        for (p, partition) in topic.partitions.iter().enumerate() {
            let exists = known.is_some_and(|n| (0..n).contains(&partition.partition_index));
            if !exists {
                slots.push((t, p, Some(ResponseError::UnknownTopicOrPartition.code())));
                continue;
            }
            slots.push((t, p, None));
            parts.push(CommitPart {
                topic: name.clone(),
                partition: partition.partition_index,
                offset: partition.committed_offset,
                leader_epoch: if version >= 6 {
                    partition.committed_leader_epoch
                } else {
                    -1
                },
                metadata: opt_text(&partition.committed_metadata),
            });
        }
    }
    let count = parts.len();
    let codes = if parts.is_empty() {
        Vec::new()
    } else {
        let call = CommitCall {
            member: MemberRef {
                group_id: group_id.clone(),
                generation: request.generation_id_or_member_epoch,
                member_id: text(&request.member_id),
                instance_id: opt_text(&request.group_instance_id),
            },
            offsets: parts,
        };
        match route(shard, &group_id, GroupCall::Commit(call)).await {
            Ok(GroupReply::Commit(codes)) if codes.len() == count => codes,
            Ok(_) => vec![ResponseError::UnknownServerError.code(); count],
            Err(error) => vec![error; count],
        }
    };
    let mut answered = codes.into_iter();
    let mut response_topics: Vec<OffsetCommitResponseTopic> = request
        .topics
        .iter()
        .map(|t| OffsetCommitResponseTopic::default().with_name(t.name.clone()))
        .collect();
    for (t, p, error) in slots {
        let code = error.unwrap_or_else(|| answered.next().unwrap_or(0));
        let index = request.topics[t].partitions[p].partition_index;
        response_topics[t].partitions.push(
            OffsetCommitResponsePartition::default()
                .with_partition_index(index)
                .with_error_code(code),
        );
    }
    let response = OffsetCommitResponse::default().with_topics(response_topics);
    encode(
        ApiKey::OffsetCommit,
        version,
        header.correlation_id,
        &response,
    )
}
