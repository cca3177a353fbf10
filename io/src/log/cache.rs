//! The partition's cache of recently written buffers.
//!
//! After a write buffer reaches the device it is kept here, so a consumer
//! close to the tail reads from memory the very bytes that were written: a
//! read returns [`Chunk`]s that share these buffers, no copy. Entries arrive
//! in log order (segment, then file position), which keeps lookups a binary
//! search. Bounded by `cache_bytes_max`; the oldest entries go first.
//!
//! Beside the written buffers it holds one read-ahead buffer: bytes a
//! sequential reader will want next, read from the disk while its last
//! answer was still on the way ([`PartitionLog::prefetch`]). It answers
//! lookups the entries miss, and every truncation or removal that drops
//! entries drops it too (and makes a read-ahead still in flight stale, by
//! the generation count).
//!
//! [`PartitionLog::prefetch`]: super::PartitionLog::prefetch

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

/// Bytes read ahead from segment `segment_base` at `file_position`.
pub(super) struct ReadAhead {
    pub segment_base: u64,
    pub file_position: u64,
    pub chunk: Chunk,
}

#[derive(Default)]
pub(super) struct WriteCache {
    entries: VecDeque<CacheEntry>,
    bytes: usize,
    read_ahead: Option<ReadAhead>,
    /// A read-ahead is being read from the disk (at most one per partition).
    read_ahead_in_flight: bool,
    /// Bumped by every truncation or removal, so a read-ahead read before
    /// one is not kept after it.
    generation: u64,
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
    /// as a chunk sharing the cached buffer; else those of the read-ahead
    /// buffer.
    pub(super) fn lookup(&self, segment_base: u64, position: u64) -> Option<Chunk> {
        self.lookup_written(segment_base, position)
            .or_else(|| self.lookup_read_ahead(segment_base, position))
    }

    fn lookup_read_ahead(&self, segment_base: u64, position: u64) -> Option<Chunk> {
        let ahead = self.read_ahead.as_ref()?;
        if ahead.segment_base != segment_base || position < ahead.file_position {
            return None;
        }
        let start = (position - ahead.file_position) as usize;
        (start < ahead.chunk.len()).then(|| ahead.chunk.slice(start..ahead.chunk.len()))
    }

    /// Claims the partition's one read-ahead slot: the generation to hand
    /// back to [`finish_read_ahead`](Self::finish_read_ahead), or `None`
    /// while another read-ahead is in flight.
    pub(super) fn start_read_ahead(&mut self) -> Option<u64> {
        if self.read_ahead_in_flight {
            return None;
        }
        self.read_ahead_in_flight = true;
        Some(self.generation)
    }

    /// Keeps the bytes read ahead, unless a truncation or removal came
    /// since the read started; `None` when the read failed or found nothing.
    pub(super) fn finish_read_ahead(&mut self, generation: u64, read: Option<ReadAhead>) {
        self.read_ahead_in_flight = false;
        if generation == self.generation {
            if let Some(read) = read {
                self.read_ahead = Some(read);
            }
        }
    }

    fn invalidated(&mut self) {
        self.generation += 1;
        self.read_ahead = None;
    }

    fn lookup_written(&self, segment_base: u64, position: u64) -> Option<Chunk> {
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
        self.invalidated();
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
        self.invalidated();
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
        self.invalidated();
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

    fn ahead(segment_base: u64, file_position: u64, len: usize) -> ReadAhead {
        ReadAhead {
            segment_base,
            file_position,
            chunk: Chunk::new(Rc::new(vec![7u8; len])),
        }
    }

    #[test]
    fn read_ahead_answers_what_the_entries_miss() {
        let mut cache = WriteCache::default();
        cache.insert(entry(0, 8192, vec![1; 100]), 1 << 20);
        let generation = cache.start_read_ahead().unwrap();
        assert!(cache.start_read_ahead().is_none(), "one at a time");
        cache.finish_read_ahead(generation, Some(ahead(0, 0, 5000)));
        assert_eq!(cache.lookup(0, 1000).unwrap().len(), 4000);
        assert_eq!(cache.lookup(0, 1000).unwrap().as_slice()[0], 7);
        assert_eq!(cache.lookup(0, 8200).unwrap().as_slice()[0], 1);
        assert!(cache.lookup(0, 5000).is_none());
        assert!(cache.lookup(1, 1000).is_none());
    }

    #[test]
    fn a_truncation_drops_the_read_ahead_and_one_in_flight() {
        let mut cache = WriteCache::default();
        let generation = cache.start_read_ahead().unwrap();
        cache.finish_read_ahead(generation, Some(ahead(0, 0, 5000)));
        cache.truncate(0, 100);
        assert!(cache.lookup(0, 0).is_none());
        let generation = cache.start_read_ahead().unwrap();
        cache.remove_segments_in(0, 10);
        cache.finish_read_ahead(generation, Some(ahead(0, 0, 5000)));
        assert!(cache.lookup(0, 0).is_none(), "read before the removal");
        assert!(cache.start_read_ahead().is_some());
    }
}
