//! One-shot latches: a flag that is set once and wakes everyone waiting.
//!
//! [`SyncLatch`] is shared between threads (shard exits, "every main task
//! returned", shutdown). [`LocalLatch`] lives on one shard and is cheap
//! enough to wait on in every cross-shard call (a peer gone, the local mesh
//! closed). Both are cancel-safe: a waiter that is dropped leaves nothing
//! behind, so a long-lived latch does not accumulate dead wakers.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use futures::channel::oneshot;
use futures::future::{FutureExt, Shared};
use glommio::sync::Semaphore;

/// A latch any thread may fire and any shard may wait on.
///
/// Built on a `oneshot` whose sender is dropped to fire: `Shared` keeps one
/// waker slot per waiting clone and frees it when the clone is dropped, and
/// glommio accepts wakes from foreign threads.
#[derive(Clone, Debug)]
pub(crate) struct SyncLatch {
    inner: Arc<SyncLatchInner>,
}

#[derive(Debug)]
struct SyncLatchInner {
    fired: AtomicBool,
    trigger: Mutex<Option<oneshot::Sender<()>>>,
    waiter: Shared<oneshot::Receiver<()>>,
}

impl SyncLatch {
    pub(crate) fn new() -> SyncLatch {
        let (trigger, waiter) = oneshot::channel();
        SyncLatch {
            inner: Arc::new(SyncLatchInner {
                fired: AtomicBool::new(false),
                trigger: Mutex::new(Some(trigger)),
                waiter: waiter.shared(),
            }),
        }
    }

    /// Sets the latch and wakes every waiter. Firing twice is harmless.
    pub(crate) fn fire(&self) {
        self.inner.fired.store(true, Ordering::Release);
        // A poisoned lock only means another thread panicked while firing;
        // the sender is still there to take.
        let trigger = match self.inner.trigger.lock() {
            Ok(mut guard) => guard.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        drop(trigger);
    }

    pub(crate) fn is_fired(&self) -> bool {
        self.inner.fired.load(Ordering::Acquire)
    }

    /// Resolves once the latch has fired.
    pub(crate) async fn wait(&self) {
        if self.is_fired() {
            return;
        }
        // The sender is only ever dropped, so the result is always `Canceled`.
        let _ = self.inner.waiter.clone().await;
    }
}

/// A latch for the tasks of one shard. Not `Send`.
///
/// Waiting is an acquire on a zero-unit glommio semaphore and firing closes
/// it: the semaphore keeps waiters in an intrusive list and unlinks a
/// waiter when it is dropped, so waiting allocates nothing.
#[derive(Debug)]
pub(crate) struct LocalLatch {
    fired: Cell<bool>,
    waiters: Semaphore,
}

impl LocalLatch {
    pub(crate) fn new() -> LocalLatch {
        LocalLatch {
            fired: Cell::new(false),
            waiters: Semaphore::new(0),
        }
    }

    pub(crate) fn fire(&self) {
        self.fired.set(true);
        self.waiters.close();
    }

    pub(crate) fn is_fired(&self) -> bool {
        self.fired.get()
    }

    /// Resolves once the latch has fired.
    pub(crate) async fn wait(&self) {
        if self.is_fired() {
            return;
        }
        // Nobody ever signals units, so this returns only when `fire`
        // closes the semaphore.
        let closed = self.waiters.acquire(1).await;
        debug_assert!(closed.is_err());
    }
}

#[cfg(test)]
mod tests {
    use std::rc::Rc;
    use std::time::Duration;

    use glommio::{LocalExecutorBuilder, Placement};

    use super::*;

    #[test]
    fn sync_latch_wakes_a_waiter_on_another_thread() {
        let latch = SyncLatch::new();
        let waiter = latch.clone();
        let handle = LocalExecutorBuilder::new(Placement::Unbound)
            .spawn(move || async move {
                waiter.wait().await;
                assert!(waiter.is_fired());
            })
            .unwrap();
        std::thread::sleep(Duration::from_millis(20));
        latch.fire();
        latch.fire();
        handle.join().unwrap();
        // Waiting after the fact returns at once.
        futures::executor::block_on(latch.wait());
    }

    #[test]
    fn local_latch_wakes_every_waiter_and_forgets_dropped_ones() {
        LocalExecutorBuilder::new(Placement::Unbound)
            .spawn(|| async {
                let latch = Rc::new(LocalLatch::new());
                // A waiter that gives up must not block `fire` or leak.
                let impatient = glommio::timer::timeout(Duration::from_millis(1), async {
                    latch.wait().await;
                    Ok(())
                })
                .await;
                assert!(impatient.is_err());

                let waiters: Vec<_> = (0..3)
                    .map(|_| {
                        let latch = latch.clone();
                        glommio::spawn_local(async move { latch.wait().await })
                    })
                    .collect();
                glommio::executor().yield_now().await;
                assert!(!latch.is_fired());
                latch.fire();
                for waiter in waiters {
                    waiter.await;
                }
                latch.wait().await;
            })
            .unwrap()
            .join()
            .unwrap();
    }
}
