//! OffsetsForLeaderEpoch (key 23), v0-4 (v0-1, which Kafka 4.0's schemas
//! dropped, are patched back into the vendored kafka-protocol: v0 answers
//! only the end offset, v1 adds the epoch, v2 the current leader epoch
//! check): where a leader epoch ends in the leader's log (KIP-101). A follower asks after a leader change and truncates what it
//! has past that point; consumers ask to detect truncation (KIP-320).
//!
//! Each partition is answered by the shard of this broker that leads it:
//! `(epoch, end offset)` per Kafka's `endOffsetFor`; a partition this
//! broker does not lead is NOT_LEADER_OR_FOLLOWER, an unknown one
//! UNKNOWN_TOPIC_OR_PARTITION; a `current_leader_epoch` older than the
//! leader's is FENCED_LEADER_EPOCH, a newer one UNKNOWN_LEADER_EPOCH.

use std::rc::Rc;

use kafka_protocol::messages::offset_for_leader_epoch_response::{
    EpochEndOffset, OffsetForLeaderTopicResult,
};
use kafka_protocol::messages::{
    ApiKey, OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse, RequestHeader,
};
use kafka_protocol::ResponseError;

use super::{encode, HandlerError, Reply};
use crate::broker::frontend;
use crate::broker::shard::ShardState;

pub async fn handle(
    shard: &Rc<ShardState>,
    header: &RequestHeader,
    version: i16,
    request: OffsetForLeaderEpochRequest,
) -> Result<Reply, HandlerError> {
    let routing = shard.routing();
    let mut answers: Vec<Vec<EpochEndOffset>> = Vec::with_capacity(request.topics.len());
    let mut parts = Vec::new();
    let mut slots = Vec::new();
    for (topic_index, topic) in request.topics.iter().enumerate() {
        let mut partitions = Vec::with_capacity(topic.partitions.len());
        for partition in &topic.partitions {
            let answer = EpochEndOffset::default()
                .with_partition(partition.partition)
                .with_leader_epoch(-1)
                .with_end_offset(-1);
            if let Some(tp) = routing.partition(topic.topic.as_str(), partition.partition) {
                parts.push((
                    slots.len(),
                    (tp, (partition.current_leader_epoch, partition.leader_epoch)),
                ));
                slots.push((topic_index, partitions.len()));
            }
            partitions.push(answer.with_error_code(ResponseError::UnknownTopicOrPartition.code()));
        }
        answers.push(partitions);
    }
    for (slot, (error_code, epoch, end_offset)) in
        frontend::partitions::epoch_end_offsets(shard, parts).await
    {
        let (topic_index, partition_index) = slots[slot];
        let answer = &mut answers[topic_index][partition_index];
        answer.error_code = error_code;
        answer.leader_epoch = epoch;
        answer.end_offset = end_offset;
    }
    let response = OffsetForLeaderEpochResponse::default().with_topics(
        request
            .topics
            .iter()
            .zip(answers)
            .map(|(topic, partitions)| {
                OffsetForLeaderTopicResult::default()
                    .with_topic(topic.topic.clone())
                    .with_partitions(partitions)
            })
            .collect(),
    );
    encode(
        ApiKey::OffsetForLeaderEpoch,
        version,
        header.correlation_id,
        &response,
    )
}
