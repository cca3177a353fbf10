//! DeleteRecords (key 21), v0-2: move each partition's log start offset up
//! to the requested offset (-1: the high watermark), on the shard that owns
//! the partition. The answer carries the new low watermark (log start
//! offset). Segments wholly below it are deleted by the owner; reads below it
//! are OFFSET_OUT_OF_RANGE from then on.
//!
//! `timeout_ms` is not used: on a single node there are no followers to wait
//! for, and the owner answers once the new start offset is checkpointed.
//! Errors: an unknown topic or partition is UNKNOWN_TOPIC_OR_PARTITION; an
//! internal topic INVALID_TOPIC_EXCEPTION (Kafka refuses those too); an
//! offset below -1 or above the high watermark OFFSET_OUT_OF_RANGE (from the
//! owner). Every error carries a low watermark of -1, as Kafka's do (the
//! owner reports the current one with OFFSET_OUT_OF_RANGE; it is dropped).

use std::rc::Rc;

use kafka_protocol::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use kafka_protocol::messages::{
    ApiKey, DeleteRecordsRequest, DeleteRecordsResponse, RequestHeader,
};
use kafka_protocol::ResponseError;

use super::{encode, HandlerError, Reply};
use crate::broker::frontend;
use crate::broker::messages::DeleteRecordsOutcome;
use crate::broker::shard::ShardState;
use crate::cluster::TopicPartition;

fn failed(error: ResponseError) -> DeleteRecordsOutcome {
    DeleteRecordsOutcome {
        error_code: error.code(),
        low_watermark: -1,
    }
}

pub async fn handle(
    shard: &Rc<ShardState>,
    header: &RequestHeader,
    version: i16,
    request: DeleteRecordsRequest,
) -> Result<Reply, HandlerError> {
    let table = shard.topics();
    // Every (topic, partition) in request order gets an outcome slot.
    let mut slots: Vec<(usize, i32, Option<DeleteRecordsOutcome>)> = Vec::new();
    let mut parts: Vec<frontend::Slotted<(TopicPartition, i64)>> = Vec::new();
    for (topic_index, topic) in request.topics.iter().enumerate() {
        let info = table.get(topic.name.as_str());
        for partition in &topic.partitions {
            let slot = slots.len();
            let index = partition.partition_index;
            let outcome = match info {
                Some(info) if info.internal => Some(failed(ResponseError::InvalidTopicException)),
                Some(info) if (0..info.partitions).contains(&index) => {
                    let target = TopicPartition::new(info.name.clone(), index);
                    parts.push((slot, (target, partition.offset)));
                    None
                }
                _ => Some(failed(ResponseError::UnknownTopicOrPartition)),
            };
            slots.push((topic_index, index, outcome));
        }
    }

    let answered = frontend::partitions::delete_records(shard, parts).await;
    for (slot, outcome) in answered {
        slots[slot].2 = Some(outcome);
    }

    let mut topics: Vec<DeleteRecordsTopicResult> = request
        .topics
        .iter()
        .map(|t| DeleteRecordsTopicResult::default().with_name(t.name.clone()))
        .collect();
    for (topic_index, partition, outcome) in slots {
        let mut outcome = outcome.expect("every slot answered");
        if outcome.error_code != 0 {
            outcome.low_watermark = -1;
        } else {
            tracing::info!(
                topic = %topics[topic_index].name.as_str(),
                partition,
                low_watermark = outcome.low_watermark,
                "deleted records"
            );
        }
        topics[topic_index].partitions.push(
            DeleteRecordsPartitionResult::default()
                .with_partition_index(partition)
                .with_low_watermark(outcome.low_watermark)
                .with_error_code(outcome.error_code),
        );
    }
    let response = DeleteRecordsResponse::default().with_topics(topics);
    encode(
        ApiKey::DeleteRecords,
        version,
        header.correlation_id,
        &response,
    )
}
