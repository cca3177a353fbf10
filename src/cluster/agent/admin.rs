//! The admin APIs' ZooKeeper writes, as Kafka's ZooKeeper-mode brokers made
//! them (`AdminZkClient`); the controller acts on them through its watches,
//! and the caller waits for the result to show in the view.
//!
//! | request | writes |
//! |---|---|
//! | CreateTopics | `/config/topics/<t>` (the overrides), then `/brokers/topics/<t>` (the assignment) |
//! | DeleteTopics | `/admin/delete_topics/<t>` |
//! | CreatePartitions | `/brokers/topics/<t>` with the new partitions, conditional on its version |
//! | AlterConfigs | `/config/topics/<t>`, then a `/config/changes/config_change_<seq>` notice |
//! | InitProducerId | the next block of `/latest_producer_id_block`, conditional on its version |

use std::collections::BTreeMap;

use kafka_protocol::ResponseError;
use serde::{Deserialize, Serialize};

use super::{AgentError, ClusterAgent};
use crate::cluster::assignment::{
    assign_new_partitions, assign_replicas_to_brokers, validate_manual_assignment, Assignment,
    BrokerMetadata, StartIndex,
};
use crate::cluster::zk::{CreateMode, ZkError};
use crate::cluster::znodes::{
    self, ConfigChangeNotification, EntityConfig, PartitionState, TopicAssignment,
};
use crate::cluster::TopicPartition;

/// A refused admin operation: Kafka's error and its message.
pub type Refusal = (ResponseError, String);

/// Producer ids handed out per block (Kafka's `PRODUCER_ID_BLOCK_SIZE`).
const PRODUCER_ID_BLOCK_SIZE: i64 = 1000;

/// What to create: a name, and either a count and factor or replicas by
/// partition.
#[derive(Clone, Debug)]
pub struct NewTopicPlan {
    pub name: String,
    pub partitions: i32,
    pub replication_factor: i32,
    /// Manual assignment (CreateTopics' `assignments`); then the two above
    /// must be -1.
    pub assignments: Vec<(i32, Vec<i32>)>,
    pub configs: BTreeMap<String, String>,
}

/// `/latest_producer_id_block`, as Kafka's `ProducerIdBlockZNode` writes it
/// (the ids as strings).
#[derive(Serialize, Deserialize)]
struct ProducerIdBlock {
    version: i32,
    broker: i32,
    block_start: String,
    block_end: String,
}

fn storage(error: AgentError) -> Refusal {
    (ResponseError::KafkaStorageError, error.to_string())
}

impl ClusterAgent {
    /// The live brokers as placement takes them (sorted by id).
    fn placement_brokers(&self) -> Vec<BrokerMetadata> {
        self.view()
            .brokers
            .values()
            .map(|b| BrokerMetadata::new(b.id, b.rack.as_deref()))
            .collect()
    }

    /// Places a new topic's replicas and writes it; returns the topic id
    /// and its assignment. `validate_only` stops before writing.
    pub async fn create_topic(
        &self,
        plan: &NewTopicPlan,
        validate_only: bool,
    ) -> Result<(uuid::Uuid, Assignment), Refusal> {
        let exists = || {
            (
                ResponseError::TopicAlreadyExists,
                format!("Topic '{}' already exists.", plan.name),
            )
        };
        if self.view().topics.contains_key(plan.name.as_str()) {
            return Err(exists());
        }
        let assignment = if plan.assignments.is_empty() {
            let brokers = self.placement_brokers();
            let start = StartIndex::random(&mut rand::thread_rng(), brokers.len());
            assign_replicas_to_brokers(&brokers, plan.partitions, plan.replication_factor, start, 0)
        } else {
            validate_manual_assignment(plan.partitions, plan.replication_factor, &plan.assignments)
        }
        .map_err(|e| refusal(e.error_code(), e.to_string()))?;
        let id = uuid::Uuid::new_v4();
        if validate_only {
            return Ok((id, assignment));
        }
        self.write_topic_config(&plan.name, &plan.configs, false)
            .await
            .map_err(storage)?;
        let created = self
            .zk
            .create(
                &znodes::topic_path(&plan.name),
                TopicAssignment::new(&id, assignment.clone()).to_json(),
                CreateMode::Persistent,
            )
            .await;
        match created {
            Ok(_) => {
                tracing::info!(topic = %plan.name, partitions = assignment.len(), "created topic");
                Ok((id, assignment))
            }
            Err(ZkError::NodeExists { .. }) => Err(exists()),
            Err(error) => Err(storage(error.into())),
        }
    }

    /// Marks a topic for deletion; the controller deletes it.
    pub async fn delete_topic(&self, name: &str) -> Result<(), Refusal> {
        match self
            .zk
            .create(
                &znodes::delete_topic_path(name),
                Vec::new(),
                CreateMode::Persistent,
            )
            .await
        {
            Ok(_) | Err(ZkError::NodeExists { .. }) => Ok(()),
            Err(error) => Err(storage(error.into())),
        }
    }

    /// Grows a topic to `count` partitions (`manual`: the new partitions'
    /// replicas); returns the new assignment.
    pub async fn create_partitions(
        &self,
        name: &str,
        count: i32,
        manual: Option<&[Vec<i32>]>,
        validate_only: bool,
    ) -> Result<Assignment, Refusal> {
        let path = znodes::topic_path(name);
        let (bytes, stat) = match self.zk.get_data(&path).await {
            Ok(found) => found,
            Err(ZkError::NoNode { .. }) => {
                return Err((
                    ResponseError::UnknownTopicOrPartition,
                    "This server does not host this topic.".to_string(),
                ))
            }
            Err(error) => return Err(storage(error.into())),
        };
        let mut assignment = TopicAssignment::from_json(&bytes).map_err(|e| storage(e.into()))?;
        if !assignment.adding_replicas.is_empty() || !assignment.removing_replicas.is_empty() {
            // The new partitions would be placed from replica lists that
            // hold both the old and the new replicas (Kafka refuses too).
            return Err((
                ResponseError::ReassignmentInProgress,
                format!("A partition reassignment is in progress for the topic '{name}'."),
            ));
        }
        let added = assign_new_partitions(
            &assignment.partitions,
            &self.placement_brokers(),
            count,
            manual,
        )
        .map_err(|e| refusal(e.error_code(), e.to_string()))?;
        assignment.partitions.extend(added.clone());
        if validate_only {
            return Ok(assignment.partitions);
        }
        match self
            .zk
            .set_data(&path, assignment.to_json(), Some(stat.version))
            .await
        {
            Ok(_) => Ok(assignment.partitions),
            Err(ZkError::BadVersion { .. }) => Err((
                ResponseError::ConcurrentTransactions,
                format!("topic {name} changed meanwhile; retry"),
            )),
            Err(error) => Err(storage(error.into())),
        }
    }

    /// Replaces a topic's overrides and tells every broker.
    pub async fn alter_topic_configs(
        &self,
        name: &str,
        configs: &BTreeMap<String, String>,
    ) -> Result<(), Refusal> {
        self.write_topic_config(name, configs, true)
            .await
            .map_err(storage)
    }

    async fn write_topic_config(
        &self,
        name: &str,
        configs: &BTreeMap<String, String>,
        notify: bool,
    ) -> Result<(), AgentError> {
        let path = znodes::config_entity_path("topics", name);
        let data = EntityConfig::new(configs.clone()).to_json();
        match self.zk.set_data(&path, data.clone(), None).await {
            Ok(_) => {}
            Err(ZkError::NoNode { .. }) => {
                self.zk
                    .create_with_parents(&path, data, CreateMode::Persistent)
                    .await?;
            }
            Err(error) => return Err(error.into()),
        }
        if notify {
            let change = format!(
                "{}/{}",
                znodes::CONFIG_CHANGES,
                znodes::CONFIG_CHANGE_PREFIX
            );
            self.zk
                .create(
                    &change,
                    ConfigChangeNotification::new("topics", name).to_json(),
                    CreateMode::PersistentSequential,
                )
                .await?;
        }
        Ok(())
    }

    /// A leader's new ISR for `partition`, written to its state znode as
    /// Kafka's leaders did before AlterPartition: only while this broker
    /// still leads in `leader_epoch` and the znode is still at
    /// `state_version` (else the caller's view was stale and it decides
    /// again on the next one).
    pub async fn alter_isr(
        &self,
        partition: &TopicPartition,
        leader_epoch: i32,
        isr: Vec<i32>,
        state_version: i32,
    ) -> Result<(), String> {
        let path = znodes::partition_state_path(&partition.topic, partition.partition);
        let (bytes, stat) = self.zk.get_data(&path).await.map_err(|e| e.to_string())?;
        let current = PartitionState::from_json(&bytes).map_err(|e| e.to_string())?;
        if stat.version != state_version
            || current.leader != self.settings.broker_id
            || current.leader_epoch != leader_epoch
        {
            return Err(format!(
                "the state of {partition} moved on (version {}, leader {} epoch {})",
                stat.version, current.leader, current.leader_epoch
            ));
        }
        if !isr.contains(&self.settings.broker_id) {
            return Err("a leader stays in its own ISR".into());
        }
        let mut next = current.clone();
        next.isr = isr;
        match self
            .zk
            .set_data(&path, next.to_json(), Some(state_version))
            .await
        {
            Ok(_) => Ok(()),
            Err(error) => Err(error.to_string()),
        }
    }

    /// The next producer id, from a block this broker took from
    /// `/latest_producer_id_block`: ids are unique across the cluster and
    /// never reused after a restart.
    pub async fn allocate_producer_id(&self) -> Result<i64, AgentError> {
        let (next, end) = self.producer_ids.get();
        if next < end {
            self.producer_ids.set((next + 1, end));
            return Ok(next);
        }
        let path = znodes::LATEST_PRODUCER_ID_BLOCK;
        loop {
            let (start, version) = match self.zk.get_data(path).await {
                Ok((bytes, stat)) if !bytes.is_empty() => {
                    let block: ProducerIdBlock = serde_json::from_slice(&bytes).map_err(|e| {
                        znodes::ZnodeError::Invalid {
                            what: "/latest_producer_id_block",
                            reason: e.to_string(),
                        }
                    })?;
                    let end: i64 = block.block_end.parse().unwrap_or(-1);
                    (end + 1, Some(stat.version))
                }
                Ok((_, stat)) => (0, Some(stat.version)),
                Err(ZkError::NoNode { .. }) => (0, None),
                Err(error) => return Err(error.into()),
            };
            let block = ProducerIdBlock {
                version: 1,
                broker: self.settings.broker_id,
                block_start: start.to_string(),
                block_end: (start + PRODUCER_ID_BLOCK_SIZE - 1).to_string(),
            };
            let data = serde_json::to_vec(&block).expect("a block serializes");
            let written = match version {
                Some(version) => self.zk.set_data(path, data, Some(version)).await.map(drop),
                None => self
                    .zk
                    .create(path, data, CreateMode::Persistent)
                    .await
                    .map(drop),
            };
            match written {
                Ok(()) => {
                    self.producer_ids
                        .set((start + 1, start + PRODUCER_ID_BLOCK_SIZE));
                    return Ok(start);
                }
                Err(ZkError::BadVersion { .. }) | Err(ZkError::NodeExists { .. }) => continue,
                Err(error) => return Err(error.into()),
            }
        }
    }
}

fn refusal(code: i16, message: String) -> Refusal {
    (
        ResponseError::try_from_code(code).unwrap_or(ResponseError::UnknownServerError),
        message,
    )
}
