//! Metadata (key 3), v0-12: brokers, topics, partitions and leaders (this
//! broker alone on the embedded node; the cluster view in a cluster), with
//! topic auto-creation per `auto.create.topics.enable`.

use std::rc::Rc;
use std::sync::Arc;

use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{
    ApiKey, BrokerId, MetadataRequest, MetadataResponse, RequestHeader, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;
use uuid::Uuid;

use super::{encode, HandlerError, Reply};
use crate::broker::frontend;
use crate::broker::messages::{ControlRequest, ControlResponse, NewTopic};
use crate::broker::shard::ShardState;
use crate::cluster::topics::validate_topic_name;
use crate::cluster::{ClusterView, TopicInfo, TopicPartition};

/// Kafka's "authorized operations not requested" value.
const OPERATIONS_NOT_REQUESTED: i32 = i32::MIN;
/// READ, WRITE, CREATE, DELETE, ALTER, DESCRIBE, DESCRIBE_CONFIGS,
/// ALTER_CONFIGS: everything, since Sluice has no authorizer yet.
const TOPIC_OPERATIONS_ALL: i32 =
    (1 << 3) | (1 << 4) | (1 << 5) | (1 << 6) | (1 << 7) | (1 << 8) | (1 << 10) | (1 << 11);
/// CREATE, ALTER, DESCRIBE, CLUSTER_ACTION, DESCRIBE_CONFIGS, ALTER_CONFIGS,
/// IDEMPOTENT_WRITE.
const CLUSTER_OPERATIONS_ALL: i32 =
    (1 << 5) | (1 << 7) | (1 << 8) | (1 << 9) | (1 << 10) | (1 << 11) | (1 << 12);

pub async fn handle(
    shard: &Rc<ShardState>,
    header: &RequestHeader,
    version: i16,
    request: MetadataRequest,
) -> Result<Reply, HandlerError> {
    // v0 has no null: an empty list means all topics.
    let all_topics = request.topics.is_none()
        || (version == 0 && request.topics.as_ref().is_some_and(|t| t.is_empty()));
    let allow_auto_create = version < 4 || request.allow_auto_topic_creation;
    let broker_id = shard.config().broker_id;
    let routing = shard.routing();
    let ops = request.include_topic_authorized_operations;

    let mut topics = Vec::new();
    if all_topics {
        for info in routing.topics().iter() {
            topics.push(describe_topic(info, broker_id, routing.cluster(), ops));
        }
    } else {
        let wanted = request.topics.unwrap_or_default();
        let missing: Vec<String> = wanted
            .iter()
            .filter_map(|t| t.name.as_ref().map(|n| n.as_str().to_string()))
            .filter(|name| shard.topics().get(name).is_none() && validate_topic_name(name).is_ok())
            .collect();
        if allow_auto_create && shard.config().auto_create_topics_enable && !missing.is_empty() {
            auto_create(shard, missing).await;
        }
        // Auto-creation answered with a newer routing table.
        let routing = shard.routing();
        let table = routing.topics();
        for topic in wanted {
            let found = match &topic.name {
                Some(name) => table.get(name.as_str()),
                None => table.get_by_id(&topic.topic_id),
            };
            topics.push(match found {
                Some(info) => describe_topic(info, broker_id, routing.cluster(), ops),
                None => {
                    let (error, name) = match &topic.name {
                        Some(name) if validate_topic_name(name.as_str()).is_err() => {
                            (ResponseError::InvalidTopicException, Some(name.clone()))
                        }
                        Some(name) => (ResponseError::UnknownTopicOrPartition, Some(name.clone())),
                        None => (ResponseError::UnknownTopicId, None),
                    };
                    MetadataResponseTopic::default()
                        .with_error_code(error.code())
                        .with_name(name)
                        .with_topic_id(topic.topic_id)
                        .with_topic_authorized_operations(OPERATIONS_NOT_REQUESTED)
                }
            });
        }
    }
    let routing = shard.routing();
    let (brokers, controller) = match routing.cluster() {
        Some(view) => (
            view.brokers
                .values()
                .map(|b| {
                    MetadataResponseBroker::default()
                        .with_node_id(BrokerId(b.id))
                        .with_host(StrBytes::from_string(b.host.clone()))
                        .with_port(i32::from(b.port))
                        .with_rack(b.rack.clone().map(StrBytes::from_string))
                })
                .collect(),
            view.controller.unwrap_or(-1),
        ),
        None => (
            vec![MetadataResponseBroker::default()
                .with_node_id(BrokerId(broker_id))
                .with_host(StrBytes::from_string(shard.advertised().host.clone()))
                .with_port(shard.advertised().port as i32)],
            broker_id,
        ),
    };
    let response = MetadataResponse::default()
        .with_brokers(brokers)
        .with_cluster_id(Some(StrBytes::from_string(shard.cluster_id())))
        .with_controller_id(BrokerId(controller))
        .with_topics(topics)
        .with_cluster_authorized_operations(if request.include_cluster_authorized_operations {
            CLUSTER_OPERATIONS_ALL
        } else {
            OPERATIONS_NOT_REQUESTED
        });
    encode(ApiKey::Metadata, version, header.correlation_id, &response)
}

async fn auto_create(shard: &Rc<ShardState>, names: Vec<String>) {
    let topics = names
        .into_iter()
        .map(|name| NewTopic {
            name,
            partitions: -1,
            replication_factor: -1,
            configs: Vec::new(),
            assignments: Vec::new(),
        })
        .collect();
    match frontend::control::call(
        shard,
        ControlRequest::CreateTopics {
            topics,
            validate_only: false,
        },
    )
    .await
    {
        Ok(ControlResponse::TopicsCreated(outcomes)) => {
            for outcome in outcomes.iter().filter(|o| o.error.is_some()) {
                tracing::debug!(topic = %outcome.name, error = ?outcome.error, "auto-creation refused");
            }
        }
        Ok(_) => tracing::warn!("unexpected answer to topic auto-creation"),
        Err(error) => tracing::warn!(%error, "topic auto-creation failed"),
    }
}

/// One topic's partitions: on the embedded node every partition is this
/// broker's; in a cluster, the leaders, replicas and ISR of the view (no
/// live leader is Kafka's LEADER_NOT_AVAILABLE, replicas on dead brokers
/// are `offline_replicas`).
fn describe_topic(
    info: &TopicInfo,
    broker_id: i32,
    cluster: Option<&Arc<ClusterView>>,
    include_operations: bool,
) -> MetadataResponseTopic {
    let ids = |brokers: &[i32]| brokers.iter().map(|b| BrokerId(*b)).collect::<Vec<_>>();
    let partitions = (0..info.partitions)
        .map(|index| {
            let partition = MetadataResponsePartition::default().with_partition_index(index);
            let Some(view) = cluster else {
                return partition
                    .with_leader_id(BrokerId(broker_id))
                    .with_leader_epoch(0)
                    .with_replica_nodes(vec![BrokerId(broker_id)])
                    .with_isr_nodes(vec![BrokerId(broker_id)]);
            };
            let tp = TopicPartition::new(info.name.clone(), index);
            let Some(state) = view.partition(&tp) else {
                return partition.with_error_code(ResponseError::LeaderNotAvailable.code());
            };
            let offline: Vec<i32> = state
                .replicas
                .iter()
                .copied()
                .filter(|r| !view.is_live(*r))
                .collect();
            let leader = view.leader_of(&tp);
            partition
                .with_error_code(if leader.is_some() {
                    0
                } else {
                    ResponseError::LeaderNotAvailable.code()
                })
                .with_leader_id(BrokerId(leader.unwrap_or(-1)))
                .with_leader_epoch(state.leader_epoch.max(0))
                .with_replica_nodes(ids(&state.replicas))
                .with_isr_nodes(ids(&state.isr))
                .with_offline_replicas(ids(&offline))
        })
        .collect();
    MetadataResponseTopic::default()
        .with_name(Some(TopicName(StrBytes::from_string(
            info.name.to_string(),
        ))))
        .with_topic_id(if info.id.is_nil() {
            Uuid::nil()
        } else {
            info.id
        })
        .with_is_internal(info.internal)
        .with_partitions(partitions)
        .with_topic_authorized_operations(if include_operations {
            TOPIC_OPERATIONS_ALL
        } else {
            OPERATIONS_NOT_REQUESTED
        })
}
