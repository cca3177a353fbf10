//! What a broker keeps about itself in its log directory: the cluster id
//! (`meta.properties`, as Kafka keeps it) and the internal topic
//! `__consumer_offsets`, created at the first start.

use crate::broker::BrokerError;
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

/// The cluster id, created once and kept in the log directory (Kafka keeps
/// it in `meta.properties`).
pub(super) fn cluster_id(config: &BrokerConfig) -> Result<String, BrokerError> {
    let path = config.log_dir.join("meta.properties");
    if let Ok(text) = std::fs::read_to_string(&path) {
        if let Some(id) = text.lines().find_map(|l| l.strip_prefix("cluster.id=")) {
            return Ok(id.trim().to_string());
        }
    }
    let id = base64_url(uuid::Uuid::new_v4().as_bytes());
    let text = format!(
        "version=0\nbroker.id={}\ncluster.id={id}\n",
        config.broker_id
    );
    std::fs::write(&path, text).map_err(|source| BrokerError::File {
        op: "writing",
        path: path.clone(),
        source,
    })?;
    Ok(id)
}

/// Kafka prints cluster ids as URL-safe base64 without padding.
fn base64_url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for i in 0..=chunk.len() {
            out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}
