//! The request bytes one shard holds at a time: read from clients and not
//! yet answered.
//!
//! Every connection reads one frame, answers it, then reads the next, so a
//! connection holds at most one frame (`socket.request.max.bytes`). Many
//! connections sending large frames at once could still hold far more than
//! the machine has; before a frame body is read, its connection reserves the
//! frame's size here and keeps the reservation until the answer is written.
//! When the shard's share of `queued.max.request.bytes` is taken, the next
//! connection waits before reading its body: it stops reading its socket,
//! TCP's window fills, and the client slows down (back-pressure), as Kafka
//! mutes a channel when its memory pool is empty.
//!
//! Lifecycle: one per shard, made by the listener, shared (`Rc`) by its
//! connection tasks. Waiters are served in arrival order, so a large frame
//! is not starved by a stream of small ones.

use glommio::sync::{Permit, Semaphore};

pub struct RequestBudget {
    bytes: Semaphore,
    bytes_max: u64,
}

/// Bytes of one frame, held until its answer is written.
pub struct Reservation<'a> {
    _permit: Permit<'a>,
}

impl RequestBudget {
    /// `bytes_max` must hold the largest frame a connection may send.
    pub fn new(bytes_max: u64) -> RequestBudget {
        assert!(bytes_max > 0, "a request budget holds at least one byte");
        RequestBudget {
            bytes: Semaphore::new(bytes_max),
            bytes_max,
        }
    }

    /// Waits until `frame_bytes` fit, then holds them. `None` once the
    /// budget is closed (shutdown).
    pub async fn reserve(&self, frame_bytes: usize) -> Option<Reservation<'_>> {
        // A frame larger than the whole budget is refused by the frame size
        // check first; clamping keeps this total anyway.
        let units = (frame_bytes as u64).min(self.bytes_max);
        let permit = self.bytes.acquire_permit(units).await.ok()?;
        Some(Reservation { _permit: permit })
    }

    /// Bytes free now (for tests and logs).
    pub fn available(&self) -> u64 {
        self.bytes.available()
    }
}
