//! The control plane in a cluster: topic changes go to ZooKeeper through
//! the cluster agent, as Kafka's ZooKeeper-mode brokers wrote them, and the
//! answer waits until the change shows in the cluster view every shard of
//! this broker has applied (so the client can use the topic at once), up to
//! [`CHANGE_WAIT`]; past it the change stands and the answer is Kafka's
//! `REQUEST_TIMED_OUT`.

use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Duration;

use kafka_protocol::ResponseError;

use super::super::config_edit::{edit_overrides, ConfigEdit};
use super::super::messages::{
    ControlRequest, ControlResponse, NewTopic, PartitionGrowth, TopicOutcome, TopicSelector,
};
use super::super::shard::ShardState;
use crate::cluster::agent::{ClusterAgent, NewTopicPlan};
use crate::cluster::topics::{validate_topic_name, PARTITIONS_PER_TOPIC_MAX};
use crate::cluster::view::{ClusterView, NO_LEADER};
use crate::config::validate_topic_config;
use crate::coordinator::OFFSETS_TOPIC;

/// How long a change may take to reach this broker's shards.
const CHANGE_WAIT: Duration = Duration::from_secs(30);

pub(super) async fn handle(
    agent: &Rc<ClusterAgent>,
    shard: &Rc<ShardState>,
    request: ControlRequest,
) -> ControlResponse {
    match request {
        ControlRequest::CreateTopics {
            topics,
            validate_only,
        } => ControlResponse::TopicsCreated(
            create_topics(agent, shard, topics, validate_only, false).await,
        ),
        ControlRequest::EnsureOffsetsTopic => {
            ControlResponse::TopicsCreated(ensure_offsets_topic(agent, shard).await)
        }
        ControlRequest::DeleteTopics { topics } => {
            ControlResponse::TopicsDeleted(delete_topics(agent, topics).await)
        }
        ControlRequest::CreatePartitions {
            changes,
            validate_only,
        } => ControlResponse::PartitionsCreated(
            create_partitions(agent, changes, validate_only).await,
        ),
        ControlRequest::AllocateProducerId => ControlResponse::ProducerId(
            agent
                .allocate_producer_id()
                .await
                .map_err(|error| error.to_string()),
        ),
        ControlRequest::AlterTopicConfigs {
            changes,
            validate_only,
        } => ControlResponse::TopicConfigsAltered(
            alter_topic_configs(agent, shard, changes, validate_only).await,
        ),
        ControlRequest::AlterIsr {
            partition,
            leader_epoch,
            isr,
            state_version,
        } => ControlResponse::IsrAltered(
            agent
                .alter_isr(&partition, leader_epoch, isr, state_version)
                .await,
        ),
        ControlRequest::ElectLeaders {
            election,
            partitions,
        } => ControlResponse::LeadersElected(agent.elect_leaders(election, partitions).await),
        ControlRequest::AlterReassignments {
            partitions,
            allow_replication_factor_change,
        } => ControlResponse::ReassignmentsAltered(
            agent
                .alter_reassignments(partitions, allow_replication_factor_change)
                .await,
        ),
        ControlRequest::ListReassignments { partitions } => {
            ControlResponse::ReassignmentsListed(agent.list_reassignments(partitions))
        }
    }
}

/// The answer while the agent has not joined the cluster yet.
pub(super) fn not_ready(request: ControlRequest) -> ControlResponse {
    match request {
        ControlRequest::CreateTopics { .. } | ControlRequest::EnsureOffsetsTopic => {
            ControlResponse::TopicsCreated(Vec::new())
        }
        ControlRequest::DeleteTopics { .. } => ControlResponse::TopicsDeleted(Vec::new()),
        ControlRequest::CreatePartitions { .. } => ControlResponse::PartitionsCreated(Vec::new()),
        ControlRequest::AllocateProducerId => {
            ControlResponse::ProducerId(Err("the broker has not joined its cluster yet".into()))
        }
        ControlRequest::AlterTopicConfigs { .. } => {
            ControlResponse::TopicConfigsAltered(Vec::new())
        }
        ControlRequest::AlterIsr { .. } => {
            ControlResponse::IsrAltered(Err("the broker has not joined its cluster yet".into()))
        }
        ControlRequest::ElectLeaders { .. } => {
            ControlResponse::LeadersElected(Err(ResponseError::NotController))
        }
        ControlRequest::AlterReassignments { .. } => {
            ControlResponse::ReassignmentsAltered(Err(ResponseError::NotController))
        }
        ControlRequest::ListReassignments { .. } => {
            ControlResponse::ReassignmentsListed(Err(ResponseError::NotController))
        }
    }
}

/// Whether `topic` exists with `partitions` partitions, each led by a
/// live broker.
fn is_ready(view: &ClusterView, topic: &str, partitions: usize) -> bool {
    view.topics.get(topic).is_some_and(|t| {
        t.partitions.len() == partitions
            && t.partitions
                .iter()
                .all(|p| p.leader != NO_LEADER && view.is_live(p.leader))
    })
}

fn timed_out(outcome: &mut TopicOutcome) {
    outcome.error = Some((
        ResponseError::RequestTimedOut,
        "the topic change was made but has not reached every broker yet".to_string(),
    ));
}

async fn create_topics(
    agent: &Rc<ClusterAgent>,
    shard: &ShardState,
    topics: Vec<NewTopic>,
    validate_only: bool,
    internal: bool,
) -> Vec<TopicOutcome> {
    let config = shard.config();
    let mut outcomes = Vec::with_capacity(topics.len());
    for topic in topics {
        let refused = |error, message: String| TopicOutcome::failed(&topic.name, error, message);
        if let Err(message) = validate_topic_name(&topic.name) {
            outcomes.push(refused(ResponseError::InvalidTopicException, message));
            continue;
        }
        if topic.name.starts_with("__") && !internal {
            outcomes.push(refused(
                ResponseError::InvalidTopicException,
                format!("Topic name {} is reserved for internal topics", topic.name),
            ));
            continue;
        }
        let (partitions, replication_factor) = if topic.assignments.is_empty() {
            (
                if topic.partitions == -1 {
                    config.num_partitions
                } else {
                    topic.partitions
                },
                if topic.replication_factor == -1 {
                    i32::from(config.default_replication_factor)
                } else {
                    i32::from(topic.replication_factor)
                },
            )
        } else {
            (topic.partitions, i32::from(topic.replication_factor))
        };
        if topic.assignments.is_empty() && !(1..=PARTITIONS_PER_TOPIC_MAX).contains(&partitions) {
            outcomes.push(refused(
                ResponseError::InvalidPartitions,
                format!("Number of partitions must be between 1 and {PARTITIONS_PER_TOPIC_MAX}, got {partitions}."),
            ));
            continue;
        }
        let mut configs = BTreeMap::new();
        let mut bad_config = None;
        for (name, value) in &topic.configs {
            let Some(value) = value else { continue };
            if let Err(error) = validate_topic_config(name, value) {
                bad_config = Some(error.to_string());
                break;
            }
            configs.insert(name.clone(), value.clone());
        }
        if let Some(message) = bad_config {
            outcomes.push(refused(ResponseError::InvalidConfig, message));
            continue;
        }
        let plan = NewTopicPlan {
            name: topic.name.clone(),
            partitions,
            replication_factor,
            assignments: topic.assignments.clone(),
            configs,
        };
        outcomes.push(match agent.create_topic(&plan, validate_only).await {
            Ok((id, assignment)) => TopicOutcome {
                name: topic.name.clone(),
                id,
                error: None,
                partitions: assignment.len() as i32,
                replication_factor: assignment.values().next().map_or(-1, |r| r.len() as i16),
            },
            Err((error, message)) => refused(error, message),
        });
    }
    if !validate_only {
        for outcome in outcomes.iter_mut().filter(|o| o.error.is_none()) {
            let (name, count) = (outcome.name.clone(), outcome.partitions as usize);
            if !agent
                .wait_until(CHANGE_WAIT, |view| is_ready(view, &name, count))
                .await
            {
                timed_out(outcome);
            }
            if let Some(view) = agent.view().topics.get(name.as_str()) {
                outcome.id = view.id;
            }
        }
    }
    outcomes
}

/// `__consumer_offsets` with the broker's `offsets.topic.*` settings, if
/// ZooKeeper has none yet. Refused (and retried by the client's next
/// FindCoordinator) while fewer brokers are live than its replication
/// factor, as Kafka does.
async fn ensure_offsets_topic(agent: &Rc<ClusterAgent>, shard: &ShardState) -> Vec<TopicOutcome> {
    if agent.view().topics.contains_key(OFFSETS_TOPIC) {
        return Vec::new();
    }
    let config = shard.config();
    let topic = NewTopic {
        name: OFFSETS_TOPIC.to_string(),
        partitions: config.offsets_topic_num_partitions,
        replication_factor: config.offsets_topic_replication_factor,
        configs: vec![
            ("cleanup.policy".to_string(), Some("compact".to_string())),
            (
                "segment.bytes".to_string(),
                Some(config.groups.offsets_topic_segment_bytes.to_string()),
            ),
        ],
        assignments: Vec::new(),
    };
    create_topics(agent, shard, vec![topic], false, true).await
}

async fn delete_topics(agent: &Rc<ClusterAgent>, topics: Vec<TopicSelector>) -> Vec<TopicOutcome> {
    let view = agent.view();
    let mut outcomes = Vec::new();
    for selector in topics {
        let found = match &selector {
            TopicSelector::Name(name) => view.topics.get(name.as_str()),
            TopicSelector::Id(id) => view.topics.values().find(|t| t.id == *id),
        };
        let Some(topic) = found else {
            let (name, error) = match &selector {
                TopicSelector::Name(name) => (name.clone(), ResponseError::UnknownTopicOrPartition),
                TopicSelector::Id(_) => (String::new(), ResponseError::UnknownTopicId),
            };
            outcomes.push(TopicOutcome::failed(
                &name,
                error,
                "This server does not host this topic.",
            ));
            continue;
        };
        if topic.is_internal() {
            outcomes.push(TopicOutcome::failed(
                &topic.name,
                ResponseError::TopicDeletionDisabled,
                "Internal topics cannot be deleted",
            ));
            continue;
        }
        let mut outcome = match agent.delete_topic(&topic.name).await {
            Ok(()) => TopicOutcome {
                name: topic.name.to_string(),
                id: topic.id,
                error: None,
                partitions: topic.partitions.len() as i32,
                replication_factor: topic
                    .partitions
                    .first()
                    .map_or(-1, |p| p.replicas.len() as i16),
            },
            Err((error, message)) => TopicOutcome::failed(&topic.name, error, message),
        };
        if outcome.error.is_none() {
            let name = topic.name.clone();
            if !agent
                .wait_until(CHANGE_WAIT, |view| !view.topics.contains_key(&name))
                .await
            {
                timed_out(&mut outcome);
            }
        }
        outcomes.push(outcome);
    }
    outcomes
}

async fn create_partitions(
    agent: &Rc<ClusterAgent>,
    changes: Vec<PartitionGrowth>,
    validate_only: bool,
) -> Vec<TopicOutcome> {
    let mut outcomes = Vec::new();
    for PartitionGrowth {
        topic: name,
        count,
        assignments: manual,
    } in changes
    {
        if count > PARTITIONS_PER_TOPIC_MAX {
            outcomes.push(TopicOutcome::failed(
                &name,
                ResponseError::InvalidPartitions,
                format!("at most {PARTITIONS_PER_TOPIC_MAX} partitions"),
            ));
            continue;
        }
        let result = agent
            .create_partitions(&name, count, manual.as_deref(), validate_only)
            .await;
        let mut outcome = match result {
            Ok(assignment) => TopicOutcome {
                name: name.clone(),
                id: agent
                    .view()
                    .topics
                    .get(name.as_str())
                    .map_or(uuid::Uuid::nil(), |t| t.id),
                error: None,
                partitions: assignment.len() as i32,
                replication_factor: assignment.values().next().map_or(-1, |r| r.len() as i16),
            },
            Err((error, message)) => TopicOutcome::failed(&name, error, message),
        };
        if outcome.error.is_none() && !validate_only {
            let wanted = count as usize;
            if !agent
                .wait_until(CHANGE_WAIT, |view| is_ready(view, &name, wanted))
                .await
            {
                timed_out(&mut outcome);
            }
        }
        outcomes.push(outcome);
    }
    outcomes
}

async fn alter_topic_configs(
    agent: &Rc<ClusterAgent>,
    shard: &ShardState,
    changes: Vec<(String, ConfigEdit)>,
    validate_only: bool,
) -> Vec<Result<(), (ResponseError, String)>> {
    let mut outcomes = Vec::with_capacity(changes.len());
    for (name, edit) in changes {
        let Some(current) = agent
            .view()
            .topics
            .get(name.as_str())
            .map(|t| t.configs.clone())
        else {
            outcomes.push(Err((
                ResponseError::UnknownTopicOrPartition,
                format!("Topic {name} does not exist."),
            )));
            continue;
        };
        let configs = match edit_overrides(&current, &edit, shard.partitions().defaults()) {
            Ok(configs) => configs,
            Err(refusal) => {
                outcomes.push(Err(refusal));
                continue;
            }
        };
        if validate_only || configs == current {
            outcomes.push(Ok(()));
            continue;
        }
        if let Err(refusal) = agent.alter_topic_configs(&name, &configs).await {
            outcomes.push(Err(refusal));
            continue;
        }
        tracing::info!(topic = %name, configs = ?configs, "altered topic configs");
        let arrived = agent
            .wait_until(CHANGE_WAIT, |view| {
                view.topics
                    .get(name.as_str())
                    .is_some_and(|t| t.configs == configs)
            })
            .await;
        outcomes.push(if arrived {
            Ok(())
        } else {
            Err((
                ResponseError::RequestTimedOut,
                "the config change was made but has not reached every broker yet".to_string(),
            ))
        });
    }
    outcomes
}
