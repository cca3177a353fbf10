//! Cluster metadata: the topic table every shard holds a copy of, and its
//! persistence. (ZooKeeper and replication come with clustering.)

pub mod topics;

pub use topics::{TopicInfo, TopicStore, TopicTable};
