//! The control plane on shard 0: topic creation, deletion and growth, and
//! producer ids. The only writer of the topic store; every change becomes a
//! new topic table sent to every shard (itself included) before it is
//! acknowledged, so a client that created a topic can use it on any shard.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::rc::Rc;

use futures::lock::Mutex;

mod clustered;
use kafka_protocol::ResponseError;
use uuid::Uuid;

use super::config_edit::{edit_overrides, ConfigEdit};
use super::error::BrokerError;
use super::frontend;
use super::messages::{
    ControlRequest, ControlResponse, NewTopic, PartitionGrowth, TopicOutcome, TopicSelector,
};
use super::shard::ShardState;
use crate::cluster::agent::ClusterAgent;
use crate::cluster::agent::{ElectionOutcome, ReassignmentRequest, Refusal};
use crate::cluster::topics::{validate_topic_name, PARTITIONS_PER_TOPIC_MAX};
use crate::cluster::{TopicInfo, TopicPartition, TopicStore, TopicTable};
use crate::config::validate_topic_config;

/// Producer ids are handed out from blocks whose end is persisted first, so
/// a restart never reuses an id.
const PRODUCER_ID_BLOCK: i64 = 1000;

/// Where a cluster member's control plane finds shard 0's cluster agent,
/// set once the agent has joined (before the broker listens).
pub type AgentSlot = Rc<std::cell::OnceCell<Rc<ClusterAgent>>>;

pub struct ControlService {
    /// In a cluster, ZooKeeper holds the topics; the agent writes them.
    cluster: Option<AgentSlot>,
    store: TopicStore,
    /// One control operation at a time.
    serial: Mutex<()>,
    producer_ids: std::cell::RefCell<(i64, i64)>,
    producer_id_path: PathBuf,
}

impl ControlService {
    pub fn new(
        log_dir: &std::path::Path,
        cluster: Option<AgentSlot>,
    ) -> Result<ControlService, BrokerError> {
        let store = TopicStore::new(log_dir).map_err(|source| BrokerError::File {
            op: "creating the topic store in",
            path: log_dir.to_path_buf(),
            source,
        })?;
        let producer_id_path = log_dir.join(".sluice-producer-id-block");
        let persisted = match std::fs::read_to_string(&producer_id_path) {
            Ok(text) => text
                .trim()
                .parse::<i64>()
                .map_err(|e| BrokerError::BadFile {
                    path: producer_id_path.clone(),
                    detail: e.to_string(),
                })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
            Err(source) => {
                return Err(BrokerError::File {
                    op: "reading",
                    path: producer_id_path,
                    source,
                })
            }
        };
        Ok(ControlService {
            cluster,
            store,
            serial: Mutex::new(()),
            producer_ids: std::cell::RefCell::new((persisted, persisted)),
            producer_id_path,
        })
    }

    pub async fn handle(&self, shard: &Rc<ShardState>, request: ControlRequest) -> ControlResponse {
        let _serial = self.serial.lock().await;
        if let Some(slot) = &self.cluster {
            return match slot.get() {
                Some(agent) => clustered::handle(agent, shard, request).await,
                // Not joined yet (nothing listens before it has): the
                // handlers read the missing outcomes as errors.
                None => clustered::not_ready(request),
            };
        }
        match request {
            ControlRequest::CreateTopics {
                topics,
                validate_only,
            } => ControlResponse::TopicsCreated(
                self.create_topics(shard, topics, validate_only).await,
            ),
            ControlRequest::DeleteTopics { topics } => {
                ControlResponse::TopicsDeleted(self.delete_topics(shard, topics).await)
            }
            ControlRequest::CreatePartitions {
                changes,
                validate_only,
            } => ControlResponse::PartitionsCreated(
                self.create_partitions(shard, changes, validate_only).await,
            ),
            ControlRequest::AllocateProducerId => {
                ControlResponse::ProducerId(self.allocate_producer_id())
            }
            // The embedded node creates it at its first start.
            ControlRequest::EnsureOffsetsTopic => ControlResponse::TopicsCreated(Vec::new()),
            ControlRequest::AlterIsr { .. } => ControlResponse::IsrAltered(Err(
                "the embedded node has no replicas to change".into(),
            )),
            ControlRequest::AlterTopicConfigs {
                changes,
                validate_only,
            } => ControlResponse::TopicConfigsAltered(
                self.alter_topic_configs(shard, changes, validate_only)
                    .await,
            ),
            ControlRequest::ElectLeaders { partitions, .. } => {
                ControlResponse::LeadersElected(Ok(solo_elections(shard, partitions)))
            }
            ControlRequest::AlterReassignments { partitions, .. } => {
                ControlResponse::ReassignmentsAltered(Ok(solo_reassignments(shard, partitions)))
            }
            // One broker holds every replica: nothing ever moves.
            ControlRequest::ListReassignments { .. } => {
                ControlResponse::ReassignmentsListed(Ok(Vec::new()))
            }
        }
    }

    fn allocate_producer_id(&self) -> Result<i64, String> {
        let mut ids = self.producer_ids.borrow_mut();
        if ids.0 >= ids.1 {
            let block_end = ids.0 + PRODUCER_ID_BLOCK;
            write_durably(&self.producer_id_path, &format!("{block_end}\n")).map_err(|e| {
                format!(
                    "persisting producer id block in {}: {e}",
                    self.producer_id_path.display()
                )
            })?;
            ids.1 = block_end;
        }
        let id = ids.0;
        ids.0 += 1;
        Ok(id)
    }

    async fn create_topics(
        &self,
        shard: &Rc<ShardState>,
        topics: Vec<NewTopic>,
        validate_only: bool,
    ) -> Vec<TopicOutcome> {
        let mut table = TopicTable::clone(&shard.topics());
        let mut outcomes = Vec::with_capacity(topics.len());
        let mut changed = false;
        for topic in topics {
            let outcome = match self.check_new_topic(shard, &table, &topic) {
                Err(outcome) => outcome,
                Ok(info) => {
                    let outcome = TopicOutcome {
                        name: topic.name.clone(),
                        id: info.id,
                        error: None,
                        partitions: info.partitions,
                        replication_factor: 1,
                    };
                    if !validate_only {
                        if let Err(error) = self.store.save(&info) {
                            tracing::error!(topic = %topic.name, %error, "saving topic");
                            outcomes.push(TopicOutcome::failed(
                                &topic.name,
                                ResponseError::KafkaStorageError,
                                error.to_string(),
                            ));
                            continue;
                        }
                        tracing::info!(topic = %info.name, partitions = info.partitions, id = %info.id, "created topic");
                        table = table.with_topic(info);
                        changed = true;
                    }
                    outcome
                }
            };
            outcomes.push(outcome);
        }
        if changed {
            if let Err(error) = frontend::control::broadcast_topics(shard, table).await {
                let error = error.to_string();
                for outcome in outcomes.iter_mut().filter(|o| o.error.is_none()) {
                    outcome.error = Some((ResponseError::KafkaStorageError, error.clone()));
                }
            }
        }
        outcomes
    }

    fn check_new_topic(
        &self,
        shard: &ShardState,
        table: &TopicTable,
        topic: &NewTopic,
    ) -> Result<TopicInfo, TopicOutcome> {
        let config = shard.config();
        validate_topic_name(&topic.name).map_err(|m| {
            TopicOutcome::failed(&topic.name, ResponseError::InvalidTopicException, m)
        })?;
        if topic.name.starts_with("__") {
            return Err(TopicOutcome::failed(
                &topic.name,
                ResponseError::InvalidTopicException,
                format!("Topic name {} is reserved for internal topics", topic.name),
            ));
        }
        if table.get(&topic.name).is_some() {
            return Err(TopicOutcome::failed(
                &topic.name,
                ResponseError::TopicAlreadyExists,
                format!("Topic '{}' already exists.", topic.name),
            ));
        }
        let partitions = if topic.partitions == -1 {
            config.num_partitions
        } else {
            topic.partitions
        };
        if !(1..=PARTITIONS_PER_TOPIC_MAX).contains(&partitions) {
            return Err(TopicOutcome::failed(
                &topic.name,
                ResponseError::InvalidPartitions,
                format!("Number of partitions must be between 1 and {PARTITIONS_PER_TOPIC_MAX}, got {partitions}."),
            ));
        }
        let replication = if topic.replication_factor == -1 {
            config.default_replication_factor
        } else {
            topic.replication_factor
        };
        if replication != 1 {
            return Err(TopicOutcome::failed(
                &topic.name,
                ResponseError::InvalidReplicationFactor,
                format!("Replication factor: {replication} larger than available brokers: 1."),
            ));
        }
        let mut configs = BTreeMap::new();
        for (name, value) in &topic.configs {
            let Some(value) = value else { continue };
            validate_topic_config(name, value).map_err(|e| {
                TopicOutcome::failed(&topic.name, ResponseError::InvalidConfig, e.to_string())
            })?;
            configs.insert(name.clone(), value.clone());
        }
        Ok(TopicInfo {
            name: topic.name.as_str().into(),
            id: Uuid::new_v4(),
            partitions,
            configs,
            internal: false,
        })
    }

    async fn delete_topics(
        &self,
        shard: &Rc<ShardState>,
        topics: Vec<TopicSelector>,
    ) -> Vec<TopicOutcome> {
        let mut table = TopicTable::clone(&shard.topics());
        let mut outcomes = Vec::new();
        let mut changed = false;
        for selector in topics {
            let found = match &selector {
                TopicSelector::Name(name) => table.get(name).cloned(),
                TopicSelector::Id(id) => table.get_by_id(id).cloned(),
            };
            let Some(info) = found else {
                let (name, error) = match &selector {
                    TopicSelector::Name(name) => {
                        (name.clone(), ResponseError::UnknownTopicOrPartition)
                    }
                    TopicSelector::Id(_) => (String::new(), ResponseError::UnknownTopicId),
                };
                outcomes.push(TopicOutcome::failed(
                    &name,
                    error,
                    "This server does not host this topic.",
                ));
                continue;
            };
            if info.internal {
                outcomes.push(TopicOutcome::failed(
                    &info.name,
                    ResponseError::TopicDeletionDisabled,
                    "Internal topics cannot be deleted",
                ));
                continue;
            }
            if let Err(error) = self.store.remove(&info.name) {
                outcomes.push(TopicOutcome::failed(
                    &info.name,
                    ResponseError::KafkaStorageError,
                    error.to_string(),
                ));
                continue;
            }
            tracing::info!(topic = %info.name, "deleted topic");
            table = table.without_topic(&info.name);
            changed = true;
            outcomes.push(TopicOutcome {
                name: info.name.to_string(),
                id: info.id,
                error: None,
                partitions: info.partitions,
                replication_factor: 1,
            });
        }
        if changed {
            if let Err(error) = frontend::control::broadcast_topics(shard, table).await {
                let error = error.to_string();
                for outcome in outcomes.iter_mut().filter(|o| o.error.is_none()) {
                    outcome.error = Some((ResponseError::KafkaStorageError, error.clone()));
                }
            }
        }
        outcomes
    }

    async fn create_partitions(
        &self,
        shard: &Rc<ShardState>,
        changes: Vec<PartitionGrowth>,
        validate_only: bool,
    ) -> Vec<TopicOutcome> {
        let mut table = TopicTable::clone(&shard.topics());
        let mut outcomes = Vec::new();
        let mut changed = false;
        for PartitionGrowth {
            topic: name, count, ..
        } in changes
        {
            let Some(info) = table.get(&name).cloned() else {
                outcomes.push(TopicOutcome::failed(
                    &name,
                    ResponseError::UnknownTopicOrPartition,
                    "This server does not host this topic.",
                ));
                continue;
            };
            if count <= info.partitions {
                outcomes.push(TopicOutcome::failed(
                    &name,
                    ResponseError::InvalidPartitions,
                    format!("Topic currently has {} partitions, which is higher than the requested {count}.", info.partitions),
                ));
                continue;
            }
            if count > PARTITIONS_PER_TOPIC_MAX {
                outcomes.push(TopicOutcome::failed(
                    &name,
                    ResponseError::InvalidPartitions,
                    format!("at most {PARTITIONS_PER_TOPIC_MAX} partitions"),
                ));
                continue;
            }
            let mut grown = (*info).clone();
            grown.partitions = count;
            if !validate_only {
                if let Err(error) = self.store.save(&grown) {
                    outcomes.push(TopicOutcome::failed(
                        &name,
                        ResponseError::KafkaStorageError,
                        error.to_string(),
                    ));
                    continue;
                }
                table = table.with_topic(grown);
                changed = true;
            }
            outcomes.push(TopicOutcome {
                name,
                id: info.id,
                error: None,
                partitions: count,
                replication_factor: 1,
            });
        }
        if changed {
            if let Err(error) = frontend::control::broadcast_topics(shard, table).await {
                let error = error.to_string();
                for outcome in outcomes.iter_mut().filter(|o| o.error.is_none()) {
                    outcome.error = Some((ResponseError::KafkaStorageError, error.clone()));
                }
            }
        }
        outcomes
    }
}

impl ControlService {
    /// Computes each topic's new overrides against the current table,
    /// persists them and sends the new table to every shard, which applies
    /// them to the open partitions before this answers.
    async fn alter_topic_configs(
        &self,
        shard: &Rc<ShardState>,
        changes: Vec<(String, ConfigEdit)>,
        validate_only: bool,
    ) -> Vec<Result<(), (ResponseError, String)>> {
        let mut table = TopicTable::clone(&shard.topics());
        let mut outcomes = Vec::with_capacity(changes.len());
        let mut changed = false;
        for (name, edit) in changes {
            let Some(info) = table.get(&name).cloned() else {
                outcomes.push(Err((
                    ResponseError::UnknownTopicOrPartition,
                    format!("Topic {name} does not exist."),
                )));
                continue;
            };
            let configs = match edit_overrides(&info.configs, &edit, shard.partitions().defaults())
            {
                Ok(configs) => configs,
                Err(refusal) => {
                    outcomes.push(Err(refusal));
                    continue;
                }
            };
            if validate_only || configs == info.configs {
                outcomes.push(Ok(()));
                continue;
            }
            let mut altered = (*info).clone();
            altered.configs = configs;
            if let Err(error) = self.store.save(&altered) {
                outcomes.push(Err((ResponseError::KafkaStorageError, error.to_string())));
                continue;
            }
            tracing::info!(topic = %name, configs = ?altered.configs, "altered topic configs");
            table = table.with_topic(altered);
            changed = true;
            outcomes.push(Ok(()));
        }
        if changed {
            if let Err(error) = frontend::control::broadcast_topics(shard, table).await {
                let error = error.to_string();
                for outcome in outcomes.iter_mut().filter(|o| o.is_ok()) {
                    *outcome = Err((ResponseError::KafkaStorageError, error.clone()));
                }
            }
        }
        outcomes
    }
}

fn write_durably(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    let temp = path.with_extension("tmp");
    let mut file = std::fs::File::create(&temp)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&temp, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// ElectLeaders on the embedded node: each partition's one replica, this
/// broker, already leads it (`ELECTION_NOT_NEEDED`), as on a one-broker
/// Kafka; asked for every partition, there is nothing to report.
fn solo_elections(
    shard: &ShardState,
    partitions: Option<Vec<TopicPartition>>,
) -> Vec<ElectionOutcome> {
    let topics = shard.topics();
    partitions
        .unwrap_or_default()
        .into_iter()
        .map(|partition| {
            let known = topics
                .get(&partition.topic)
                .is_some_and(|t| (0..t.partitions).contains(&partition.partition));
            let error = if known {
                (
                    ResponseError::ElectionNotNeeded,
                    "Leader election not needed for topic partition.".to_string(),
                )
            } else {
                (
                    ResponseError::UnknownTopicOrPartition,
                    "This server does not host this topic-partition.".to_string(),
                )
            };
            ElectionOutcome {
                partition,
                error: Some(error),
            }
        })
        .collect()
}

/// AlterPartitionReassignments on the embedded node: each partition's one
/// replica is this broker, the only one alive; a target of just it is
/// already in place, any other names brokers that do not exist.
fn solo_reassignments(
    shard: &ShardState,
    partitions: Vec<ReassignmentRequest>,
) -> Vec<(TopicPartition, Option<Refusal>)> {
    let topics = shard.topics();
    let me = shard.broker_id();
    partitions
        .into_iter()
        .map(|request| {
            let known = topics
                .get(&request.partition.topic)
                .is_some_and(|t| (0..t.partitions).contains(&request.partition.partition));
            let refusal = match request.target {
                _ if !known => Some((
                    ResponseError::UnknownTopicOrPartition,
                    "The partition does not exist.".to_string(),
                )),
                None => Some((
                    ResponseError::NoReassignmentInProgress,
                    "No reassignment is in progress for this partition.".to_string(),
                )),
                Some(target) if target == [me] => None,
                Some(target) => Some((
                    ResponseError::InvalidReplicaAssignment,
                    format!(
                        "Replica assignment has brokers that are not alive. Replica list: {target:?}, live broker list: [{me}]"
                    ),
                )),
            };
            (request.partition, refusal)
        })
        .collect()
}
