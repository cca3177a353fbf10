//! What the cleaner keeps of one batch: a pure function of the batch bytes,
//! the offset map and the clock, so it is tested on bytes alone.
//!
//! A record is kept unless
//! - a later record of its key is in the map (the map says an offset past it),
//! - it has no key (a compacted log cannot use it; Kafka's cleaner drops it
//!   too; produce refuses such records on compacted topics),
//! - it is a tombstone whose delete horizon has passed.
//!
//! Tombstones follow KIP-534: the first cleaning that keeps a tombstone sets
//! the batch's delete horizon (attributes bit 6, the horizon in the base
//! timestamp, records' timestamp deltas rebased so every record keeps its
//! timestamp) to `now + delete.retention.ms`; a later cleaning after the
//! horizon drops the tombstone. By then every older record of the key is
//! gone: the cleaning that first mapped the tombstone dropped them.
//!
//! A kept batch keeps its base and last offsets (Kafka's
//! `overrideLastOffset`), so offsets only ever get gaps, and its producer
//! fields. A batch whose every record goes is dropped, unless it is the last
//! batch of its idempotent producer in the cleaned range: then its header
//! stays as an empty batch, so the producer's sequence survives a restart.
//! Control and transactional batches, batches past the mapped range, and
//! batches whose records cannot be read within the inflation bound are kept
//! whole (never a record lost because the cleaner could not read it).

use std::collections::HashMap;

use super::offset_map::OffsetMap;
use crate::batch::{self, BatchHeader, BATCH_HEADER_BYTES, BATCH_LENGTH_PREFIX_BYTES};
use crate::compression::{self, Codec};
use crate::records::{self, write_varint};

/// Attributes bit 4: the batch belongs to a transaction.
pub const ATTRIBUTE_TRANSACTIONAL: i16 = 1 << 4;
/// Attributes bit 5: a control batch (transaction markers).
pub const ATTRIBUTE_CONTROL: i16 = 1 << 5;
/// Attributes bit 6: the base timestamp is the batch's delete horizon.
pub const ATTRIBUTE_DELETE_HORIZON: i16 = 1 << 6;

/// Producers whose last batch the cleaned range holds, by producer id:
/// the base offset of that batch. Bounded; beyond the bound every emptied
/// batch of an unlisted producer keeps its header (more than needed, never
/// less).
#[derive(Default)]
pub struct ProducerLastBatches {
    last_batch: HashMap<i64, u64>,
    overflowed: bool,
}

/// Producer ids remembered per cleaning (16 bytes and hash overhead each).
pub const PRODUCERS_TRACKED_MAX: usize = 100_000;

impl ProducerLastBatches {
    pub fn record(&mut self, producer_id: i64, base_offset: u64) {
        if producer_id < 0 {
            return;
        }
        if self.last_batch.len() >= PRODUCERS_TRACKED_MAX
            && !self.last_batch.contains_key(&producer_id)
        {
            self.overflowed = true;
            return;
        }
        self.last_batch.insert(producer_id, base_offset);
    }

    fn is_last(&self, producer_id: i64, base_offset: u64) -> bool {
        match self.last_batch.get(&producer_id) {
            Some(&last) => last == base_offset,
            None => self.overflowed,
        }
    }
}

/// What the cleaning of one batch needs to know.
pub struct FilterContext<'a> {
    pub map: &'a OffsetMap,
    /// Batches ending at or past this offset were not mapped: kept whole.
    pub map_end: u64,
    pub now_ms: i64,
    pub delete_retention_ms: i64,
    pub inflated_bytes_max: usize,
    pub producers: &'a ProducerLastBatches,
}

/// The batch's fate.
#[derive(Debug, PartialEq, Eq)]
pub enum Filtered {
    /// Keep the batch byte for byte.
    Whole,
    /// Nothing of it stays.
    Dropped,
    /// Write these bytes (a valid v2 batch) instead.
    Rewritten(Vec<u8>),
}

/// What the cleaning of one batch did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct BatchCounts {
    pub records_kept: u64,
    pub records_removed: u64,
    pub tombstones_removed: u64,
    pub keyless_removed: u64,
    /// The batch could not be read within the bound and was kept whole.
    pub unreadable: bool,
    /// The delete horizon of the batch as written, when it keeps tombstones.
    pub horizon_ms: Option<i64>,
}

/// Decides what stays of the valid v2 batch `bytes`.
pub fn filter_batch(bytes: &[u8], ctx: &FilterContext<'_>) -> (Filtered, BatchCounts) {
    let mut counts = BatchCounts::default();
    let header = batch::header(bytes).expect("the cleaner reads validated batches");
    let attributes = header.attributes.get();
    let base_offset = header.base_offset() as u64;
    let declared = header.record_count.get().max(0) as u64;
    if header.last_offset() as u64 >= ctx.map_end
        || attributes & (ATTRIBUTE_CONTROL | ATTRIBUTE_TRANSACTIONAL) != 0
    {
        counts.records_kept = declared;
        return (Filtered::Whole, counts);
    }
    let unreadable = |mut counts: BatchCounts| {
        counts.records_kept = declared;
        counts.unreadable = true;
        (Filtered::Whole, counts)
    };
    let Ok(batch_records) = records::records(bytes, ctx.inflated_bytes_max) else {
        return unreadable(counts);
    };
    let Ok(all) = batch_records.iter().collect::<Result<Vec<_>, _>>() else {
        return unreadable(counts);
    };
    let horizon = (attributes & ATTRIBUTE_DELETE_HORIZON != 0).then(|| header.base_timestamp.get());
    let mut kept = Vec::with_capacity(all.len());
    let mut tombstone_kept = false;
    for record in &all {
        let offset = base_offset + record.offset_delta.max(0) as u64;
        let Some(key) = record.key else {
            counts.keyless_removed += 1;
            continue;
        };
        if ctx.map.get(key).is_some_and(|latest| latest > offset) {
            continue;
        }
        if record.value.is_none() {
            if horizon.is_some_and(|h| ctx.now_ms >= h) {
                counts.tombstones_removed += 1;
                continue;
            }
            tombstone_kept = true;
        }
        kept.push(*record);
    }
    counts.records_kept = kept.len() as u64;
    counts.records_removed = all.len() as u64 - counts.records_kept;
    let new_horizon = tombstone_kept
        .then(|| horizon.unwrap_or(ctx.now_ms.saturating_add(ctx.delete_retention_ms)));
    counts.horizon_ms = new_horizon;
    if kept.len() == all.len() && horizon == new_horizon {
        return (Filtered::Whole, counts);
    }
    if kept.is_empty() {
        let producer_id = header.producer_id.get();
        if producer_id >= 0 && ctx.producers.is_last(producer_id, base_offset) {
            return (Filtered::Rewritten(empty_batch(header)), counts);
        }
        return (Filtered::Dropped, counts);
    }
    match rewrite(header, batch_records.codec, &kept, new_horizon) {
        Some(bytes) => (Filtered::Rewritten(bytes), counts),
        // Recompressing failed (it does not for these codecs); keep all.
        None => {
            let counts = BatchCounts {
                records_kept: declared,
                unreadable: true,
                ..BatchCounts::default()
            };
            (Filtered::Whole, counts)
        }
    }
}

/// The kept records as a new batch with the original's offsets, producer
/// fields and codec.
fn rewrite(
    header: &BatchHeader,
    codec: Codec,
    kept: &[records::Record<'_>],
    horizon_ms: Option<i64>,
) -> Option<Vec<u8>> {
    let old_base_timestamp = header.base_timestamp.get();
    let timestamp_of =
        |r: &records::Record<'_>| old_base_timestamp.saturating_add(r.timestamp_delta);
    let new_base_timestamp = horizon_ms.unwrap_or_else(|| timestamp_of(&kept[0]));
    let mut body = Vec::new();
    for record in kept {
        if new_base_timestamp == old_base_timestamp {
            body.extend_from_slice(record.bytes);
        } else {
            encode_rebased(record, timestamp_of(record) - new_base_timestamp, &mut body);
        }
    }
    let body = compression::compress(codec, &body).ok()?;
    let mut attributes = header.attributes.get() & !ATTRIBUTE_DELETE_HORIZON;
    if horizon_ms.is_some() {
        attributes |= ATTRIBUTE_DELETE_HORIZON;
    }
    let max_timestamp = if header.is_log_append_time() {
        header.max_timestamp()
    } else {
        kept.iter()
            .map(timestamp_of)
            .max()
            .expect("kept is not empty")
    };
    Some(assemble(
        header,
        attributes,
        new_base_timestamp,
        max_timestamp,
        kept.len() as i32,
        &body,
    ))
}

/// A kept batch's header with no records: the producer's last sequence
/// stays in the log (Kafka's empty batch).
fn empty_batch(header: &BatchHeader) -> Vec<u8> {
    let attributes =
        header.attributes.get() & !(batch::ATTRIBUTE_COMPRESSION_MASK | ATTRIBUTE_DELETE_HORIZON);
    let max_timestamp = header.max_timestamp();
    assemble(header, attributes, max_timestamp, max_timestamp, 0, &[])
}

fn assemble(
    original: &BatchHeader,
    attributes: i16,
    base_timestamp: i64,
    max_timestamp: i64,
    record_count: i32,
    body: &[u8],
) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(BATCH_HEADER_BYTES + body.len());
    bytes.extend_from_slice(zerocopy::IntoBytes::as_bytes(original));
    bytes.extend_from_slice(body);
    let total = bytes.len();
    let header = batch::header_mut(&mut bytes).expect("sized above");
    header
        .batch_length
        .set((total - BATCH_LENGTH_PREFIX_BYTES) as i32);
    header.attributes.set(attributes);
    header.base_timestamp.set(base_timestamp);
    header.max_timestamp.set(max_timestamp);
    header.record_count.set(record_count);
    let crc = batch::compute_crc(&bytes);
    batch::header_mut(&mut bytes)
        .expect("sized above")
        .crc
        .set(crc);
    debug_assert!(batch::validate(&bytes).is_ok());
    bytes
}

/// `record` with a new timestamp delta; every other field as it was.
fn encode_rebased(record: &records::Record<'_>, timestamp_delta: i64, out: &mut Vec<u8>) {
    let mut body = vec![0u8];
    write_varint(timestamp_delta, &mut body);
    write_varint(record.offset_delta as i64, &mut body);
    for field in [record.key, record.value] {
        match field {
            None => write_varint(-1, &mut body),
            Some(bytes) => {
                write_varint(bytes.len() as i64, &mut body);
                body.extend_from_slice(bytes);
            }
        }
    }
    body.extend_from_slice(record.headers);
    write_varint(body.len() as i64, out);
    out.extend(body);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A batch at `base_offset` of (key, value) records, one offset each,
    /// record i at timestamp 1000 + i.
    pub(crate) fn keyed_batch(
        base_offset: u64,
        codec: Codec,
        records: &[records::KeyValue<'_>],
        producer_id: i64,
    ) -> Vec<u8> {
        let mut bytes = records::build_batch(codec, 1000, records).unwrap();
        let header = batch::header_mut(&mut bytes).unwrap();
        header.base_offset.set(base_offset as i64);
        header.producer_id.set(producer_id);
        header
            .producer_epoch
            .set(if producer_id >= 0 { 0 } else { -1 });
        header
            .base_sequence
            .set(if producer_id >= 0 { 0 } else { -1 });
        let crc = batch::compute_crc(&bytes);
        batch::header_mut(&mut bytes).unwrap().crc.set(crc);
        batch::validate(&bytes).unwrap();
        bytes
    }

    type ReadRecord = (u64, i64, Option<Vec<u8>>, Option<Vec<u8>>);

    /// (offset, timestamp, key, value) of every record.
    fn read(bytes: &[u8]) -> Vec<ReadRecord> {
        let header = batch::validate(bytes).unwrap();
        let base = header.base_offset() as u64;
        let base_ts = header.base_timestamp.get();
        records::records(bytes, 1 << 20)
            .unwrap()
            .iter()
            .map(|r| {
                let r = r.unwrap();
                (
                    base + r.offset_delta as u64,
                    base_ts + r.timestamp_delta,
                    r.key.map(<[u8]>::to_vec),
                    r.value.map(<[u8]>::to_vec),
                )
            })
            .collect()
    }

    fn ctx<'a>(
        map: &'a OffsetMap,
        producers: &'a ProducerLastBatches,
        now_ms: i64,
    ) -> FilterContext<'a> {
        FilterContext {
            map,
            map_end: 1_000,
            now_ms,
            delete_retention_ms: 500,
            inflated_bytes_max: 1 << 20,
            producers,
        }
    }

    const CODECS: [Codec; 5] = [
        Codec::None,
        Codec::Gzip,
        Codec::Snappy,
        Codec::Lz4,
        Codec::Zstd,
    ];

    #[test]
    fn superseded_and_keyless_records_go_offsets_and_timestamps_stay() {
        for codec in CODECS {
            let bytes = keyed_batch(
                10,
                codec,
                &[
                    (Some(b"a"), Some(b"1")),
                    (None, Some(b"x")),
                    (Some(b"b"), Some(b"2")),
                    (Some(b"a"), Some(b"3")),
                ],
                -1,
            );
            let mut map = OffsetMap::new(1 << 16, 10, 0.9);
            map.insert(b"a", 13);
            map.insert(b"b", 20);
            let producers = ProducerLastBatches::default();
            let (filtered, counts) = filter_batch(&bytes, &ctx(&map, &producers, 0));
            let Filtered::Rewritten(out) = filtered else {
                panic!("{codec:?}: {filtered:?}")
            };
            assert_eq!(
                read(&out),
                vec![(13, 1003, Some(b"a".to_vec()), Some(b"3".to_vec()))]
            );
            let header = batch::validate(&out).unwrap();
            assert_eq!((header.base_offset(), header.last_offset()), (10, 13));
            assert_eq!(header.record_count.get(), 1);
            assert_eq!(
                Codec::from_attributes(header.attributes.get()).unwrap(),
                codec
            );
            assert_eq!(header.max_timestamp(), 1003);
            assert_eq!(
                (
                    counts.records_kept,
                    counts.records_removed,
                    counts.keyless_removed
                ),
                (1, 3, 1)
            );
        }
    }

    #[test]
    fn a_batch_that_keeps_everything_is_kept_byte_for_byte() {
        let bytes = keyed_batch(
            0,
            Codec::Lz4,
            &[(Some(b"a"), Some(b"1")), (Some(b"b"), Some(b"2"))],
            -1,
        );
        let map = OffsetMap::new(1 << 16, 10, 0.9);
        let producers = ProducerLastBatches::default();
        assert_eq!(
            filter_batch(&bytes, &ctx(&map, &producers, 0)).0,
            Filtered::Whole
        );
    }

    #[test]
    fn tombstones_get_a_horizon_then_go_after_it() {
        let bytes = keyed_batch(
            0,
            Codec::None,
            &[(Some(b"a"), Some(b"1")), (Some(b"t"), None)],
            -1,
        );
        let map = OffsetMap::new(1 << 16, 10, 0.9);
        let producers = ProducerLastBatches::default();
        let (filtered, counts) = filter_batch(&bytes, &ctx(&map, &producers, 10_000));
        let Filtered::Rewritten(first) = filtered else {
            panic!("{filtered:?}")
        };
        assert_eq!(counts.horizon_ms, Some(10_500));
        let header = batch::validate(&first).unwrap();
        assert_ne!(header.attributes.get() & ATTRIBUTE_DELETE_HORIZON, 0);
        assert_eq!(header.base_timestamp.get(), 10_500);
        // Timestamps survive the rebasing.
        assert_eq!(read(&first), read(&bytes));
        // Before the horizon nothing changes; after it the tombstone goes.
        let (again, counts) = filter_batch(&first, &ctx(&map, &producers, 10_499));
        assert_eq!((again, counts.horizon_ms), (Filtered::Whole, Some(10_500)));
        let (after, counts) = filter_batch(&first, &ctx(&map, &producers, 10_500));
        let Filtered::Rewritten(after) = after else {
            panic!()
        };
        assert_eq!(counts.tombstones_removed, 1);
        assert_eq!(counts.horizon_ms, None);
        assert_eq!(
            read(&after),
            vec![(0, 1000, Some(b"a".to_vec()), Some(b"1".to_vec()))]
        );
        let header = batch::validate(&after).unwrap();
        assert_eq!(header.attributes.get() & ATTRIBUTE_DELETE_HORIZON, 0);
        assert_eq!(header.base_timestamp.get(), 1000);
    }

    #[test]
    fn an_emptied_batch_keeps_its_header_only_for_its_producers_last_batch() {
        let bytes = keyed_batch(5, Codec::None, &[(Some(b"a"), Some(b"1"))], 42);
        let mut map = OffsetMap::new(1 << 16, 10, 0.9);
        map.insert(b"a", 9);
        let mut producers = ProducerLastBatches::default();
        producers.record(42, 5);
        let (filtered, _) = filter_batch(&bytes, &ctx(&map, &producers, 0));
        let Filtered::Rewritten(empty) = filtered else {
            panic!()
        };
        let header = batch::validate(&empty).unwrap();
        assert_eq!(
            (
                header.record_count.get(),
                header.last_offset(),
                header.producer_id.get()
            ),
            (0, 5, 42)
        );
        assert_eq!(empty.len(), BATCH_HEADER_BYTES);
        producers.record(42, 7);
        assert_eq!(
            filter_batch(&bytes, &ctx(&map, &producers, 0)).0,
            Filtered::Dropped
        );
        let anonymous = keyed_batch(5, Codec::None, &[(Some(b"a"), Some(b"1"))], -1);
        assert_eq!(
            filter_batch(&anonymous, &ctx(&map, &producers, 0)).0,
            Filtered::Dropped
        );
    }

    #[test]
    fn unmapped_control_and_unreadable_batches_stay_whole() {
        let mut map = OffsetMap::new(1 << 16, 10, 0.9);
        map.insert(b"a", 5_000);
        let producers = ProducerLastBatches::default();
        let past = keyed_batch(2_000, Codec::None, &[(Some(b"a"), Some(b"1"))], -1);
        assert_eq!(
            filter_batch(&past, &ctx(&map, &producers, 0)).0,
            Filtered::Whole
        );
        let mut control = keyed_batch(0, Codec::None, &[(Some(b"a"), Some(b"1"))], 3);
        let header = batch::header_mut(&mut control).unwrap();
        header
            .attributes
            .set(ATTRIBUTE_CONTROL | ATTRIBUTE_TRANSACTIONAL);
        let crc = batch::compute_crc(&control);
        batch::header_mut(&mut control).unwrap().crc.set(crc);
        assert_eq!(
            filter_batch(&control, &ctx(&map, &producers, 0)).0,
            Filtered::Whole
        );
        // A bomb past the inflation bound is kept as it is, not inflated.
        let big = vec![0u8; 4 << 20];
        let bomb = keyed_batch(0, Codec::Zstd, &[(Some(b"a"), Some(&big))], -1);
        let (filtered, counts) = filter_batch(&bomb, &ctx(&map, &producers, 0));
        assert_eq!(filtered, Filtered::Whole);
        assert!(counts.unreadable);
    }
}
