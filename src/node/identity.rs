//! What a broker keeps about itself in its log directory: the cluster id
//! (`meta.properties`, as Kafka keeps it) and the internal topic
//! `__consumer_offsets`, created at the first start.

use crate::broker::BrokerError;
use crate::cluster::znodes::kafka_uuid_text;
use crate::cluster::{TopicInfo, TopicStore, TopicTable};
use crate::config::BrokerConfig;
use crate::coordinator::OFFSETS_TOPIC;

/// Creates `__consumer_offsets` the first time the broker starts (Kafka
/// creates it on the first FindCoordinator; here it exists from the start,
/// so every shard reads its groups back before it listens).
pub(super) fn ensure_offsets_topic(
    config: &BrokerConfig,
    table: TopicTable,
) -> Result<TopicTable, BrokerError> {
    if let Some(existing) = table.get(OFFSETS_TOPIC) {
        if existing.partitions != config.offsets_topic_num_partitions {
            tracing::warn!(
                existing = existing.partitions,
                configured = config.offsets_topic_num_partitions,
                "{OFFSETS_TOPIC} keeps its partition count; offsets.topic.num.partitions applies only when it is created"
            );
        }
        return Ok(table);
    }
    let mut configs = std::collections::BTreeMap::new();
    configs.insert("cleanup.policy".to_string(), "compact".to_string());
    configs.insert(
        "segment.bytes".to_string(),
        config.groups.offsets_topic_segment_bytes.to_string(),
    );
    let info = TopicInfo {
        name: OFFSETS_TOPIC.into(),
        id: uuid::Uuid::new_v4(),
        partitions: config.offsets_topic_num_partitions,
        configs,
        internal: true,
    };
    TopicStore::new(&config.log_dir)
        .and_then(|store| store.save(&info))
        .map_err(|source| BrokerError::File {
            op: "creating __consumer_offsets in",
            path: config.log_dir.clone(),
            source,
        })?;
    tracing::info!(partitions = info.partitions, "created {OFFSETS_TOPIC}");
    Ok(table.with_topic(info))
}

/// The cluster id in `meta.properties`, if the broker has one.
pub(super) fn stored_cluster_id(config: &BrokerConfig) -> Option<String> {
    let text = std::fs::read_to_string(config.log_dir.join("meta.properties")).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("cluster.id="))
        .map(|id| id.trim().to_string())
}

/// Writes `meta.properties` with `cluster_id`, as Kafka keeps it.
pub(super) fn store_cluster_id(config: &BrokerConfig, cluster_id: &str) -> Result<(), BrokerError> {
    let path = config.log_dir.join("meta.properties");
    let text = format!(
        "version=0\nbroker.id={}\ncluster.id={cluster_id}\n",
        config.broker_id
    );
    std::fs::write(&path, text).map_err(|source| BrokerError::File {
        op: "writing",
        path: path.clone(),
        source,
    })
}

/// The embedded node's cluster id: created once (Kafka's form, URL-safe
/// base64 of a random UUID) and kept in `meta.properties`.
pub(super) fn cluster_id(config: &BrokerConfig) -> Result<String, BrokerError> {
    if let Some(id) = stored_cluster_id(config) {
        return Ok(id);
    }
    let id = kafka_uuid_text(&uuid::Uuid::new_v4());
    store_cluster_id(config, &id)?;
    Ok(id)
}
