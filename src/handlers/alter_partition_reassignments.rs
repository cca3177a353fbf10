//! AlterPartitionReassignments (key 45), v0-1 (KIP-455): move partitions'
//! replicas to other brokers, change a reassignment under way, or cancel it
//! (null replicas). Kafka's admin clients (and `sluice reassign-partitions`,
//! `kafka-reassign-partitions.sh --execute/--cancel`) send it to the
//! controller; any other broker answers `NOT_CONTROLLER`. The controller
//! writes the new assignment and moves the partition on as its new replicas
//! catch up (`cluster/agent/reassignment.rs`); the answer comes once the
//! reassignment has started, not when it ends (ListPartitionReassignments
//! shows it under way). v1's `allow_replication_factor_change` false
//! refuses a target of another size with `INVALID_REPLICATION_FACTOR`
//! (KIP-860). Per-partition errors: `INVALID_REPLICA_ASSIGNMENT`,
//! `NO_REASSIGNMENT_IN_PROGRESS`, `UNKNOWN_TOPIC_OR_PARTITION`.

use std::rc::Rc;
use std::sync::Arc;

use kafka_protocol::messages::alter_partition_reassignments_response::{
    ReassignablePartitionResponse, ReassignableTopicResponse,
};
use kafka_protocol::messages::{
    AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponse, ApiKey, RequestHeader,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use super::{encode, HandlerError, Reply};
use crate::broker::frontend;
use crate::broker::messages::{ControlRequest, ControlResponse};
use crate::broker::shard::ShardState;
use crate::cluster::agent::{ReassignmentRequest, Refusal};
use crate::cluster::TopicPartition;

pub async fn handle(
    shard: &Rc<ShardState>,
    header: &RequestHeader,
    version: i16,
    request: AlterPartitionReassignmentsRequest,
) -> Result<Reply, HandlerError> {
    let allow_replication_factor_change = version < 1 || request.allow_replication_factor_change;
    let mut partitions: Vec<ReassignmentRequest> = Vec::new();
    for topic in &request.topics {
        let name: Arc<str> = topic.name.as_str().into();
        for partition in &topic.partitions {
            let tp = TopicPartition::new(name.clone(), partition.partition_index);
            // A partition named twice: the last target counts, as a map
            // from partition to target would have it.
            partitions.retain(|p| p.partition != tp);
            partitions.push(ReassignmentRequest {
                partition: tp,
                target: partition
                    .replicas
                    .as_ref()
                    .map(|replicas| replicas.iter().map(|b| b.0).collect()),
            });
        }
    }
    let answer = match frontend::control::call(
        shard,
        ControlRequest::AlterReassignments {
            partitions,
            allow_replication_factor_change,
        },
    )
    .await
    {
        Ok(ControlResponse::ReassignmentsAltered(answer)) => answer,
        Ok(_) => {
            tracing::error!("unexpected control answer to AlterPartitionReassignments");
            Err(ResponseError::UnknownServerError)
        }
        Err(error) => {
            tracing::error!(%error, "AlterPartitionReassignments: control shard unreachable");
            Err(ResponseError::UnknownServerError)
        }
    };
    let mut response = AlterPartitionReassignmentsResponse::default();
    if version >= 1 {
        response = response.with_allow_replication_factor_change(allow_replication_factor_change);
    }
    let response = match answer {
        Ok(outcomes) => response.with_responses(by_topic(outcomes)),
        Err(error) => response
            .with_error_code(error.code())
            .with_error_message(Some(StrBytes::from_string(error.to_string()))),
    };
    encode(
        ApiKey::AlterPartitionReassignments,
        version,
        header.correlation_id,
        &response,
    )
}

/// Outcomes grouped by topic, in the order first named.
fn by_topic(outcomes: Vec<(TopicPartition, Option<Refusal>)>) -> Vec<ReassignableTopicResponse> {
    let mut topics: Vec<ReassignableTopicResponse> = Vec::new();
    for (partition, refusal) in outcomes {
        let mut result =
            ReassignablePartitionResponse::default().with_partition_index(partition.partition);
        if let Some((error, message)) = refusal {
            result = result
                .with_error_code(error.code())
                .with_error_message(Some(StrBytes::from_string(message)));
        }
        let name = &*partition.topic;
        match topics.iter_mut().find(|t| t.name.as_str() == name) {
            Some(topic) => topic.partitions.push(result),
            None => topics.push(
                ReassignableTopicResponse::default()
                    .with_name(StrBytes::from_string(name.to_string()).into())
                    .with_partitions(vec![result]),
            ),
        }
    }
    topics
}
