//! ListPartitionReassignments (key 46), v0 (KIP-455): the reassignments
//! under way, for the partitions named or (null topics) all of them, with
//! each partition's replicas and the ones being added and removed. Sent to
//! the controller, which answers from its view of ZooKeeper; any other
//! broker answers `NOT_CONTROLLER`. Partitions named that are not moving
//! (or do not exist) are left out, as Kafka does.

use std::rc::Rc;
use std::sync::Arc;

use kafka_protocol::messages::list_partition_reassignments_response::{
    OngoingPartitionReassignment, OngoingTopicReassignment,
};
use kafka_protocol::messages::{
    ApiKey, BrokerId, ListPartitionReassignmentsRequest, ListPartitionReassignmentsResponse,
    RequestHeader,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use super::{encode, HandlerError, Reply};
use crate::broker::frontend;
use crate::broker::messages::{ControlRequest, ControlResponse};
use crate::broker::shard::ShardState;
use crate::cluster::TopicPartition;

pub async fn handle(
    shard: &Rc<ShardState>,
    header: &RequestHeader,
    version: i16,
    request: ListPartitionReassignmentsRequest,
) -> Result<Reply, HandlerError> {
    let partitions = request.topics.as_ref().map(|topics| {
        topics
            .iter()
            .flat_map(|topic| {
                let name: Arc<str> = topic.name.as_str().into();
                topic
                    .partition_indexes
                    .iter()
                    .map(move |&index| TopicPartition::new(name.clone(), index))
            })
            .collect::<Vec<_>>()
    });
    let answer = match frontend::control::call(
        shard,
        ControlRequest::ListReassignments { partitions },
    )
    .await
    {
        Ok(ControlResponse::ReassignmentsListed(answer)) => answer,
        Ok(_) => {
            tracing::error!("unexpected control answer to ListPartitionReassignments");
            Err(ResponseError::UnknownServerError)
        }
        Err(error) => {
            tracing::error!(%error, "ListPartitionReassignments: control shard unreachable");
            Err(ResponseError::UnknownServerError)
        }
    };
    let response = match answer {
        Ok(ongoing) => {
            let mut topics: Vec<OngoingTopicReassignment> = Vec::new();
            for moving in ongoing {
                let ids = |list: &[i32]| list.iter().map(|&b| BrokerId(b)).collect::<Vec<_>>();
                let partition = OngoingPartitionReassignment::default()
                    .with_partition_index(moving.partition.partition)
                    .with_replicas(ids(&moving.replicas))
                    .with_adding_replicas(ids(&moving.adding))
                    .with_removing_replicas(ids(&moving.removing));
                let name = &*moving.partition.topic;
                match topics.iter_mut().find(|t| t.name.as_str() == name) {
                    Some(topic) => topic.partitions.push(partition),
                    None => topics.push(
                        OngoingTopicReassignment::default()
                            .with_name(StrBytes::from_string(name.to_string()).into())
                            .with_partitions(vec![partition]),
                    ),
                }
            }
            ListPartitionReassignmentsResponse::default().with_topics(topics)
        }
        Err(error) => ListPartitionReassignmentsResponse::default()
            .with_error_code(error.code())
            .with_error_message(Some(StrBytes::from_string(error.to_string()))),
    };
    encode(
        ApiKey::ListPartitionReassignments,
        version,
        header.correlation_id,
        &response,
    )
}
