//! [`Chunk`]: a shared, read-only view of bytes owned by a cache buffer or a
//! DMA read, handed to the socket as is.
//!
//! Reads never copy batch bytes: a chunk holds a reference count on the buffer
//! the bytes already live in (the write buffer that sent them to disk, or the
//! buffer a DMA read filled) and a range into it.

use std::fmt;
use std::ops::Range;
use std::rc::Rc;

/// Bytes `range` of a shared buffer. Cloning is a reference-count increment.
#[derive(Clone)]
pub struct Chunk {
    owner: Rc<dyn AsRef<[u8]>>,
    range: Range<usize>,
}

impl Chunk {
    /// A chunk covering all of `owner`.
    pub fn new(owner: Rc<dyn AsRef<[u8]>>) -> Self {
        let len = (*owner).as_ref().len();
        Chunk {
            owner,
            range: 0..len,
        }
    }

    /// A chunk covering `range` of `owner`.
    ///
    /// # Panics
    /// If `range` is not inside the owner (a programmer error).
    pub fn with_range(owner: Rc<dyn AsRef<[u8]>>, range: Range<usize>) -> Self {
        assert!(range.start <= range.end && range.end <= (*owner).as_ref().len());
        Chunk { owner, range }
    }

    pub fn empty() -> Self {
        Chunk::new(Rc::new(Vec::<u8>::new()))
    }

    pub fn as_slice(&self) -> &[u8] {
        &(*self.owner).as_ref()[self.range.clone()]
    }

    pub fn len(&self) -> usize {
        self.range.len()
    }

    pub fn is_empty(&self) -> bool {
        self.range.is_empty()
    }

    /// A sub-range of this chunk, relative to its start; shares the buffer.
    ///
    /// # Panics
    /// If `range` is not inside this chunk.
    pub fn slice(&self, range: Range<usize>) -> Chunk {
        assert!(range.start <= range.end && range.end <= self.len());
        Chunk {
            owner: self.owner.clone(),
            range: self.range.start + range.start..self.range.start + range.end,
        }
    }

    /// One chunk for `self` followed by `next`, when `next` continues
    /// `self` in the same buffer (so consecutive batches go out as one slice).
    pub fn join(&self, next: &Chunk) -> Option<Chunk> {
        (Rc::ptr_eq(&self.owner, &next.owner) && self.range.end == next.range.start).then(|| {
            Chunk {
                owner: self.owner.clone(),
                range: self.range.start..next.range.end,
            }
        })
    }

    /// True when both chunks view the same buffer (used by tests that prove
    /// reads share the cache's memory).
    pub fn shares_buffer_with(&self, other: &Chunk) -> bool {
        Rc::ptr_eq(&self.owner, &other.owner)
    }
}

impl AsRef<[u8]> for Chunk {
    fn as_ref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl fmt::Debug for Chunk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Chunk").field("range", &self.range).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_share_the_buffer() {
        let chunk = Chunk::new(Rc::new((0u8..100).collect::<Vec<u8>>()));
        let part = chunk.slice(10..20);
        assert_eq!(part.as_slice(), &(10u8..20).collect::<Vec<u8>>()[..]);
        assert!(part.shares_buffer_with(&chunk));
        let inner = part.slice(5..10);
        assert_eq!(inner.as_slice(), &[15, 16, 17, 18, 19]);
        assert_eq!(chunk.slice(100..100).len(), 0);
    }

    #[test]
    #[should_panic]
    fn slicing_past_the_end_is_a_programmer_error() {
        Chunk::new(Rc::new(vec![0u8; 4])).slice(2..5);
    }
}
