//! Cluster metadata: the topic table every shard holds a copy of, and its
//! persistence; and the groundwork of ZooKeeper mode: Kafka's znode layout
//! ([`znodes`]), replica placement ([`assignment`]), the ZooKeeper session
//! ([`zk`]) and the inter-broker Kafka client ([`client`]).

pub mod assignment;
pub mod client;
pub mod topics;
pub mod zk;
pub mod znodes;

pub use topics::{TopicInfo, TopicStore, TopicTable};
