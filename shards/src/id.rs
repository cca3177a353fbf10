//! Shard identities: [`ShardId`] names one shard, [`ShardCount`] says how
//! many a runtime has.
//!
//! Shard `i` runs on its own thread, and on CPU `i` when the runtime pins
//! shards to cores. Shard 0 is also the control plane (see the crate docs).

use std::fmt;

/// The most shards one runtime may have. The mesh has a queue for every
/// ordered pair of shards, so its memory grows with the square of this.
pub const SHARDS_MAX: usize = 256;

// Shard numbers are stored as u16.
const _: () = assert!(SHARDS_MAX <= u16::MAX as usize);

/// One shard of a runtime, numbered from 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ShardId(u16);

impl ShardId {
    /// Shard 0: the first shard, which also runs the control plane.
    pub const CONTROL: ShardId = ShardId(0);

    /// The shard numbered `index`.
    ///
    /// # Panics
    /// If `index` is not below [`SHARDS_MAX`]; shard numbers come from
    /// [`ShardCount::ids`] or from configuration that was validated.
    pub fn new(index: usize) -> ShardId {
        assert!(
            index < SHARDS_MAX,
            "shard index {index} is not below {SHARDS_MAX}"
        );
        ShardId(index as u16)
    }

    /// The shard's number, for indexing per-shard tables.
    pub fn index(self) -> usize {
        usize::from(self.0)
    }
}

impl fmt::Display for ShardId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "shard {}", self.0)
    }
}

/// How many shards a runtime has: between 1 and [`SHARDS_MAX`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ShardCount(u16);

impl ShardCount {
    /// `count` shards, or `None` if `count` is 0 or above [`SHARDS_MAX`].
    pub fn new(count: usize) -> Option<ShardCount> {
        (1..=SHARDS_MAX)
            .contains(&count)
            .then_some(ShardCount(count as u16))
    }

    /// The number of shards.
    pub fn get(self) -> usize {
        usize::from(self.0)
    }

    /// Every shard, in order.
    pub fn ids(self) -> impl Iterator<Item = ShardId> {
        (0..self.0).map(ShardId)
    }

    /// Whether `shard` is one of these shards.
    pub fn contains(self, shard: ShardId) -> bool {
        shard.0 < self.0
    }
}

impl fmt::Display for ShardCount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} shards", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn count_bounds() {
        assert_eq!(ShardCount::new(0), None);
        assert_eq!(ShardCount::new(1).map(ShardCount::get), Some(1));
        assert_eq!(
            ShardCount::new(SHARDS_MAX).map(ShardCount::get),
            Some(SHARDS_MAX)
        );
        assert_eq!(ShardCount::new(SHARDS_MAX + 1), None);
    }

    #[test]
    fn ids_cover_the_count() {
        let count = ShardCount::new(3).unwrap();
        let ids: Vec<usize> = count.ids().map(ShardId::index).collect();
        assert_eq!(ids, [0, 1, 2]);
        assert!(count.contains(ShardId::new(2)));
        assert!(!count.contains(ShardId::new(3)));
        assert_eq!(ShardId::new(2).to_string(), "shard 2");
    }

    #[test]
    #[should_panic(expected = "not below")]
    fn id_out_of_range_is_a_bug() {
        ShardId::new(SHARDS_MAX);
    }
}
