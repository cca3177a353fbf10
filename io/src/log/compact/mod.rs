//! Log compaction (`cleanup.policy=compact`): keep the latest record of every
//! key, Kafka's `LogCleaner` for one partition.
//!
//! ```text
//!  log start            first dirty              first uncleanable   active
//!  |---- clean (cleaned before) ----|---- dirty ----|---- too young ----|--------|
//!                                   '--- mapped ---'end
//! ```
//!
//! - **Which part.** The *dirty* part starts where the last cleaning ended
//!   (the checkpoint file `cleaner-offset-checkpoint`) and ends at the first
//!   segment that is the active one or younger than `min.compaction.lag.ms`
//!   (by its newest timestamp). [`PartitionLog::cleanable`] measures it:
//!   the dirty ratio is dirty bytes over clean plus dirty bytes, as Kafka's
//!   `min.cleanable.dirty.ratio` compares it; a dirty part whose first batch
//!   is older than `max.compaction.lag.ms` is due whatever the ratio, and so
//!   is a log holding a tombstone past its delete horizon.
//! - **Map.** [`PartitionLog::clean`] reads the dirty part in order into an
//!   [`OffsetMap`] (key hash to its latest offset) of at most
//!   `dedupe_bytes_max`; if the map fills, the mapped part ends at the last
//!   batch that fit (`end`) and the rest waits for the next cleaning. The
//!   same pass notes the last batch of every idempotent producer.
//! - **Rewrite.** Every segment below `end`, the clean part included, is
//!   read again and rewritten without what the map and the clock condemn
//!   ([`filter`]), groups of consecutive segments into one file of at most
//!   `segment.bytes` (`rewrite.rs`); batches at or past `end` are copied as
//!   they are.
//! - **Swap.** Each group's file replaces its segments crash-safely
//!   ([`swap`]); a group whose segments changed meanwhile (retention,
//!   truncation) is abandoned. Then the checkpoint moves to `end`.
//!
//! Offsets never change: a cleaned log has gaps, which reads step over.
//!
//! Memory: the map (`dedupe_bytes_max`, sized down to what the dirty part
//! can need), one read window and one write buffer of `io_buffer_bytes`
//! (a batch larger than the window is read whole, up to `batch_bytes_max`),
//! and one batch's records inflated, at most `inflated_bytes_max`; a batch
//! that inflates past it is kept whole, unread.
//!
//! Time: the cleaner asks its [`Pacer`] after every batch, which throttles
//! it and lets the shard's other tasks run; the only await that holds a lock
//! is the swap of a group (a few renames and directory syncs), under the
//! log's segments lock, which appends never take.

pub mod filter;
pub mod offset_map;
pub mod pace;
mod rewrite;
pub mod segment_io;
pub mod swap;

use std::rc::Rc;

use super::PartitionLog;
use crate::batch;
use crate::config::limits;
use crate::error::{IoError, Result};
use crate::storage::Storage;
use filter::{FilterContext, ProducerLastBatches};
pub use offset_map::OffsetMap;
pub use pace::{Pacer, Throttle, Unpaced};
use rewrite::GroupOutcome;
use segment_io::SegmentReader;
use swap::CleanerCheckpoint;

/// A topic's compaction settings (Kafka's topic configs of the same names).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CompactionConfig {
    /// `delete.retention.ms`: how long a tombstone stays after the cleaning
    /// that first kept it.
    pub delete_retention_ms: i64,
    /// `min.compaction.lag.ms`: a segment is cleaned only once its newest
    /// record is this old.
    pub min_compaction_lag_ms: i64,
    /// `max.compaction.lag.ms`: dirty records older than this make the log
    /// due for cleaning whatever its dirty ratio.
    pub max_compaction_lag_ms: i64,
    /// `min.cleanable.dirty.ratio`.
    pub min_cleanable_dirty_ratio: f64,
}

impl Default for CompactionConfig {
    /// Kafka's defaults.
    fn default() -> Self {
        CompactionConfig {
            delete_retention_ms: 86_400_000,
            min_compaction_lag_ms: 0,
            max_compaction_lag_ms: i64::MAX,
            min_cleanable_dirty_ratio: 0.5,
        }
    }
}

/// The memory one cleaning may use (a shard's share of the broker's
/// `log.cleaner.*` settings).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CleanerLimits {
    /// `log.cleaner.dedupe.buffer.size` over the shards: the offset map.
    pub dedupe_bytes_max: usize,
    /// `log.cleaner.io.buffer.load.factor`.
    pub load_factor: f64,
    /// `log.cleaner.io.buffer.size`: the read window and the write buffer.
    pub io_buffer_bytes: usize,
    /// The largest batch read whole (`max.message.bytes`).
    pub batch_bytes_max: usize,
    /// The most one batch's records may inflate to.
    pub inflated_bytes_max: usize,
}

impl Default for CleanerLimits {
    fn default() -> Self {
        CleanerLimits {
            dedupe_bytes_max: 128 << 20,
            load_factor: 0.9,
            io_buffer_bytes: 512 << 10,
            batch_bytes_max: 1_048_588,
            inflated_bytes_max: 32 << 20,
        }
    }
}

/// How much of a log a cleaning would touch, and whether it is due.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Cleanable {
    pub first_dirty: u64,
    pub first_uncleanable: u64,
    pub clean_bytes: u64,
    pub dirty_bytes: u64,
    /// Dirty bytes over clean plus dirty bytes.
    pub dirty_ratio: f64,
    /// How far past `max.compaction.lag.ms` the oldest dirty batch is (0
    /// when it is not).
    pub overdue_ms: i64,
    /// A tombstone in the cleaned part has passed its delete horizon.
    pub tombstones_due: bool,
}

impl Cleanable {
    /// Kafka's rule: enough dirt, or dirt too old, or tombstones to drop.
    pub fn is_due(&self, min_cleanable_dirty_ratio: f64) -> bool {
        (self.dirty_bytes > 0
            && (self.dirty_ratio >= min_cleanable_dirty_ratio || self.overdue_ms > 0))
            || self.tombstones_due
    }
}

/// What a cleaning did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CleanStats {
    pub first_dirty: u64,
    /// The new first dirty offset (the end of the mapped part).
    pub end_offset: u64,
    pub bytes_read: u64,
    pub bytes_before: u64,
    pub bytes_after: u64,
    pub segments_before: usize,
    pub segments_after: usize,
    pub records_kept: u64,
    pub records_removed: u64,
    pub tombstones_removed: u64,
    pub keyless_removed: u64,
    /// Batches kept whole because they could not be read within the bounds.
    pub unreadable_batches: u64,
    pub map_entries: usize,
    pub map_bytes: usize,
    /// Groups whose segments changed during the cleaning and were left.
    pub groups_abandoned: usize,
}

/// How a cleaning ended.
#[derive(Clone, Debug, PartialEq)]
pub enum CleanOutcome {
    Cleaned(CleanStats),
    /// Not due, or nothing dirty.
    NothingToClean,
    /// The pacer asked it to stop; what was swapped in stays.
    Stopped(CleanStats),
}

/// A sealed segment as the cleaner saw it when it started.
struct SegmentSnapshot<F> {
    base: u64,
    next_base: u64,
    size_bytes: u64,
    file: Rc<F>,
}

/// The cleaner's state in the log.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct CleanerState {
    pub checkpoint: CleanerCheckpoint,
}

impl<S: Storage> PartitionLog<S> {
    /// The cleaner's view of this log now (see the module doc); `None` when
    /// there is no sealed segment.
    pub async fn cleanable(
        &self,
        now_ms: i64,
        config: &CompactionConfig,
    ) -> Result<Option<Cleanable>> {
        let (mut cleanable, first_dirty_read) = {
            let state = self.state.borrow();
            if state.segments.len() < 2 {
                return Ok(None);
            }
            let active_base = state.active().base_offset;
            let first_base = *state.segments.keys().next().expect("a log has a segment");
            let first_dirty = state
                .cleaner
                .checkpoint
                .first_dirty
                .max(state.log_start_offset)
                .max(first_base)
                .min(active_base);
            let bases: Vec<u64> = state.segments.keys().copied().collect();
            let mut first_uncleanable = active_base;
            let mut clean_bytes = 0u64;
            let mut dirty_bytes = 0u64;
            let mut first_dirty_read = None;
            for (i, (&base, seg)) in state.segments.iter().enumerate() {
                let next_base = bases.get(i + 1).copied().unwrap_or(u64::MAX);
                if base >= active_base {
                    break;
                }
                if next_base <= first_dirty {
                    clean_bytes += seg.size_bytes;
                    continue;
                }
                let young = config.min_compaction_lag_ms > 0
                    && seg.max_timestamp_ms >= 0
                    && now_ms.saturating_sub(seg.max_timestamp_ms) < config.min_compaction_lag_ms;
                if young {
                    first_uncleanable = base.max(first_dirty);
                    break;
                }
                let position = if base < first_dirty {
                    seg.offset_index.lookup(first_dirty).position
                } else {
                    0
                };
                clean_bytes += position;
                dirty_bytes += seg.size_bytes - position;
                if first_dirty_read.is_none() {
                    first_dirty_read = Some((seg.file.clone(), seg.size_bytes, position));
                }
            }
            let total = clean_bytes + dirty_bytes;
            let cleanable = Cleanable {
                first_dirty,
                first_uncleanable,
                clean_bytes,
                dirty_bytes,
                dirty_ratio: if total == 0 {
                    0.0
                } else {
                    dirty_bytes as f64 / total as f64
                },
                overdue_ms: 0,
                tombstones_due: state
                    .cleaner
                    .checkpoint
                    .horizon_ms
                    .is_some_and(|horizon| now_ms >= horizon),
            };
            (cleanable, first_dirty_read)
        };
        if config.max_compaction_lag_ms < i64::MAX {
            if let Some((file, size, position)) = first_dirty_read {
                // Kafka's rule: the first dirty batch's timestamp.
                let mut reader = SegmentReader::new(
                    file,
                    size,
                    position,
                    crate::storage::BLOCK_BYTES,
                    usize::MAX,
                );
                if let Some((_, chunk)) = reader.next().await? {
                    let timestamp = batch::header(chunk.as_slice())
                        .expect("validated")
                        .max_timestamp();
                    let clean_until = now_ms.saturating_sub(config.max_compaction_lag_ms);
                    if timestamp >= 0 && timestamp < clean_until {
                        cleanable.overdue_ms = clean_until - timestamp;
                    }
                }
            }
        }
        Ok(Some(cleanable))
    }

    /// Cleans this log once if it is due (see the module doc).
    pub async fn clean(
        &self,
        now_ms: i64,
        config: &CompactionConfig,
        limits: &CleanerLimits,
        pacer: &mut impl Pacer,
    ) -> Result<CleanOutcome> {
        self.check_usable()?;
        let Some(cleanable) = self.cleanable(now_ms, config).await? else {
            return Ok(CleanOutcome::NothingToClean);
        };
        if !cleanable.is_due(config.min_cleanable_dirty_ratio) {
            return Ok(CleanOutcome::NothingToClean);
        }
        let snapshot: Vec<SegmentSnapshot<S::File>> = {
            let state = self.state.borrow();
            let bases: Vec<u64> = state.segments.keys().copied().collect();
            state
                .segments
                .iter()
                .enumerate()
                .take_while(|(_, (&base, _))| {
                    base < cleanable.first_uncleanable.max(cleanable.first_dirty)
                })
                .map(|(i, (&base, seg))| SegmentSnapshot {
                    base,
                    next_base: bases[i + 1],
                    size_bytes: seg.size_bytes,
                    file: seg.file.clone(),
                })
                .collect()
        };
        let mut stats = CleanStats {
            first_dirty: cleanable.first_dirty,
            ..CleanStats::default()
        };

        // Map the dirty part; note every idempotent producer's last batch.
        let mut map = OffsetMap::new(
            limits.dedupe_bytes_max,
            cleanable
                .first_uncleanable
                .saturating_sub(cleanable.first_dirty),
            limits.load_factor,
        );
        let mut producers = ProducerLastBatches::default();
        let mut end = cleanable.first_dirty;
        let mut map_full = false;
        'segments: for seg in &snapshot {
            let mut reader = SegmentReader::new(
                seg.file.clone(),
                seg.size_bytes,
                0,
                limits.io_buffer_bytes,
                limits.batch_bytes_max,
            );
            while let Some((_, chunk)) = reader.next().await? {
                let bytes = chunk.as_slice();
                let header = batch::header(bytes).expect("validated by the reader");
                let (base, last) = (header.base_offset() as u64, header.last_offset() as u64);
                stats.bytes_read += bytes.len() as u64;
                if last >= cleanable.first_dirty && base < cleanable.first_uncleanable {
                    let attributes = header.attributes.get();
                    let keyed = attributes
                        & (filter::ATTRIBUTE_CONTROL | filter::ATTRIBUTE_TRANSACTIONAL)
                        == 0;
                    if keyed {
                        if map.room() < header.record_count.get().max(0) as usize {
                            map_full = true;
                            break 'segments;
                        }
                        match crate::records::records(bytes, limits.inflated_bytes_max) {
                            Ok(records) => {
                                for record in records.iter() {
                                    let Ok(record) = record else { break };
                                    if let Some(key) = record.key {
                                        let inserted = map
                                            .insert(key, base + record.offset_delta.max(0) as u64);
                                        debug_assert!(
                                            inserted,
                                            "room was checked for the whole batch"
                                        );
                                    }
                                }
                            }
                            // Its keys stay unknown: older records of them
                            // are kept, and the batch itself stays whole.
                            Err(error) => {
                                tracing::warn!(dir = %self.dir.display(), offset = base, %error, "the cleaner cannot read a batch's records; keeping it whole")
                            }
                        }
                    }
                    end = last + 1;
                }
                producers.record(header.producer_id.get(), base);
                pacer.pace(bytes.len() as u64).await;
                if pacer.should_stop() {
                    return Ok(CleanOutcome::Stopped(stats));
                }
            }
            if seg.next_base <= cleanable.first_uncleanable {
                end = end.max(
                    seg.next_base
                        .min(cleanable.first_uncleanable)
                        .max(cleanable.first_dirty),
                );
            }
        }
        if end == cleanable.first_dirty && !cleanable.tombstones_due {
            if map_full {
                return Err(IoError::Limit {
                    what: "log cleaner dedupe buffer too small",
                    detail: format!(
                        "{} bytes do not hold the keys of the batch at offset {} of {}",
                        limits.dedupe_bytes_max,
                        end,
                        self.dir.display()
                    ),
                });
            }
            return Ok(CleanOutcome::NothingToClean);
        }
        stats.end_offset = end;
        stats.map_entries = map.len();
        stats.map_bytes = map.memory_bytes();

        // Rewrite every segment below `end`, in groups.
        let rewrite: Vec<&SegmentSnapshot<S::File>> =
            snapshot.iter().filter(|s| s.base < end).collect();
        let segment_bytes_max = self.segment_bytes.get();
        let mut groups: Vec<Vec<&SegmentSnapshot<S::File>>> = Vec::new();
        for seg in rewrite {
            let fits = groups.last().is_some_and(|group| {
                let bytes: u64 = group.iter().map(|s| s.size_bytes).sum();
                bytes + seg.size_bytes <= segment_bytes_max
                    && seg.next_base - group[0].base <= limits::RELATIVE_OFFSET_MAX
            });
            match groups.last_mut() {
                Some(group) if fits => group.push(seg),
                _ => groups.push(vec![seg]),
            }
        }
        let ctx = FilterContext {
            map: &map,
            map_end: end,
            now_ms,
            delete_retention_ms: config.delete_retention_ms,
            inflated_bytes_max: limits.inflated_bytes_max,
            producers: &producers,
        };
        let mut horizon_ms: Option<i64> = None;
        for group in &groups {
            match self
                .clean_group(group, &ctx, limits, pacer, &mut stats, &mut horizon_ms)
                .await?
            {
                GroupOutcome::Swapped => {}
                GroupOutcome::Abandoned => stats.groups_abandoned += 1,
                GroupOutcome::Stopped => return Ok(CleanOutcome::Stopped(stats)),
            }
        }
        if stats.groups_abandoned == 0 {
            let checkpoint = CleanerCheckpoint {
                first_dirty: end,
                horizon_ms,
            };
            swap::write_checkpoint(&self.storage, &self.dir, checkpoint).await?;
            self.state.borrow_mut().cleaner.checkpoint = checkpoint;
        }
        Ok(CleanOutcome::Cleaned(stats))
    }
}
