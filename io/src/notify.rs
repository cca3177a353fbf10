//! [`Notify`]: a shard-local "something changed" signal. The log uses it to
//! wake appends waiting for a write-out; the broker uses it to wake fetches
//! that long-poll for new data.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

/// Counts notify and wakes whoever waits for the next one. Lives on the
/// partition's shard; no locks.
#[derive(Default)]
pub struct Notify {
    version: Cell<u64>,
    waiters: RefCell<Vec<Waker>>,
}

impl Notify {
    pub fn version(&self) -> u64 {
        self.version.get()
    }

    /// Something changed: wake every waiter.
    pub fn notify(&self) {
        self.version.set(self.version.get() + 1);
        for waker in self.waiters.borrow_mut().drain(..) {
            waker.wake();
        }
    }

    /// Resolves once `notify` has run after `seen` was read from `version`.
    pub fn changed_since(&self, seen: u64) -> ChangedSince<'_> {
        ChangedSince { notify: self, seen }
    }
}

pub struct ChangedSince<'a> {
    notify: &'a Notify,
    seen: u64,
}

impl Future for ChangedSince<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.notify.version.get() != self.seen {
            return Poll::Ready(());
        }
        let mut waiters = self.notify.waiters.borrow_mut();
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
        let notify = Notify::default();
        let seen = notify.version();
        let mut wait = Box::pin(notify.changed_since(seen));
        assert!(wait.as_mut().now_or_never().is_none());
        notify.notify();
        assert!(wait.as_mut().now_or_never().is_some());
        assert!(notify.changed_since(seen).now_or_never().is_some());
    }
}
