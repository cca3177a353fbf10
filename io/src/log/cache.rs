//! The partition's cache of recently written buffers.
//!
//! After a write buffer reaches the device it is kept here, so a consumer
//! close to the tail reads from memory the very bytes that were written: a
//! read returns [`Chunk`]s that share these buffers, no copy. Entries arrive
//! in log order (segment, then file position), which keeps lookups a binary
//! search. Bounded by `cache_bytes_max`; the oldest entries go first.

use std::collections::VecDeque;
use std::rc::Rc;

use crate::storage::Chunk;

/// A written buffer: file bytes `[file_position, file_position + data_len)`
/// of segment `segment_base`.
pub(super) struct CacheEntry {
    pub segment_base: u64,
    pub file_position: u64,
    pub data_len: usize,
    pub buffer: Rc<dyn AsRef<[u8]>>,
    /// Memory the entry keeps alive (a DMA buffer's whole allocation).
    pub memory_bytes: usize,
}

#[derive(Default)]
pub(super) struct WriteCache {
    entries: VecDeque<CacheEntry>,
    bytes: usize,
}

impl WriteCache {
    /// Adds the newest entry and evicts the oldest beyond `bytes_max`. The
    /// newest entry always stays, whatever its size.
    pub(super) fn insert(&mut self, entry: CacheEntry, bytes_max: usize) {
        if let Some(last) = self.entries.back() {
            assert!(
                (last.segment_base, last.file_position)
                    <= (entry.segment_base, entry.file_position),
                "cache entries arrive in log order"
            );
        }
        self.bytes += entry.memory_bytes;
        self.entries.push_back(entry);
        while self.bytes > bytes_max && self.entries.len() > 1 {
            let evicted = self.entries.pop_front().expect("len > 1");
            self.bytes -= evicted.memory_bytes;
        }
    }

    /// The bytes from `position` to the end of the newest entry covering it,
    /// as a chunk sharing the cached buffer.
    pub(super) fn lookup(&self, segment_base: u64, position: u64) -> Option<Chunk> {
        let after = self
            .entries
            .partition_point(|e| (e.segment_base, e.file_position) <= (segment_base, position));
        let entry = self.entries.get(after.checked_sub(1)?)?;
        if entry.segment_base != segment_base {
            return None;
        }
        let start = (position - entry.file_position) as usize;
        if start >= entry.data_len {
            return None;
        }
        Some(Chunk::with_range(
            entry.buffer.clone(),
            start..entry.data_len,
        ))
    }

    /// Drops every entry of segments `>= segment_base`, and of
    /// `segment_base` itself at or past `position` (truncation).
    pub(super) fn truncate(&mut self, segment_base: u64, position: u64) {
        while let Some(last) = self.entries.back() {
            let beyond = last.segment_base > segment_base
                || (last.segment_base == segment_base
                    && last.file_position + last.data_len as u64 > position);
            if !beyond {
                break;
            }
            let removed = self.entries.pop_back().expect("checked");
            self.bytes -= removed.memory_bytes;
        }
    }

    /// Drops every entry of segments below `segment_base` (retention).
    pub(super) fn remove_segments_below(&mut self, segment_base: u64) {
        while self
            .entries
            .front()
            .is_some_and(|e| e.segment_base < segment_base)
        {
            let removed = self.entries.pop_front().expect("checked");
            self.bytes -= removed.memory_bytes;
        }
    }

    /// Drops every entry of segments in `[low, high)` (a cleaned group was
    /// swapped in: its positions mean other bytes now).
    pub(super) fn remove_segments_in(&mut self, low: u64, high: u64) {
        let mut freed = 0;
        self.entries.retain(|e| {
            let doomed = (low..high).contains(&e.segment_base);
            if doomed {
                freed += e.memory_bytes;
            }
            !doomed
        });
        self.bytes -= freed;
    }

    #[cfg(test)]
    pub(super) fn bytes(&self) -> usize {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(segment_base: u64, file_position: u64, data: Vec<u8>) -> CacheEntry {
        CacheEntry {
            segment_base,
            file_position,
            data_len: data.len(),
            memory_bytes: data.len(),
            buffer: Rc::new(data),
        }
    }

    #[test]
    fn lookup_finds_the_newest_covering_entry() {
        let mut cache = WriteCache::default();
        cache.insert(entry(0, 0, vec![1; 6000]), 1 << 20);
        // The next buffer starts at the tail block, repeating its bytes.
        cache.insert(entry(0, 4096, vec![2; 3000]), 1 << 20);
        assert_eq!(cache.lookup(0, 100).unwrap().as_slice()[0], 1);
        assert_eq!(cache.lookup(0, 100).unwrap().len(), 5900);
        assert_eq!(cache.lookup(0, 5000).unwrap().as_slice()[0], 2);
        assert!(cache.lookup(0, 7096).is_none());
        assert!(cache.lookup(1, 0).is_none());
    }

    #[test]
    fn eviction_keeps_the_newest() {
        let mut cache = WriteCache::default();
        cache.insert(entry(0, 0, vec![0; 4096]), 5000);
        cache.insert(entry(0, 4096, vec![0; 4096]), 5000);
        assert!(cache.lookup(0, 0).is_none());
        assert!(cache.lookup(0, 4096).is_some());
        cache.insert(entry(5, 0, vec![0; 9000]), 5000);
        assert_eq!(cache.bytes(), 9000);
    }

    #[test]
    fn truncate_and_retention() {
        let mut cache = WriteCache::default();
        cache.insert(entry(0, 0, vec![0; 100]), 1 << 20);
        cache.insert(entry(10, 0, vec![0; 100]), 1 << 20);
        cache.insert(entry(20, 0, vec![0; 100]), 1 << 20);
        cache.truncate(10, 50);
        assert!(cache.lookup(20, 0).is_none());
        assert!(cache.lookup(10, 0).is_none());
        assert!(cache.lookup(0, 0).is_some());
        cache.remove_segments_below(5);
        assert_eq!(cache.bytes(), 0);
    }
}
