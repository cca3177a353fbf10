//! ListOffsets (key 2), v1-9: earliest (-2), latest (-1), max timestamp
//! (-3), earliest local (-4) and offset-for-timestamp lookups, answered by
//! each partition's owning shard.

use std::rc::Rc;

use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::{ApiKey, ListOffsetsRequest, ListOffsetsResponse, RequestHeader};
use kafka_protocol::ResponseError;

use super::{encode, HandlerError, Reply};
use crate::broker::frontend;
use crate::broker::messages::OffsetOutcome;
use crate::broker::shard::ShardState;
use crate::cluster::TopicPartition;

pub async fn handle(
    shard: &Rc<ShardState>,
    header: &RequestHeader,
    version: i16,
    request: ListOffsetsRequest,
) -> Result<Reply, HandlerError> {
    let table = shard.topics();
    let mut slots: Vec<(usize, i32, Option<OffsetOutcome>)> = Vec::new();
    let mut parts: Vec<frontend::Slotted<(TopicPartition, i64)>> = Vec::new();
    for (topic_index, topic) in request.topics.iter().enumerate() {
        let info = table.get(topic.name.as_str());
        for partition in &topic.partitions {
            let slot = slots.len();
            let outcome = match info {
                Some(info) if (0..info.partitions).contains(&partition.partition_index) => {
                    let target = TopicPartition::new(info.name.clone(), partition.partition_index);
                    parts.push((slot, (target, partition.timestamp)));
                    None
                }
                _ => Some(OffsetOutcome {
                    error_code: ResponseError::UnknownTopicOrPartition.code(),
                    timestamp: -1,
                    offset: -1,
                }),
            };
            slots.push((topic_index, partition.partition_index, outcome));
        }
    }
    let answered = frontend::partitions::list_offsets(shard, parts).await;
    for (slot, outcome) in answered {
        slots[slot].2 = Some(outcome);
    }
    let mut topics: Vec<ListOffsetsTopicResponse> = request
        .topics
        .iter()
        .map(|t| ListOffsetsTopicResponse::default().with_name(t.name.clone()))
        .collect();
    for (topic_index, partition, outcome) in slots {
        let outcome = outcome.expect("every slot answered");
        topics[topic_index].partitions.push(
            ListOffsetsPartitionResponse::default()
                .with_partition_index(partition)
                .with_error_code(outcome.error_code)
                .with_timestamp(outcome.timestamp)
                .with_offset(outcome.offset)
                .with_leader_epoch(if version >= 4 && outcome.offset >= 0 {
                    0
                } else {
                    -1
                }),
        );
    }
    let response = ListOffsetsResponse::default().with_topics(topics);
    encode(
        ApiKey::ListOffsets,
        version,
        header.correlation_id,
        &response,
    )
}
