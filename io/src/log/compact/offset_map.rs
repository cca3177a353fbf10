//! [`OffsetMap`]: the latest offset of every key in the part of the log
//! being cleaned, in a table of fixed size (Kafka's `SkimpyOffsetMap`).
//!
//! A key is stored as its 128-bit XXH3 hash, seeded afresh for every map so
//! that colliding keys cannot be prepared in advance; two keys that still
//! collide (about one chance in 2^100 for a map of millions of keys) would
//! make the cleaner keep only the later one's latest record, as Kafka's MD5
//! map would. A slot is 24 bytes (hash and offset), the table is allocated
//! once per cleaning, sized by what the dirty part of the log can hold and
//! never larger than the dedupe budget, and open addressing with linear
//! probing keeps it one flat allocation.
//!
//! ```text
//! slot:  [ hash: u64 u64 | offset: u64 ]      offset u64::MAX = empty
//! ```

use std::hash::{BuildHasher, Hasher};

/// Bytes of one slot: the key's hash (16) and its latest offset (8).
pub const SLOT_BYTES: usize = 24;
/// The smallest table, so a tiny budget still maps a batch of small records.
pub const SLOTS_MIN: usize = 1 << 10;

const EMPTY: u64 = u64::MAX;

#[derive(Clone, Copy)]
struct Slot {
    hash: [u64; 2],
    offset: u64,
}

const _: () = assert!(std::mem::size_of::<Slot>() == SLOT_BYTES);

/// Key hash to latest offset. Lives for one cleaning of one partition, on
/// the shard that owns it.
pub struct OffsetMap {
    slots: Vec<Slot>,
    /// Entries allowed before the map counts as full (the load factor).
    entries_max: usize,
    entries: usize,
    seed: u64,
    /// The largest offset inserted, if any.
    latest_offset: Option<u64>,
}

impl OffsetMap {
    /// A map for about `entries_wanted` keys within `memory_bytes_max`
    /// bytes, filled to at most `load_factor` of its slots.
    pub fn new(memory_bytes_max: usize, entries_wanted: u64, load_factor: f64) -> Self {
        let load_factor = load_factor.clamp(0.1, 0.95);
        let slots_budget = (memory_bytes_max / SLOT_BYTES).max(SLOTS_MIN);
        // A power of two at most the budget, so a probe is a mask.
        let slots_budget = 1usize << (usize::BITS - 1 - slots_budget.leading_zeros());
        let wanted = (entries_wanted as f64 / load_factor).ceil();
        let wanted = if wanted >= slots_budget as f64 {
            slots_budget
        } else {
            (wanted as usize).max(SLOTS_MIN).next_power_of_two()
        };
        let slots = wanted.min(slots_budget);
        OffsetMap {
            slots: vec![
                Slot {
                    hash: [0, 0],
                    offset: EMPTY,
                };
                slots
            ],
            entries_max: ((slots as f64 * load_factor) as usize).max(1),
            entries: 0,
            seed: std::collections::hash_map::RandomState::new()
                .build_hasher()
                .finish(),
            latest_offset: None,
        }
    }

    /// Bytes the table holds.
    pub fn memory_bytes(&self) -> usize {
        self.slots.len() * SLOT_BYTES
    }

    pub fn len(&self) -> usize {
        self.entries
    }

    pub fn is_empty(&self) -> bool {
        self.entries == 0
    }

    /// New keys the map can still take before it is full.
    pub fn room(&self) -> usize {
        self.entries_max - self.entries
    }

    pub fn latest_offset(&self) -> Option<u64> {
        self.latest_offset
    }

    fn hash(&self, key: &[u8]) -> [u64; 2] {
        let hash = twox_hash::XxHash3_128::oneshot_with_seed(self.seed, key);
        [(hash >> 64) as u64, hash as u64]
    }

    fn probe(&self, hash: [u64; 2]) -> usize {
        let mask = self.slots.len() - 1;
        let mut at = (hash[1] as usize) & mask;
        loop {
            let slot = &self.slots[at];
            if slot.offset == EMPTY || slot.hash == hash {
                return at;
            }
            at = (at + 1) & mask;
        }
    }

    /// Records `offset` as the latest of `key`. Offsets arrive in log order,
    /// so a later insert of a key replaces the earlier. Returns false (and
    /// changes nothing) when the key is new and the map is full.
    pub fn insert(&mut self, key: &[u8], offset: u64) -> bool {
        assert!(offset != EMPTY, "offset u64::MAX marks an empty slot");
        let hash = self.hash(key);
        let at = self.probe(hash);
        let slot = &mut self.slots[at];
        if slot.offset == EMPTY {
            if self.entries == self.entries_max {
                return false;
            }
            self.entries += 1;
            slot.hash = hash;
        }
        slot.offset = offset;
        self.latest_offset = Some(self.latest_offset.map_or(offset, |l| l.max(offset)));
        true
    }

    /// The latest offset recorded for `key`.
    pub fn get(&self, key: &[u8]) -> Option<u64> {
        let slot = &self.slots[self.probe(self.hash(key))];
        (slot.offset != EMPTY).then_some(slot.offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_offsets_win_and_absent_keys_are_absent() {
        let mut map = OffsetMap::new(1 << 20, 100, 0.9);
        assert!(map.insert(b"a", 1));
        assert!(map.insert(b"b", 2));
        assert!(map.insert(b"a", 5));
        assert_eq!(map.get(b"a"), Some(5));
        assert_eq!(map.get(b"b"), Some(2));
        assert_eq!(map.get(b"c"), None);
        assert_eq!(map.len(), 2);
        assert_eq!(map.latest_offset(), Some(5));
    }

    #[test]
    fn sized_by_need_within_the_budget_and_full_at_the_load_factor() {
        let small = OffsetMap::new(64 << 20, 10, 0.9);
        assert_eq!(small.memory_bytes(), SLOTS_MIN * SLOT_BYTES);
        let capped = OffsetMap::new(1 << 20, u64::MAX, 0.9);
        assert!(capped.memory_bytes() <= 1 << 20);
        let mut map = OffsetMap::new(SLOTS_MIN * SLOT_BYTES, u64::MAX, 0.5);
        let room = map.room();
        assert_eq!(room, SLOTS_MIN / 2);
        for i in 0..room as u64 {
            assert!(map.insert(&i.to_be_bytes(), i));
        }
        assert!(!map.insert(b"one too many", 99_999));
        // Known keys still update when the map is full.
        assert!(map.insert(&0u64.to_be_bytes(), 100_000));
        assert_eq!(map.get(&0u64.to_be_bytes()), Some(100_000));
        assert_eq!(map.get(b"one too many"), None);
        for i in 1..room as u64 {
            assert_eq!(map.get(&i.to_be_bytes()), Some(i));
        }
    }
}
