//! ElectLeaders (key 43), v0-2: a preferred (v0, and `election_type` 0) or
//! unclean (`election_type` 1, v1+) leader election for the partitions
//! named, or for every partition when `topic_partitions` is null. Kafka's
//! admin clients send it to the controller; any other broker answers
//! `NOT_CONTROLLER` (v1+ as the top-level error, v0 per partition), as
//! Kafka's ZooKeeper-mode brokers do. The controller's agent on shard 0
//! runs the election (`cluster/agent/election.rs` has the rules); the
//! embedded node leads everything already (`ELECTION_NOT_NEEDED`).
//!
//! Per-partition errors: `ELECTION_NOT_NEEDED`, `PREFERRED_LEADER_NOT_AVAILABLE`,
//! `ELIGIBLE_LEADERS_NOT_AVAILABLE`, `UNKNOWN_TOPIC_OR_PARTITION`; an
//! unknown `election_type` is `INVALID_REQUEST`. A partition named twice is
//! elected once and reported once. `timeout_ms` is not waited on: the answer
//! comes when the new state is in ZooKeeper.

use std::rc::Rc;

use kafka_protocol::messages::elect_leaders_response::{PartitionResult, ReplicaElectionResult};
use kafka_protocol::messages::{
    ApiKey, ElectLeadersRequest, ElectLeadersResponse, RequestHeader, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use super::{encode, HandlerError, Reply};
use crate::broker::frontend;
use crate::broker::messages::{ControlRequest, ControlResponse};
use crate::broker::shard::ShardState;
use crate::cluster::agent::{Election, ElectionOutcome};
use crate::cluster::TopicPartition;

pub async fn handle(
    shard: &Rc<ShardState>,
    header: &RequestHeader,
    version: i16,
    request: ElectLeadersRequest,
) -> Result<Reply, HandlerError> {
    let reply = |response: ElectLeadersResponse| {
        encode(
            ApiKey::ElectLeaders,
            version,
            header.correlation_id,
            &response,
        )
    };
    let named: Option<Vec<TopicPartition>> = request.topic_partitions.as_ref().map(|topics| {
        let mut named: Vec<TopicPartition> = Vec::new();
        for topic in topics {
            let name: std::sync::Arc<str> = topic.topic.as_str().into();
            for &partition in &topic.partitions {
                let tp = TopicPartition::new(name.clone(), partition);
                if !named.contains(&tp) {
                    named.push(tp);
                }
            }
        }
        named
    });
    let election_type = if version >= 1 {
        request.election_type
    } else {
        0
    };
    let Some(election) = Election::from_wire(election_type) else {
        let error = (
            ResponseError::InvalidRequest,
            format!("Unknown election type {election_type}."),
        );
        let outcomes = every_partition_failed(named.unwrap_or_default(), error);
        return reply(response(version, None, outcomes));
    };
    let answer = match frontend::control::call(
        shard,
        ControlRequest::ElectLeaders {
            election,
            partitions: named.clone(),
        },
    )
    .await
    {
        Ok(ControlResponse::LeadersElected(answer)) => answer,
        Ok(_) => {
            tracing::error!("unexpected control answer to ElectLeaders");
            Err(ResponseError::UnknownServerError)
        }
        Err(error) => {
            tracing::error!(%error, "ElectLeaders: control shard unreachable");
            Err(ResponseError::UnknownServerError)
        }
    };
    let response = match answer {
        Ok(outcomes) => response(version, None, outcomes),
        // v0 has no top-level error: each partition carries it.
        Err(error) if version == 0 => {
            let message = error.to_string();
            response(
                version,
                None,
                every_partition_failed(named.unwrap_or_default(), (error, message)),
            )
        }
        Err(error) => response(version, Some(error), Vec::new()),
    };
    reply(response)
}

fn every_partition_failed(
    partitions: Vec<TopicPartition>,
    error: (ResponseError, String),
) -> Vec<ElectionOutcome> {
    partitions
        .into_iter()
        .map(|partition| ElectionOutcome {
            partition,
            error: Some(error.clone()),
        })
        .collect()
}

/// The response: outcomes grouped by topic, in the order first named.
fn response(
    version: i16,
    error: Option<ResponseError>,
    outcomes: Vec<ElectionOutcome>,
) -> ElectLeadersResponse {
    let mut by_topic: Vec<ReplicaElectionResult> = Vec::new();
    for outcome in outcomes {
        let mut result = PartitionResult::default().with_partition_id(outcome.partition.partition);
        if let Some((error, message)) = outcome.error {
            result = result
                .with_error_code(error.code())
                .with_error_message(Some(StrBytes::from_string(message)));
        }
        let topic = &*outcome.partition.topic;
        match by_topic.iter_mut().find(|r| r.topic.as_str() == topic) {
            Some(existing) => existing.partition_result.push(result),
            None => by_topic.push(
                ReplicaElectionResult::default()
                    .with_topic(TopicName(StrBytes::from_string(topic.to_string())))
                    .with_partition_result(vec![result]),
            ),
        }
    }
    let mut response = ElectLeadersResponse::default().with_replica_election_results(by_topic);
    if version >= 1 {
        response = response.with_error_code(error.map_or(0, |e| e.code()));
    }
    response
}
