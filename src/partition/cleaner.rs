//! The log cleaner of one shard (Kafka's `LogCleaner`, one per shard instead
//! of a thread pool): which of the shard's partitions to clean next, with
//! what memory, and how hard.
//!
//! A partition is due when its topic's `cleanup.policy` includes `compact`
//! and its dirty ratio reaches `min.cleanable.dirty.ratio`, or its oldest
//! dirty record passed `max.compaction.lag.ms`, or a tombstone passed its
//! delete horizon (see `sluice_io::log::compact`). The dirtiest goes first
//! (overdue ones before all others), one partition at a time per shard; a
//! partition whose cleaning fails is left alone for a backoff period.
//!
//! Memory per shard: the offset map (`log.cleaner.dedupe.buffer.size` over
//! the shard count), two buffers of `log.cleaner.io.buffer.size`, and one
//! batch inflated: at most [`INFLATION_RATIO_MAX`] times the larger of the
//! topic's `max.message.bytes` and the io buffer (a batch that would
//! inflate further is kept whole, unread).

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

use sluice_io::log::compact::{CleanOutcome, CleanerLimits, CompactionConfig, Pacer};

use super::manager::PartitionManager;
use super::validation::INFLATION_RATIO_MAX;
use crate::cluster::TopicTable;
use crate::config::{CleanerConfig, TopicConfig};

/// What one shard's cleaner may use, and the partitions it left for later.
pub struct ShardCleaner {
    pub config: CleanerConfig,
    /// This shard's share of the dedupe buffer.
    dedupe_bytes_max: usize,
    /// Partitions whose cleaning failed: not tried again before this time.
    failed_until_ms: RefCell<HashMap<(Arc<str>, i32), i64>>,
}

/// A compacted topic's settings for the storage engine.
pub fn compaction_config(topic: &TopicConfig) -> CompactionConfig {
    CompactionConfig {
        delete_retention_ms: topic.delete_retention_ms,
        min_compaction_lag_ms: topic.min_compaction_lag_ms,
        max_compaction_lag_ms: topic.max_compaction_lag_ms,
        min_cleanable_dirty_ratio: topic.min_cleanable_dirty_ratio,
    }
}

impl ShardCleaner {
    pub fn new(config: &CleanerConfig, shards: usize) -> Self {
        ShardCleaner {
            dedupe_bytes_max: (config.dedupe_buffer_bytes / shards.max(1) as u64) as usize,
            config: config.clone(),
            failed_until_ms: RefCell::new(HashMap::new()),
        }
    }

    fn limits(&self, topic: &TopicConfig) -> CleanerLimits {
        let batch_bytes_max = topic.max_message_bytes.max(self.config.io_buffer_bytes);
        CleanerLimits {
            dedupe_bytes_max: self.dedupe_bytes_max,
            load_factor: self.config.io_buffer_load_factor,
            io_buffer_bytes: self.config.io_buffer_bytes,
            batch_bytes_max,
            inflated_bytes_max: batch_bytes_max.saturating_mul(INFLATION_RATIO_MAX),
        }
    }
}

impl PartitionManager {
    /// Cleans the dirtiest due partition of this shard once. Returns false
    /// when none was due (the caller then sleeps `log.cleaner.backoff.ms`).
    pub async fn clean_dirtiest(
        &self,
        table: &TopicTable,
        now_ms: i64,
        cleaner: &ShardCleaner,
        pacer: &mut impl Pacer,
    ) -> bool {
        let mut dirtiest = None;
        let mut dirtiest_score = (0i64, 0f64);
        for partition in self.owned() {
            let Some(topic) = table.get(&partition.topic) else {
                continue;
            };
            let config = self.topic_config(topic);
            if !config.cleanup_policy.compact {
                continue;
            }
            let key = (partition.topic.clone(), partition.index);
            if cleaner
                .failed_until_ms
                .borrow()
                .get(&key)
                .is_some_and(|until| now_ms < *until)
            {
                continue;
            }
            let compaction = compaction_config(&config);
            let cleanable = match partition.log.cleanable(now_ms, &compaction).await {
                Ok(Some(cleanable)) => cleanable,
                Ok(None) => continue,
                Err(error) => {
                    tracing::warn!(topic = %partition.topic, partition = partition.index, %error, "cannot measure the log for cleaning");
                    continue;
                }
            };
            if !cleanable.is_due(compaction.min_cleanable_dirty_ratio) {
                continue;
            }
            let score = (
                cleanable.overdue_ms,
                cleanable.dirty_ratio + f64::from(u8::from(cleanable.tombstones_due)),
            );
            if dirtiest.is_none() || score > dirtiest_score {
                dirtiest_score = score;
                dirtiest = Some((partition, config, compaction));
            }
        }
        let Some((partition, config, compaction)) = dirtiest else {
            return false;
        };
        let started = std::time::Instant::now();
        let limits = cleaner.limits(&config);
        match partition
            .log
            .clean(now_ms, &compaction, &limits, pacer)
            .await
        {
            Ok(CleanOutcome::Cleaned(stats)) => {
                let seconds = started.elapsed().as_secs_f64();
                tracing::info!(
                    topic = %partition.topic,
                    partition = partition.index,
                    first_dirty = stats.first_dirty,
                    end_offset = stats.end_offset,
                    bytes_before = stats.bytes_before,
                    bytes_after = stats.bytes_after,
                    segments_before = stats.segments_before,
                    segments_after = stats.segments_after,
                    records_removed = stats.records_removed,
                    tombstones_removed = stats.tombstones_removed,
                    read_mb_per_s = stats.bytes_read as f64 / 1e6 / seconds.max(1e-6),
                    "cleaned log"
                );
                if stats.keyless_removed > 0 || stats.unreadable_batches > 0 {
                    tracing::warn!(topic = %partition.topic, partition = partition.index, keyless_removed = stats.keyless_removed, unreadable_batches = stats.unreadable_batches, "the cleaner dropped keyless records or kept unreadable batches whole");
                }
                true
            }
            Ok(CleanOutcome::Stopped(_)) => false,
            Ok(CleanOutcome::NothingToClean) => false,
            Err(error) => {
                tracing::warn!(topic = %partition.topic, partition = partition.index, %error, "log cleaning failed; trying again after the backoff");
                let retry_ms = now_ms.saturating_add(cleaner.config.backoff_ms.max(1_000) as i64);
                cleaner
                    .failed_until_ms
                    .borrow_mut()
                    .insert((partition.topic.clone(), partition.index), retry_ms);
                false
            }
        }
    }
}
