//! [`Arrivals`]: a shard-local signal that a partition has new readable data,
//! for fetches that long-poll (`max_wait_ms`, `min_bytes`).

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

/// Counts arrivals and wakes whoever waits for the next one. Lives on the
/// partition's shard; no locks.
#[derive(Default)]
pub struct Arrivals {
    version: Cell<u64>,
    waiters: RefCell<Vec<Waker>>,
}

impl Arrivals {
    pub fn version(&self) -> u64 {
        self.version.get()
    }

    /// New data is readable: wake every waiter.
    pub fn notify(&self) {
        self.version.set(self.version.get() + 1);
        for waker in self.waiters.borrow_mut().drain(..) {
            waker.wake();
        }
    }

    /// Resolves once `notify` has run after `seen` was read from `version`.
    pub fn changed_since(&self, seen: u64) -> ChangedSince<'_> {
        ChangedSince {
            arrivals: self,
            seen,
        }
    }
}

pub struct ChangedSince<'a> {
    arrivals: &'a Arrivals,
    seen: u64,
}

impl Future for ChangedSince<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.arrivals.version.get() != self.seen {
            return Poll::Ready(());
        }
        let mut waiters = self.arrivals.waiters.borrow_mut();
        if !waiters.iter().any(|w| w.will_wake(cx.waker())) {
            waiters.push(cx.waker().clone());
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::FutureExt;

    #[test]
    fn waits_for_the_next_arrival() {
        let arrivals = Arrivals::default();
        let seen = arrivals.version();
        let mut wait = Box::pin(arrivals.changed_since(seen));
        assert!(wait.as_mut().now_or_never().is_none());
        arrivals.notify();
        assert!(wait.as_mut().now_or_never().is_some());
        assert!(arrivals.changed_since(seen).now_or_never().is_some());
    }
}
