//! OffsetDelete (key 47), v0: removes a group's committed offsets for
//! some partitions. Refused per partition with GROUP_SUBSCRIBED_TO_TOPIC
//! while a member of the group subscribes to the topic; an unknown topic
//! or partition is UNKNOWN_TOPIC_OR_PARTITION; an unknown group
//! GROUP_ID_NOT_FOUND.

use std::rc::Rc;

use kafka_protocol::messages::offset_delete_response::{
    OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use kafka_protocol::messages::{ApiKey, OffsetDeleteRequest, OffsetDeleteResponse, RequestHeader};
use kafka_protocol::ResponseError;

use super::group_support::{route, text};
use super::{encode, HandlerError, Reply};
use crate::broker::shard::ShardState;
use crate::coordinator::calls::{GroupCall, GroupReply};

pub async fn handle(
    shard: &Rc<ShardState>,
    header: &RequestHeader,
    version: i16,
    request: OffsetDeleteRequest,
) -> Result<Reply, HandlerError> {
    let group_id = text(&request.group_id);
    let topics = shard.topics();
    let mut slots: Vec<(usize, i32, Option<i16>)> = Vec::new();
    let mut partitions = Vec::new();
    for (t, topic) in request.topics.iter().enumerate() {
        let name = text(&topic.name);
        let known = topics.get(&name).map(|info| info.partitions);
        for partition in &topic.partitions {
            let index = partition.partition_index;
            if known.is_some_and(|n| (0..n).contains(&index)) {
                slots.push((t, index, None));
                partitions.push((name.clone(), index));
            } else {
                slots.push((
                    t,
                    index,
                    Some(ResponseError::UnknownTopicOrPartition.code()),
                ));
            }
        }
    }
    let count = partitions.len();
    let call = GroupCall::DeleteOffsets {
        group_id: group_id.clone(),
        partitions,
    };
    let (error, codes) = match route(shard, &group_id, call).await {
        Ok(GroupReply::DeleteOffsets { error, partitions }) => (error, partitions),
        Ok(_) => (ResponseError::UnknownServerError.code(), Vec::new()),
        Err(error) => (error, Vec::new()),
    };
    let mut response = OffsetDeleteResponse::default().with_error_code(error);
    if error == 0 && codes.len() == count {
        let mut answered = codes.into_iter();
        let mut response_topics: Vec<OffsetDeleteResponseTopic> = request
            .topics
            .iter()
            .map(|t| OffsetDeleteResponseTopic::default().with_name(t.name.clone()))
            .collect();
        for (t, index, error) in slots {
            let code = error.unwrap_or_else(|| answered.next().unwrap_or(0));
            response_topics[t].partitions.push(
                OffsetDeleteResponsePartition::default()
                    .with_partition_index(index)
                    .with_error_code(code),
            );
        }
        response.topics = response_topics;
    }
    encode(
        ApiKey::OffsetDelete,
        version,
        header.correlation_id,
        &response,
    )
}
