//! Reading ZooKeeper into the view, setting a watch on everything read so
//! the next change is heard.
//!
//! | znode | what the view takes | watch |
//! |---|---|---|
//! | `/brokers/ids` and each `/brokers/ids/<id>` | live brokers, endpoints, racks | children |
//! | `/controller` | the controller's id | node |
//! | `/brokers/topics` | the topics | children |
//! | `/brokers/topics/<t>` | replicas per partition, topic id | node |
//! | `/brokers/topics/<t>/partitions/<p>/state` | leader, epoch, ISR | node (also while absent) |
//! | `/config/topics/<t>` | config overrides | none: `/config/changes` says when |
//! | `/config/changes` | which entity's config changed | children |

use std::collections::BTreeMap;
use std::sync::Arc;

use super::watches::Watch;
use super::{AgentError, ClusterAgent};
use crate::cluster::view::{LiveBroker, PartitionView, TopicView, NO_LEADER};
use crate::cluster::zk::{ZkError, ZkStat};
use crate::cluster::znodes::{
    self, BrokerRegistration, ControllerRegistration, EntityConfig, PartitionState, TopicAssignment,
};

impl ClusterAgent {
    /// Reads a znode's data, watching it (once) for changes and, if it does
    /// not exist, for its creation.
    pub(super) async fn read_watched(
        &self,
        path: &str,
    ) -> Result<Option<(Vec<u8>, ZkStat)>, AgentError> {
        let watch = self.watches.borrow_mut().arm(path, Watch::Node);
        if !watch {
            return match self.zk.get_data(path).await {
                Ok(found) => Ok(Some(found)),
                Err(ZkError::NoNode { .. }) => Ok(None),
                Err(error) => Err(error.into()),
            };
        }
        match self.zk.get_data_and_watch(path).await {
            Ok(found) => Ok(Some(found)),
            Err(ZkError::NoNode { .. }) => {
                // No data watch was set on a missing node: watch for its
                // creation instead (and catch a create in between).
                match self.zk.exists_and_watch(path).await {
                    Ok(None) => Ok(None),
                    Ok(Some(_)) => Ok(self.zk.get_data(path).await.ok()),
                    Err(error) => {
                        self.watches.borrow_mut().disarm(path, Watch::Node);
                        Err(error.into())
                    }
                }
            }
            Err(error) => {
                self.watches.borrow_mut().disarm(path, Watch::Node);
                Err(error.into())
            }
        }
    }

    /// A znode's children, watched (once); none if it does not exist.
    pub(super) async fn children_watched(&self, path: &str) -> Result<Vec<String>, AgentError> {
        let watch = self.watches.borrow_mut().arm(path, Watch::Children);
        let result = if watch {
            self.zk.get_children_and_watch(path).await
        } else {
            self.zk.get_children(path).await
        };
        match result {
            Ok(children) => Ok(children),
            Err(ZkError::NoNode { .. }) => {
                self.watches.borrow_mut().disarm(path, Watch::Children);
                Ok(Vec::new())
            }
            Err(error) => {
                if watch {
                    self.watches.borrow_mut().disarm(path, Watch::Children);
                }
                Err(error.into())
            }
        }
    }

    /// Everything again: after start, a new session, or lost events.
    pub(super) async fn sync_all(&self) -> Result<(), AgentError> {
        let brokers = self.read_brokers().await?;
        let controller = self.read_controller().await?;
        let mut topics = BTreeMap::new();
        for name in self.children_watched(znodes::BROKER_TOPICS).await? {
            if let Some(topic) = self.read_topic(&name).await? {
                topics.insert(topic.name.clone(), topic);
            }
        }
        // Armed only to hear of config changes; the entries are not read.
        self.children_watched(znodes::CONFIG_CHANGES).await?;
        self.update(|view| {
            view.brokers = brokers;
            view.controller = controller;
            view.topics = topics;
        });
        Ok(())
    }

    /// Re-reads what the znode at `path` stands for.
    pub(super) async fn on_change(&self, path: &str) -> Result<(), AgentError> {
        if path == znodes::BROKER_IDS {
            let brokers = self.read_brokers().await?;
            self.update(|view| view.brokers = brokers);
        } else if path == znodes::CONTROLLER {
            let controller = self.read_controller().await?;
            self.update(|view| view.controller = controller);
            if controller.is_none() {
                self.try_elect().await?;
                let controller = self.read_controller().await?;
                self.update(|view| view.controller = controller);
            } else if controller != Some(self.settings.broker_id) {
                self.resign();
            }
        } else if path == znodes::BROKER_TOPICS {
            self.refresh_topic_list().await?;
        } else if path == znodes::CONFIG_CHANGES {
            self.children_watched(znodes::CONFIG_CHANGES).await?;
            self.refresh_configs().await?;
        } else if path == znodes::ADMIN_DELETE_TOPICS {
            // The controller's: handled by its reconcile pass.
        } else if let Some(rest) = path.strip_prefix("/brokers/topics/") {
            let parts: Vec<&str> = rest.split('/').collect();
            match parts[..] {
                [topic] => self.refresh_topic(topic).await?,
                [topic, "partitions", partition, "state"] => {
                    if let Ok(partition) = partition.parse::<usize>() {
                        self.refresh_state(topic, partition).await?;
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    pub(super) async fn read_brokers(&self) -> Result<BTreeMap<i32, LiveBroker>, AgentError> {
        let mut brokers = BTreeMap::new();
        for child in self.children_watched(znodes::BROKER_IDS).await? {
            let Ok(id) = child.parse::<i32>() else {
                continue;
            };
            let bytes = match self.zk.get_data(&znodes::broker_path(id)).await {
                Ok((bytes, _)) => bytes,
                // Gone between the listing and the read.
                Err(ZkError::NoNode { .. }) => continue,
                Err(error) => return Err(error.into()),
            };
            let registration = match BrokerRegistration::from_json(&bytes) {
                Ok(registration) => registration,
                Err(error) => {
                    tracing::warn!(broker = id, %error, "ignoring an unreadable broker registration");
                    continue;
                }
            };
            let endpoint = registration
                .parsed_endpoints()
                .ok()
                .and_then(|endpoints| endpoints.into_iter().next());
            let Some(endpoint) = endpoint else {
                tracing::warn!(
                    broker = id,
                    "ignoring a broker registration without an endpoint"
                );
                continue;
            };
            brokers.insert(
                id,
                LiveBroker {
                    id,
                    host: endpoint.host,
                    port: endpoint.port,
                    rack: registration.rack,
                },
            );
        }
        Ok(brokers)
    }

    pub(super) async fn read_controller(&self) -> Result<Option<i32>, AgentError> {
        let Some((bytes, _)) = self.read_watched(znodes::CONTROLLER).await? else {
            return Ok(None);
        };
        Ok(Some(ControllerRegistration::from_json(&bytes)?.brokerid))
    }

    /// One topic: assignment, partition states, configs. None if its
    /// assignment znode is gone.
    pub(super) async fn read_topic(&self, name: &str) -> Result<Option<TopicView>, AgentError> {
        let Some((bytes, _)) = self.read_watched(&znodes::topic_path(name)).await? else {
            return Ok(None);
        };
        let assignment = TopicAssignment::from_json(&bytes)?;
        let id = assignment.topic_uuid()?.unwrap_or_else(uuid::Uuid::nil);
        let mut partitions = Vec::with_capacity(assignment.partitions.len());
        for (index, (partition, replicas)) in assignment.partitions.iter().enumerate() {
            if *partition != index as i32 {
                tracing::warn!(
                    topic = name,
                    partition,
                    "partition numbers have a gap; ignoring the rest"
                );
                break;
            }
            let mut view = PartitionView::new(replicas.clone());
            view.adding = assignment
                .adding_replicas
                .get(partition)
                .cloned()
                .unwrap_or_default();
            view.removing = assignment
                .removing_replicas
                .get(partition)
                .cloned()
                .unwrap_or_default();
            self.read_state_into(name, *partition, &mut view).await?;
            partitions.push(view);
        }
        let configs = self.read_topic_config(name).await?;
        Ok(Some(TopicView {
            name: Arc::from(name),
            id,
            partitions,
            configs,
        }))
    }

    async fn read_state_into(
        &self,
        topic: &str,
        partition: i32,
        view: &mut PartitionView,
    ) -> Result<(), AgentError> {
        let path = znodes::partition_state_path(topic, partition);
        match self.read_watched(&path).await? {
            Some((bytes, stat)) => {
                let state = PartitionState::from_json(&bytes)?;
                view.leader = state.leader;
                view.leader_epoch = state.leader_epoch;
                view.isr = state.isr;
                view.state_version = stat.version;
            }
            None => {
                view.leader = NO_LEADER;
                view.leader_epoch = -1;
                view.isr.clear();
                view.state_version = -1;
            }
        }
        Ok(())
    }

    async fn read_topic_config(&self, name: &str) -> Result<BTreeMap<String, String>, AgentError> {
        match self
            .zk
            .get_data(&znodes::config_entity_path("topics", name))
            .await
        {
            Ok((bytes, _)) => Ok(EntityConfig::from_json(&bytes)?.config),
            Err(ZkError::NoNode { .. }) => Ok(BTreeMap::new()),
            Err(error) => Err(error.into()),
        }
    }

    async fn refresh_topic_list(&self) -> Result<(), AgentError> {
        let names = self.children_watched(znodes::BROKER_TOPICS).await?;
        let known = self.view();
        let mut added = Vec::new();
        for name in &names {
            if !known.topics.contains_key(name.as_str()) {
                if let Some(topic) = self.read_topic(name).await? {
                    added.push(topic);
                }
            }
        }
        self.update(|view| {
            view.topics
                .retain(|name, _| names.iter().any(|n| **n == **name));
            for topic in added {
                view.topics.insert(topic.name.clone(), topic);
            }
        });
        Ok(())
    }

    pub(super) async fn refresh_topic(&self, name: &str) -> Result<(), AgentError> {
        let topic = self.read_topic(name).await?;
        self.update(|view| match topic {
            Some(topic) => {
                view.topics.insert(topic.name.clone(), topic);
            }
            None => {
                view.topics.remove(name);
            }
        });
        Ok(())
    }

    pub(super) async fn refresh_state(
        &self,
        topic: &str,
        partition: usize,
    ) -> Result<(), AgentError> {
        let Some(mut current) = self
            .view()
            .topics
            .get(topic)
            .and_then(|t| t.partitions.get(partition).cloned())
        else {
            return Ok(());
        };
        self.read_state_into(topic, partition as i32, &mut current)
            .await?;
        self.update(|view| {
            if let Some(slot) = view
                .topics
                .get_mut(topic)
                .and_then(|t| t.partitions.get_mut(partition))
            {
                *slot = current;
            }
        });
        Ok(())
    }

    /// Every topic's config again (a `/config/changes` entry was added).
    async fn refresh_configs(&self) -> Result<(), AgentError> {
        let names: Vec<Arc<str>> = self.view().topics.keys().cloned().collect();
        let mut configs = Vec::with_capacity(names.len());
        for name in names {
            let config = self.read_topic_config(&name).await?;
            configs.push((name, config));
        }
        self.update(|view| {
            for (name, config) in configs {
                if let Some(topic) = view.topics.get_mut(&name) {
                    topic.configs = config;
                }
            }
        });
        Ok(())
    }
}
