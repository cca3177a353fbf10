//! [`ClusterView`]: what a clustered broker knows of the cluster, read from
//! ZooKeeper by shard 0's agent and sent whole to every shard.
//!
//! It holds what Kafka's ZooKeeper-mode brokers kept in their metadata
//! cache: the live brokers and their endpoints, the controller, and for
//! every topic its id, its config overrides and, per partition, the
//! replicas (from `/brokers/topics/<t>`) and the leader, leader epoch and
//! ISR (from `.../partitions/<p>/state`). A view is immutable; the agent
//! builds a new one, with a higher version, whenever ZooKeeper tells it
//! something changed.

use std::collections::BTreeMap;
use std::sync::Arc;

use uuid::Uuid;

use super::topic_partition::TopicPartition;
use super::topics::{TopicInfo, TopicTable};

/// Kafka's "no leader" in partition state and metadata.
pub const NO_LEADER: i32 = -1;

/// Topics Kafka creates for itself (metadata marks them internal).
pub const INTERNAL_TOPICS: &[&str] = &["__consumer_offsets", "__transaction_state"];

/// A registered (live) broker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveBroker {
    pub id: i32,
    /// The advertised endpoint clients and other brokers connect to.
    pub host: String,
    pub port: u16,
    pub rack: Option<String>,
}

/// One partition's replicas and leadership.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionView {
    /// The assigned replicas; the first is the preferred leader.
    pub replicas: Vec<i32>,
    /// [`NO_LEADER`] when no replica leads (or no state exists yet).
    pub leader: i32,
    /// -1 until the controller has written the partition's first state.
    pub leader_epoch: i32,
    pub isr: Vec<i32>,
    /// The state znode's version (for conditional writes); -1 when absent.
    pub state_version: i32,
    /// A reassignment in progress (KIP-455): the replicas being added and
    /// removed. `replicas` then holds both the target and the original
    /// ones; the target is `replicas` without `removing`.
    pub adding: Vec<i32>,
    pub removing: Vec<i32>,
}

impl PartitionView {
    /// A partition the controller has not yet written a state for.
    pub fn new(replicas: Vec<i32>) -> PartitionView {
        PartitionView {
            replicas,
            leader: NO_LEADER,
            leader_epoch: -1,
            isr: Vec::new(),
            state_version: -1,
            adding: Vec::new(),
            removing: Vec::new(),
        }
    }

    pub fn has_state(&self) -> bool {
        self.state_version >= 0
    }

    /// Whether a reassignment of this partition is under way.
    pub fn is_reassigning(&self) -> bool {
        !self.adding.is_empty() || !self.removing.is_empty()
    }

    /// The replicas a reassignment moves to (all of them when none is under
    /// way), preferred leader first.
    pub fn target_replicas(&self) -> Vec<i32> {
        self.replicas
            .iter()
            .copied()
            .filter(|r| !self.removing.contains(r))
            .collect()
    }

    /// The replicas before the reassignment under way (all of them when
    /// none is).
    pub fn original_replicas(&self) -> Vec<i32> {
        self.replicas
            .iter()
            .copied()
            .filter(|r| !self.adding.contains(r))
            .collect()
    }
}

/// One topic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopicView {
    pub name: Arc<str>,
    pub id: Uuid,
    /// Indexed by partition number.
    pub partitions: Vec<PartitionView>,
    /// `/config/topics/<topic>`.
    pub configs: BTreeMap<String, String>,
}

impl TopicView {
    pub fn is_internal(&self) -> bool {
        INTERNAL_TOPICS.contains(&&*self.name)
    }
}

/// The whole cluster, as of one version.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClusterView {
    pub version: u64,
    pub cluster_id: String,
    pub controller: Option<i32>,
    pub brokers: BTreeMap<i32, LiveBroker>,
    pub topics: BTreeMap<Arc<str>, TopicView>,
}

impl ClusterView {
    /// The topic table shards route and open partitions by.
    pub fn topic_table(&self) -> TopicTable {
        TopicTable::from_topics(
            self.version,
            self.topics.values().map(|topic| TopicInfo {
                name: topic.name.clone(),
                id: topic.id,
                partitions: topic.partitions.len() as i32,
                configs: topic.configs.clone(),
                internal: topic.is_internal(),
            }),
        )
    }

    pub fn partition(&self, partition: &TopicPartition) -> Option<&PartitionView> {
        let index = usize::try_from(partition.partition).ok()?;
        self.topics.get(&partition.topic)?.partitions.get(index)
    }

    pub fn is_live(&self, broker: i32) -> bool {
        self.brokers.contains_key(&broker)
    }

    /// The live leader of `partition`, if it has one.
    pub fn leader_of(&self, partition: &TopicPartition) -> Option<i32> {
        let view = self.partition(partition)?;
        (view.leader != NO_LEADER && self.is_live(view.leader)).then_some(view.leader)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_view_gives_a_table_and_live_leaders() {
        let mut view = ClusterView {
            version: 7,
            ..ClusterView::default()
        };
        view.brokers.insert(
            1,
            LiveBroker {
                id: 1,
                host: "h".into(),
                port: 1,
                rack: None,
            },
        );
        let mut led = PartitionView::new(vec![1, 2]);
        led.leader = 1;
        led.state_version = 0;
        let mut dead_leader = PartitionView::new(vec![2, 1]);
        dead_leader.leader = 2;
        dead_leader.state_version = 3;
        view.topics.insert(
            "__consumer_offsets".into(),
            TopicView {
                name: "__consumer_offsets".into(),
                id: Uuid::nil(),
                partitions: vec![led, dead_leader, PartitionView::new(vec![1])],
                configs: BTreeMap::new(),
            },
        );
        let table = view.topic_table();
        assert_eq!(table.version, 7);
        let info = table.get("__consumer_offsets").unwrap();
        assert!(info.internal);
        assert_eq!(info.partitions, 3);
        let tp = |p| TopicPartition::new("__consumer_offsets".into(), p);
        assert_eq!(view.leader_of(&tp(0)), Some(1));
        assert_eq!(view.leader_of(&tp(1)), None, "broker 2 is not live");
        assert_eq!(view.leader_of(&tp(2)), None, "no state yet");
        assert_eq!(view.leader_of(&tp(3)), None);
        assert!(!view.partition(&tp(2)).unwrap().has_state());
    }
}
