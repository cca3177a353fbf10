//! [`ShutdownSignal`]: the one request to stop, shared by every shard and
//! by whoever started the runtime.

use crate::latch::SyncLatch;

/// A shared request for the runtime to stop.
///
/// Anyone may request shutdown: the thread that started the runtime (for
/// example on SIGTERM), any shard, and the runtime itself when a shard
/// panics or fails to start. Requesting is idempotent and cannot be undone.
///
/// Shards learn of it through [`ShardContext::shutdown_requested`]: every
/// shard's main task is expected to wait on it (alongside its real work)
/// and return. The runtime does not cancel main tasks; a main task that
/// never returns keeps the runtime alive.
///
/// `Send + Sync + Clone`: clones are handles to the same signal.
///
/// [`ShardContext::shutdown_requested`]: crate::ShardContext::shutdown_requested
#[derive(Clone, Debug)]
pub struct ShutdownSignal {
    latch: SyncLatch,
}

impl ShutdownSignal {
    pub(crate) fn new() -> ShutdownSignal {
        ShutdownSignal {
            latch: SyncLatch::new(),
        }
    }

    /// Asks every shard to stop. Safe to call from any thread, any number
    /// of times.
    pub fn request(&self) {
        if !self.latch.is_fired() {
            tracing::debug!("shutdown requested");
        }
        self.latch.fire();
    }

    /// Whether shutdown has been requested.
    pub fn is_requested(&self) -> bool {
        self.latch.is_fired()
    }

    /// Resolves once shutdown has been requested. Cancel-safe; usable from
    /// any executor, on any thread.
    pub async fn requested(&self) {
        self.latch.wait().await
    }
}
