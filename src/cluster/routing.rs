//! [`RoutingTable`]: who owns each partition, the one place that answers it.
//!
//! Every shard holds its own copy (`Arc`, replaced whole, never edited):
//! the topic table it was built from, this node's shard count and, in
//! cluster mode, the cluster view and this broker's id. Within a broker a
//! partition belongs to one shard, chosen by the fixed placement function
//! of `sluice-shards` (so every shard, and every restart, agrees without
//! asking anyone). Across the cluster its leader is another broker's
//! business: the frontend answers `NOT_LEADER_OR_FOLLOWER` (or
//! `NOT_COORDINATOR` for a group) when the owner is [`Owner::Broker`], and
//! the same when no broker leads it now ([`Owner::NoLeader`]).
//!
//! The table's version is the topic table's (the cluster view's in cluster
//! mode): a shard applies a newer table and ignores older ones.

use std::sync::Arc;

use sluice_shards::{shard_for, PartitionKey, ShardCount, ShardId};

use super::topic_partition::TopicPartition;
use super::view::ClusterView;
use super::{TopicInfo, TopicTable};

/// Where one partition's work goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Owner {
    /// A shard of this broker, which leads the partition.
    Shard(ShardId),
    /// Another broker leads it.
    Broker(i32),
    /// No live broker leads it now (cluster mode: its leader died and the
    /// controller has not elected another, or it is offline).
    NoLeader,
}

/// This broker's place in a cluster.
#[derive(Clone, Debug)]
struct Membership {
    broker_id: i32,
    view: Arc<ClusterView>,
}

/// A versioned snapshot: topics, and the owner of each of their partitions.
#[derive(Clone, Debug)]
pub struct RoutingTable {
    topics: Arc<TopicTable>,
    shards: ShardCount,
    cluster: Option<Membership>,
}

impl RoutingTable {
    /// The single embedded node: every partition is this broker's.
    pub fn new(topics: Arc<TopicTable>, shards: ShardCount) -> RoutingTable {
        RoutingTable {
            topics,
            shards,
            cluster: None,
        }
    }

    /// A clustered broker's table, from the cluster view.
    pub fn clustered(view: Arc<ClusterView>, broker_id: i32, shards: ShardCount) -> RoutingTable {
        RoutingTable {
            topics: Arc::new(view.topic_table()),
            shards,
            cluster: Some(Membership { broker_id, view }),
        }
    }

    pub fn version(&self) -> u64 {
        self.topics.version
    }

    pub fn topics(&self) -> &Arc<TopicTable> {
        &self.topics
    }

    /// The cluster view, in cluster mode.
    pub fn cluster(&self) -> Option<&Arc<ClusterView>> {
        self.cluster.as_ref().map(|m| &m.view)
    }

    /// The partition `partition` of `topic` if the topic exists and has it.
    pub fn partition(&self, topic: &str, partition: i32) -> Option<TopicPartition> {
        let info = self.topics.get(topic)?;
        (0..info.partitions)
            .contains(&partition)
            .then(|| TopicPartition::new(info.name.clone(), partition))
    }

    /// The owner of a partition of a known topic.
    pub fn owner(&self, partition: &TopicPartition) -> Owner {
        let shard = Owner::Shard(self.shard_of(&partition.topic, partition.partition));
        let Some(membership) = &self.cluster else {
            return shard;
        };
        match membership.view.leader_of(partition) {
            Some(leader) if leader == membership.broker_id => shard,
            Some(leader) => Owner::Broker(leader),
            None => Owner::NoLeader,
        }
    }

    /// In a cluster, whether a reassignment moved `partition`'s replica
    /// away from this broker for good: the view knows the partition and
    /// names this broker neither among its replicas nor as its leader nor
    /// in its ISR (a replica still leading or in sync keeps its data until
    /// the controller has moved the state on). False on the embedded node
    /// and for partitions the view does not know.
    pub fn replica_moved_away(&self, topic: &str, partition: i32) -> bool {
        let Some(membership) = self.cluster.as_ref() else {
            return false;
        };
        let me = membership.broker_id;
        membership
            .view
            .partition(&TopicPartition::new(topic.into(), partition))
            .is_some_and(|view| {
                !view.replicas.contains(&me) && view.leader != me && !view.isr.contains(&me)
            })
    }

    /// The shard of this broker that holds `partition`'s replica (whether or
    /// not this broker leads it).
    pub fn shard_for(&self, partition: &TopicPartition) -> ShardId {
        self.shard_of(&partition.topic, partition.partition)
    }

    /// The partitions of `topic` whose replica shard `shard` holds: all of
    /// them that placement gives it on the embedded node; in a cluster,
    /// only those this broker is a replica of.
    pub fn owned_by<'a>(
        &'a self,
        topic: &'a TopicInfo,
        shard: ShardId,
    ) -> impl Iterator<Item = i32> + 'a {
        (0..topic.partitions).filter(move |&p| {
            self.shard_of(&topic.name, p) == shard
                && self.cluster.as_ref().is_none_or(|m| {
                    m.view
                        .partition(&TopicPartition::new(topic.name.clone(), p))
                        .is_some_and(|view| view.replicas.contains(&m.broker_id))
                })
        })
    }

    fn shard_of(&self, topic: &str, partition: i32) -> ShardId {
        shard_for(PartitionKey::new(topic, partition), self.shards)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::view::{LiveBroker, PartitionView, TopicView};

    fn table() -> RoutingTable {
        let info = TopicInfo {
            name: "orders".into(),
            id: uuid::Uuid::nil(),
            partitions: 6,
            configs: Default::default(),
            internal: false,
        };
        let topics = TopicTable::default().with_topic(info);
        RoutingTable::new(Arc::new(topics), ShardCount::new(4).unwrap())
    }

    #[test]
    fn owners_follow_placement_and_cover_every_partition_once() {
        let table = table();
        assert_eq!(table.version(), 1);
        let info = table.topics().get("orders").unwrap().clone();
        let mut owned: Vec<i32> = (0..4)
            .flat_map(|s| table.owned_by(&info, ShardId::new(s)).collect::<Vec<_>>())
            .collect();
        owned.sort();
        assert_eq!(owned, (0..6).collect::<Vec<_>>());
        for p in 0..6 {
            let tp = table.partition("orders", p).unwrap();
            let expected = shard_for(PartitionKey::new("orders", p), ShardCount::new(4).unwrap());
            assert_eq!(table.owner(&tp), Owner::Shard(expected));
        }
    }

    #[test]
    fn unknown_topics_and_partitions_have_no_owner() {
        let table = table();
        assert!(table.partition("orders", 6).is_none());
        assert!(table.partition("orders", -1).is_none());
        assert!(table.partition("nope", 0).is_none());
    }

    #[test]
    fn in_a_cluster_the_leader_owns_and_replicas_open() {
        let mut view = ClusterView {
            version: 3,
            ..ClusterView::default()
        };
        for id in [1, 2] {
            let broker = LiveBroker {
                id,
                host: "h".into(),
                port: 9000 + id as u16,
                rack: None,
            };
            view.brokers.insert(id, broker);
        }
        let state = |replicas: Vec<i32>, leader| PartitionView {
            leader,
            leader_epoch: 0,
            isr: replicas.clone(),
            state_version: 0,
            replicas,
            adding: Vec::new(),
            removing: Vec::new(),
        };
        view.topics.insert(
            "t".into(),
            TopicView {
                name: "t".into(),
                id: uuid::Uuid::nil(),
                partitions: vec![
                    state(vec![1, 2], 1),
                    state(vec![2], 2),
                    state(vec![3, 1], 3),
                ],
                configs: Default::default(),
            },
        );
        let shards = ShardCount::new(1).unwrap();
        let table = RoutingTable::clustered(Arc::new(view), 1, shards);
        let tp = |p| table.partition("t", p).unwrap();
        assert_eq!(table.owner(&tp(0)), Owner::Shard(ShardId::new(0)));
        assert_eq!(table.owner(&tp(1)), Owner::Broker(2));
        assert_eq!(table.owner(&tp(2)), Owner::NoLeader, "broker 3 is not live");
        let info = table.topics().get("t").unwrap().clone();
        let opened: Vec<i32> = table.owned_by(&info, ShardId::new(0)).collect();
        assert_eq!(opened, vec![0, 2], "the replicas of broker 1");
    }
}
