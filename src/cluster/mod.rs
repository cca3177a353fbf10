//! Cluster metadata: the topic table every shard holds a copy of and its
//! persistence, partition names ([`topic_partition`]), the routing table
//! that says who owns each partition ([`routing`]); and ZooKeeper mode:
//! Kafka's znode layout ([`znodes`]), replica placement ([`assignment`]),
//! the ZooKeeper session ([`zk`]) and the inter-broker Kafka client
//! ([`client`]).

pub mod agent;
pub mod assignment;
pub mod client;
pub mod routing;
pub mod topic_partition;
pub mod topics;
pub mod view;
pub mod zk;
pub mod znodes;

pub use routing::{Owner, RoutingTable};
pub use topic_partition::TopicPartition;
pub use topics::{TopicInfo, TopicStore, TopicTable};
pub use view::ClusterView;
