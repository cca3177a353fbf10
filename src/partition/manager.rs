//! [`PartitionManager`]: the partitions one shard owns.
//!
//! Lifecycle: one per shard, created at start. When the shard applies a new
//! topic table it opens the partitions it now owns (placement decides which)
//! and closes and deletes those of removed topics. Nothing else opens or
//! closes partition logs.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use sluice_io::batch;
use sluice_io::storage::dma::DmaStorage;
use sluice_io::validate::TimestampPolicy;
use sluice_io::{FlushPolicy, LogConfig, PartitionLog, Retention};
use sluice_shards::ShardId;

use super::validation::RecordRules;
use super::{Partition, PartitionSettings};
use crate::cluster::{RoutingTable, TopicInfo, TopicTable};
use crate::config::{TimestampType, TopicConfig, TopicDefaults};

/// Log settings from a topic's configuration.
/// Disk reserved ahead per segment of an internal topic's partition.
const INTERNAL_PREALLOCATE_BYTES: u64 = 1 << 20;
/// Recent-write cache per internal partition.
const INTERNAL_CACHE_BYTES_MAX: usize = 1 << 20;

pub fn log_config(topic: &TopicConfig) -> LogConfig {
    let flush_policy = if topic.flush_messages <= 1 || topic.flush_ms == 0 {
        FlushPolicy::EveryWrite
    } else {
        FlushPolicy::Interval {
            messages: topic.flush_messages,
            ms: topic.flush_ms,
        }
    };
    LogConfig {
        segment_bytes: topic.segment_bytes,
        segment_ms: segment_ms(topic),
        index_interval_bytes: topic.index_interval_bytes,
        flush_policy,
        ..LogConfig::default()
    }
}

/// Kafka's `maxSegmentMs`: a compacted topic's active segment also rolls
/// at `max.compaction.lag.ms`, so its records can be cleaned by then.
fn segment_ms(topic: &TopicConfig) -> i64 {
    if topic.cleanup_policy.compact {
        topic.segment_ms.min(topic.max_compaction_lag_ms)
    } else {
        topic.segment_ms
    }
}

fn settings(topic: &TopicConfig) -> PartitionSettings {
    let timestamp_type = match topic.message_timestamp_type {
        TimestampType::CreateTime => batch::TimestampType::CreateTime,
        TimestampType::LogAppendTime => batch::TimestampType::LogAppendTime,
    };
    PartitionSettings {
        rules: RecordRules {
            batch_bytes_max: topic.max_message_bytes,
            timestamps: TimestampPolicy::from_settings(
                timestamp_type,
                topic.message_timestamp_before_max_ms,
                topic.message_timestamp_after_max_ms,
                topic.message_timestamp_difference_max_ms,
            ),
        },
        downconversion_enabled: topic.message_downconversion_enable,
        compacted: topic.cleanup_policy.compact,
        min_insync_replicas: topic.min_insync_replicas.max(1) as usize,
    }
}

/// Partitions by topic, then index: looked up by `&str` on every request
/// without allocating a key.
type PartitionMap = HashMap<Arc<str>, HashMap<i32, Rc<Partition>>>;

pub struct PartitionManager {
    shard: ShardId,
    log_dir: PathBuf,
    defaults: TopicDefaults,
    partitions: RefCell<PartitionMap>,
    /// The topic id each open partition belongs to, to notice a topic that
    /// was deleted and created again under the same name.
    topic_ids: RefCell<HashMap<Arc<str>, uuid::Uuid>>,
    /// Partitions whose periodic work is failing (a full or broken disk):
    /// logged once when they start failing and once when they recover,
    /// not on every 5 ms tick.
    failing_ticks: RefCell<HashSet<(Arc<str>, i32)>>,
}

impl PartitionManager {
    pub fn new(shard: ShardId, log_dir: PathBuf, defaults: TopicDefaults) -> Self {
        PartitionManager {
            shard,
            log_dir,
            defaults,
            partitions: RefCell::new(HashMap::new()),
            topic_ids: RefCell::new(HashMap::new()),
            failing_ticks: RefCell::new(HashSet::new()),
        }
    }

    pub fn get(&self, topic: &str, partition: i32) -> Option<Rc<Partition>> {
        self.partitions
            .borrow()
            .get(topic)?
            .get(&partition)
            .cloned()
    }

    pub fn owned(&self) -> Vec<Rc<Partition>> {
        self.partitions
            .borrow()
            .values()
            .flat_map(|p| p.values().cloned())
            .collect()
    }

    pub fn partition_dir(&self, topic: &str, partition: i32) -> PathBuf {
        self.log_dir.join(format!("{topic}-{partition}"))
    }

    /// A topic's effective configuration (defaults plus its overrides).
    pub fn topic_config(&self, topic: &TopicInfo) -> TopicConfig {
        self.defaults
            .with_overrides(topic.configs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .unwrap_or_else(|error| {
                tracing::warn!(topic = %topic.name, %error, "ignoring invalid stored topic config");
                self.defaults.config().clone()
            })
    }

    pub fn defaults(&self) -> &TopicDefaults {
        &self.defaults
    }

    /// Brings the owned partitions in line with `routing`: opens those it
    /// says this shard owns, closes (and deletes) those of removed topics.
    pub async fn apply(&self, routing: &RoutingTable) -> Result<(), String> {
        let table = routing.topics();
        // Removed (or re-created) topics first, so a new incarnation starts empty.
        let stale: Vec<(Arc<str>, i32)> = {
            let ids = self.topic_ids.borrow();
            self.partitions
                .borrow()
                .iter()
                .flat_map(|(topic, partitions)| partitions.keys().map(move |p| (topic.clone(), *p)))
                .filter(|(topic, partition)| match table.get(topic) {
                    None => true,
                    Some(info) => {
                        ids.get(topic) != Some(&info.id)
                            || *partition >= info.partitions
                            // A reassignment moved this replica to other
                            // brokers: it is deleted, as Kafka's
                            // StopReplica(delete) does.
                            || routing.replica_moved_away(topic, *partition)
                    }
                })
                .collect()
        };
        for (topic, partition) in stale {
            let removed = {
                let mut partitions = self.partitions.borrow_mut();
                let of_topic = partitions.get_mut(&topic);
                let removed = of_topic.and_then(|p| p.remove(&partition));
                if partitions.get(&topic).is_some_and(|p| p.is_empty()) {
                    partitions.remove(&topic);
                }
                removed
            };
            if let Some(removed) = removed {
                if let Err(error) = removed.log.close().await {
                    tracing::warn!(%topic, partition, %error, "closing deleted partition");
                }
            }
            let dir = self.partition_dir(&topic, partition);
            if let Err(error) = std::fs::remove_dir_all(&dir) {
                if error.kind() != std::io::ErrorKind::NotFound {
                    return Err(format!("deleting {}: {error}", dir.display()));
                }
            }
        }
        for topic in table.iter() {
            let config = self.topic_config(topic);
            for partition in routing.owned_by(topic, self.shard) {
                if let Some(open) = self.get(&topic.name, partition) {
                    // A live config change (AlterConfigs): max.message.bytes
                    // and the timestamp settings apply to the next produce, the
                    // segment limits to the next roll check; retention is
                    // read from the table at every retention pass.
                    open.set_settings(settings(&config));
                    open.log
                        .set_segment_limits(config.segment_bytes, segment_ms(&config));
                    continue;
                }
                let dir = self.partition_dir(&topic.name, partition);
                let mut log_config = log_config(&config);
                if topic.internal {
                    // `__consumer_offsets` has 50 small partitions: keep
                    // each one's disk reservation and cache small.
                    log_config.preallocate_bytes = INTERNAL_PREALLOCATE_BYTES;
                    log_config.cache_bytes_max = INTERNAL_CACHE_BYTES_MAX;
                }
                let log = PartitionLog::open(DmaStorage, &dir, log_config)
                    .await
                    .map_err(|e| format!("opening {}: {e}", dir.display()))?;
                let opened = Partition::new(topic.name.clone(), partition, log, settings(&config))
                    .await
                    .map_err(|e| format!("opening {}: {e}", dir.display()))?;
                self.partitions
                    .borrow_mut()
                    .entry(topic.name.clone())
                    .or_default()
                    .insert(partition, Rc::new(opened));
            }
            self.topic_ids
                .borrow_mut()
                .insert(topic.name.clone(), topic.id);
        }
        self.topic_ids
            .borrow_mut()
            .retain(|name, _| table.get(name).is_some());
        Ok(())
    }

    /// Deletes old segments of every owned partition per its topic's
    /// retention settings.
    pub async fn apply_retention(&self, table: &TopicTable, now_ms: i64) {
        for partition in self.owned() {
            let Some(topic) = table.get(&partition.topic) else {
                continue;
            };
            let config = self.topic_config(topic);
            if !config.cleanup_policy.delete {
                continue;
            }
            let retention = Retention {
                ms: config.retention_ms,
                bytes: config.retention_bytes,
            };
            match partition.log.apply_retention(now_ms, retention).await {
                Ok(0) => {}
                Ok(deleted) => tracing::info!(
                    topic = %partition.topic,
                    partition = partition.index,
                    deleted,
                    log_start_offset = partition.log.log_start_offset(),
                    "deleted segments past retention"
                ),
                Err(error) => {
                    tracing::warn!(topic = %partition.topic, partition = partition.index, %error, "retention failed")
                }
            }
        }
    }

    /// Runs every owned partition's periodic work.
    pub async fn tick(&self) {
        for partition in self.owned() {
            match partition.tick().await {
                Err(error) => {
                    let key = (partition.topic.clone(), partition.index);
                    if self.failing_ticks.borrow_mut().insert(key) {
                        tracing::warn!(topic = %partition.topic, partition = partition.index, %error, "partition tick failed (logged once until it recovers)");
                    }
                }
                Ok(()) => {
                    let mut failing = self.failing_ticks.borrow_mut();
                    if !failing.is_empty()
                        && failing.remove(&(partition.topic.clone(), partition.index))
                    {
                        tracing::info!(topic = %partition.topic, partition = partition.index, "partition tick works again");
                    }
                }
            }
        }
    }

    /// Flushes and closes every owned partition (shutdown).
    pub async fn close_all(&self) {
        let partitions: Vec<_> = self.partitions.borrow_mut().drain().collect();
        for (topic, of_topic) in partitions {
            for (partition, open) in of_topic {
                if let Err(error) = open.log.close().await {
                    tracing::error!(%topic, partition, %error, "closing partition");
                }
            }
        }
    }
}

/// How often a shard runs partition ticks (acks=0 write-outs, interval syncs).
pub const TICK_INTERVAL: Duration = Duration::from_millis(5);
