//! Default placement: which shard owns a (topic, partition).
//!
//! ```text
//!   topic "orders", 4 shards           topic "clicks", 4 shards
//!   start = hash("orders") -> 1        start = hash("clicks") -> 3
//!
//!   partition  0  1  2  3  4  5        partition  0  1  2  3  4  5
//!   shard      1  2  3  0  1  2        shard      3  0  1  2  3  0
//! ```
//!
//! A topic's partitions go round-robin over the shards from a start that
//! depends on the topic name. Round-robin puts consecutive partitions on
//! different shards, so a producer spreading over a topic's partitions
//! spreads over the cores; the per-topic start keeps partition 0 of every
//! topic from piling onto shard 0.
//!
//! The function is pure and fixed: the same name, partition and shard count
//! give the same shard in every process and every release, because the hash
//! is FNV-1a (64-bit, then a fixed finalizer) written out here, never
//! `RandomState`. Placement is an
//! in-memory decision only (a partition's directory does not depend on its
//! shard), so changing it is not a disk-format break, but keeping it stable
//! keeps runs comparable. The broker's routing table starts from this
//! function and may move partitions later; this module knows nothing else
//! about Kafka.

use crate::id::{ShardCount, ShardId};

/// A partition of a topic, the unit that has exactly one owner shard.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PartitionKey<'a> {
    pub topic: &'a str,
    pub partition: i32,
}

impl<'a> PartitionKey<'a> {
    pub fn new(topic: &'a str, partition: i32) -> PartitionKey<'a> {
        PartitionKey { topic, partition }
    }
}

/// The shard that owns `key` among `shards` shards.
///
/// Negative partition numbers are invalid in Kafka and are rejected before
/// routing; they still map to some shard here (the function is total) so a
/// missed validation cannot crash a shard.
pub fn shard_for(key: PartitionKey<'_>, shards: ShardCount) -> ShardId {
    let count = shards.get() as u64;
    let start = reduce(fnv1a_64(key.topic.as_bytes()), count);
    // `as u32` keeps the function total for negative (invalid) numbers.
    let partition = u64::from(key.partition as u32);
    ShardId::new(((start + partition % count) % count) as usize)
}

/// FNV-1a, 64-bit: a fixed, well-known hash, so placement is identical in
/// every process (unlike `std`'s randomly seeded `RandomState`).
pub fn fnv1a_64(bytes: &[u8]) -> u64 {
    const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    bytes.iter().fold(OFFSET_BASIS, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(PRIME)
    })
}

/// Spreads `hash` over `0..count`. FNV-1a alone mixes the last bytes of
/// its input poorly (they barely reach the high bits, and the low bits
/// depend only on the low bits of each byte), and topic names often differ
/// only at the end (`orders-1`, `orders-2`). murmur3's 64-bit finalizer
/// makes every input bit affect every output bit before the modulo.
fn reduce(hash: u64, count: u64) -> u64 {
    let mut mixed = hash;
    mixed ^= mixed >> 33;
    mixed = mixed.wrapping_mul(0xff51_afd7_ed55_8ccd);
    mixed ^= mixed >> 33;
    mixed = mixed.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    mixed ^= mixed >> 33;
    mixed % count
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(n: usize) -> ShardCount {
        ShardCount::new(n).unwrap()
    }

    fn shard(topic: &str, partition: i32, shards: usize) -> usize {
        shard_for(PartitionKey::new(topic, partition), count(shards)).index()
    }

    #[test]
    fn fnv1a_matches_the_reference_vectors() {
        assert_eq!(fnv1a_64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a_64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a_64(b"foobar"), 0x8594_4171_f739_67e8);
    }

    /// Pinned values: if this test changes, placement changed for every
    /// deployment, which must be a deliberate decision.
    #[test]
    fn placement_is_stable() {
        let placed: Vec<usize> = (0..6).map(|p| shard("orders", p, 4)).collect();
        assert_eq!(placed, [1, 2, 3, 0, 1, 2]);
        let placed: Vec<usize> = (0..6).map(|p| shard("clicks", p, 4)).collect();
        assert_eq!(placed, [3, 0, 1, 2, 3, 0]);
        assert_eq!(shard("__consumer_offsets", 17, 7), 3);
    }

    #[test]
    fn one_shard_owns_everything() {
        for p in [0, 1, 99, i32::MAX, -1] {
            assert_eq!(shard("t", p, 1), 0);
        }
    }

    #[test]
    fn consecutive_partitions_land_on_different_shards() {
        for shards in 2..=16 {
            for t in 0..50 {
                let topic = format!("topic-{t}");
                for p in 0..64 {
                    let (a, b) = (shard(&topic, p, shards), shard(&topic, p + 1, shards));
                    assert_ne!(a, b, "{topic} {p} with {shards} shards");
                    assert_eq!(b, (a + 1) % shards);
                }
            }
        }
    }

    #[test]
    fn a_topic_spreads_evenly_over_the_shards() {
        for shards in 1..=16 {
            let mut per_shard = vec![0usize; shards];
            for p in 0..(3 * shards) as i32 {
                per_shard[shard("events", p, shards)] += 1;
            }
            assert!(per_shard.iter().all(|&n| n == 3), "{per_shard:?}");
        }
    }

    /// Partition 0 of many topics spreads over the shards, so single-
    /// partition topics do not all land on one core.
    #[test]
    fn topic_starts_are_spread() {
        for shards in [2, 3, 4, 7, 16, 64] {
            // 400 topics per shard: a fair spread is within 5% (one standard
            // deviation) of the mean, so 25% is a clear failure.
            let topics = 400 * shards;
            let mut per_shard = vec![0usize; shards];
            for t in 0..topics {
                per_shard[shard(&format!("topic-{t}"), 0, shards)] += 1;
            }
            let mean = topics / shards;
            for &n in &per_shard {
                assert!(
                    n > mean * 3 / 4 && n < mean * 5 / 4,
                    "{shards} shards: {per_shard:?}"
                );
            }
        }
    }

    #[test]
    fn negative_partitions_do_not_panic() {
        for shards in 1..=8 {
            assert!(shard("t", -1, shards) < shards);
            assert!(shard("t", i32::MIN, shards) < shards);
        }
    }
}
