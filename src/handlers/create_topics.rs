//! CreateTopics (key 19), v2-7: partitions, replication factor (1 on a
//! single node; up to the live brokers in a cluster), manual assignments,
//! configs, `validate_only`; created on the control shard and applied on
//! every shard before the answer.

use std::rc::Rc;

use kafka_protocol::messages::create_topics_response::{
    CreatableTopicConfigs, CreatableTopicResult,
};
use kafka_protocol::messages::{ApiKey, CreateTopicsRequest, CreateTopicsResponse, RequestHeader};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use super::{encode, HandlerError, Reply};
use crate::broker::frontend;
use crate::broker::messages::{ControlRequest, ControlResponse, NewTopic};
use crate::broker::shard::ShardState;

pub async fn handle(
    shard: &Rc<ShardState>,
    header: &RequestHeader,
    version: i16,
    request: CreateTopicsRequest,
) -> Result<Reply, HandlerError> {
    let broker_id = shard.config().broker_id;
    let mut early: Vec<Option<(ResponseError, String)>> = Vec::new();
    let mut topics = Vec::new();
    for topic in &request.topics {
        let mut partitions = topic.num_partitions;
        let mut replication_factor = topic.replication_factor;
        let mut error = None;
        if !topic.assignments.is_empty() {
            if partitions != -1 || replication_factor != -1 {
                error = Some((
                    ResponseError::InvalidRequest,
                    "Both numPartitions or replicationFactor and replicasAssignments were set. Both cannot be used at the same time.".to_string(),
                ));
            } else if !shard.is_clustered()
                && topic
                    .assignments
                    .iter()
                    .any(|a| a.broker_ids.iter().map(|b| b.0).ne([broker_id]))
            {
                error = Some((
                    ResponseError::InvalidReplicaAssignment,
                    format!("replica assignments may only name this broker ({broker_id})"),
                ));
            }
            if !shard.is_clustered() {
                partitions = topic.assignments.len() as i32;
                replication_factor = 1;
            }
        }
        early.push(error);
        topics.push(NewTopic {
            name: topic.name.as_str().to_string(),
            partitions,
            replication_factor,
            configs: topic
                .configs
                .iter()
                .map(|c| {
                    (
                        c.name.as_str().to_string(),
                        c.value.as_ref().map(|v| v.as_str().to_string()),
                    )
                })
                .collect(),
            assignments: if shard.is_clustered() {
                topic
                    .assignments
                    .iter()
                    .map(|a| {
                        (
                            a.partition_index,
                            a.broker_ids.iter().map(|b| b.0).collect(),
                        )
                    })
                    .collect()
            } else {
                Vec::new()
            },
        });
    }
    let to_create: Vec<NewTopic> = topics
        .iter()
        .zip(&early)
        .filter(|(_, e)| e.is_none())
        .map(|(t, _)| t.clone())
        .collect();
    let mut created = match frontend::control::call(
        shard,
        ControlRequest::CreateTopics {
            topics: to_create,
            validate_only: request.validate_only,
        },
    )
    .await
    {
        Ok(ControlResponse::TopicsCreated(outcomes)) => outcomes.into_iter(),
        Ok(_) | Err(_) => Vec::new().into_iter(),
    };
    let mut results = Vec::new();
    for (topic, error) in topics.iter().zip(early) {
        let mut result = CreatableTopicResult::default()
            .with_name(kafka_protocol::messages::TopicName(StrBytes::from_string(
                topic.name.clone(),
            )))
            .with_num_partitions(-1)
            .with_replication_factor(-1);
        let outcome_error = match error {
            Some(error) => Some(error),
            None => match created.next() {
                None => Some((
                    ResponseError::UnknownServerError,
                    "the control shard did not answer".to_string(),
                )),
                Some(outcome) => {
                    result = result.with_topic_id(outcome.id);
                    if outcome.error.is_none() {
                        result = result
                            .with_num_partitions(outcome.partitions)
                            .with_replication_factor(outcome.replication_factor)
                            .with_configs(Some(topic_configs(shard, topic)));
                    }
                    outcome.error
                }
            },
        };
        if let Some((error, message)) = outcome_error {
            result = result
                .with_error_code(error.code())
                .with_error_message(Some(StrBytes::from_string(message)));
        }
        results.push(result);
    }
    let response = CreateTopicsResponse::default().with_topics(results);
    encode(
        ApiKey::CreateTopics,
        version,
        header.correlation_id,
        &response,
    )
}

/// The new topic's configs as CreateTopics v5+ reports them.
fn topic_configs(shard: &ShardState, topic: &NewTopic) -> Vec<CreatableTopicConfigs> {
    let defaults = shard.partitions().defaults();
    let overrides = topic
        .configs
        .iter()
        .filter_map(|(name, value)| value.as_deref().map(|v| (name.as_str(), v)));
    let Ok(config) = defaults.with_overrides(overrides) else {
        return Vec::new();
    };
    defaults
        .describe(&config)
        .into_iter()
        .map(|entry| {
            CreatableTopicConfigs::default()
                .with_name(StrBytes::from_static_str(entry.name))
                .with_value(entry.value.map(StrBytes::from_string))
                .with_read_only(entry.read_only)
                .with_config_source(entry.source.code())
                .with_is_sensitive(entry.sensitive)
        })
        .collect()
}
