//! [`TopicPartition`]: one partition of one topic, the unit that has exactly
//! one owner (a shard of this broker, or, with clustering, another broker).

use std::fmt;
use std::sync::Arc;

/// A partition named by its topic and index. The topic name is shared
/// (`Arc<str>`, from the topic table), so cloning one copies no string.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicPartition {
    pub topic: Arc<str>,
    pub partition: i32,
}

impl TopicPartition {
    pub fn new(topic: Arc<str>, partition: i32) -> TopicPartition {
        TopicPartition { topic, partition }
    }
}

impl fmt::Display for TopicPartition {
    /// Kafka's way of writing one: `topic-partition`, as its directory is named.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.topic, self.partition)
    }
}
