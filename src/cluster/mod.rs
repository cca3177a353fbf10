//! Cluster metadata: the topic table every shard holds a copy of and its
//! persistence, partition names, and the routing table that says who owns
//! each partition. (ZooKeeper and replication come with clustering.)

pub mod routing;
pub mod topic_partition;
pub mod topics;

pub use routing::{Owner, RoutingTable};
pub use topic_partition::TopicPartition;
pub use topics::{TopicInfo, TopicStore, TopicTable};
