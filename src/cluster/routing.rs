//! [`RoutingTable`]: who owns each partition, the one place that answers it.
//!
//! Every shard holds its own copy (`Arc`, replaced whole, never edited):
//! the topic table it was built from and this node's shard count. A
//! partition of a known topic is owned by one shard of this broker, chosen
//! by the fixed placement function of `sluice-shards` (so every shard, and
//! every restart, agrees without asking anyone). With clustering the table
//! also says which broker leads each partition: then an owner can be
//! another broker, and the frontend answers `NOT_LEADER_OR_FOLLOWER`.
//!
//! The table's version is the topic table's: a shard applies a newer table
//! from the control shard and ignores older ones.

use std::sync::Arc;

use sluice_shards::{shard_for, PartitionKey, ShardCount, ShardId};

use super::topic_partition::TopicPartition;
use super::{TopicInfo, TopicTable};

/// Where one partition's work goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Owner {
    /// A shard of this broker.
    Shard(ShardId),
}

/// A versioned snapshot: topics, and the owner of each of their partitions.
#[derive(Clone, Debug)]
pub struct RoutingTable {
    topics: Arc<TopicTable>,
    shards: ShardCount,
}

impl RoutingTable {
    pub fn new(topics: Arc<TopicTable>, shards: ShardCount) -> RoutingTable {
        RoutingTable { topics, shards }
    }

    pub fn version(&self) -> u64 {
        self.topics.version
    }

    pub fn topics(&self) -> &Arc<TopicTable> {
        &self.topics
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
        Owner::Shard(self.shard_of(&partition.topic, partition.partition))
    }

    /// The partitions of `topic` this broker's shard `shard` owns.
    pub fn owned_by<'a>(
        &'a self,
        topic: &'a TopicInfo,
        shard: ShardId,
    ) -> impl Iterator<Item = i32> + 'a {
        (0..topic.partitions).filter(move |&p| self.shard_of(&topic.name, p) == shard)
    }

    fn shard_of(&self, topic: &str, partition: i32) -> ShardId {
        shard_for(PartitionKey::new(topic, partition), self.shards)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
