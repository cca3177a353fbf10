//! [`ShardContext`]: what code running on a shard uses to reach the others.

use std::fmt;
use std::rc::Rc;

use crate::error::MeshError;
use crate::handler::{ErasedHandler, ShardHandler};
use crate::id::{ShardCount, ShardId};
use crate::mesh::LocalMesh;
use crate::placement::{self, PartitionKey};
use crate::shutdown::ShutdownSignal;

/// A shard's handle on the runtime: who it is, how to call the other
/// shards, and whether to stop.
///
/// Lifecycle: the runtime creates one per shard once the mesh is connected
/// and passes it to the shard's factory. Clones are cheap (`Rc`) and may be
/// kept by any task on the shard; the context is not `Send` and never
/// leaves its shard.
pub struct ShardContext<Req: Send + 'static, Resp: Send + 'static> {
    mesh: Rc<LocalMesh<Req, Resp>>,
    shutdown: ShutdownSignal,
}

impl<Req: Send + 'static, Resp: Send + 'static> Clone for ShardContext<Req, Resp> {
    fn clone(&self) -> Self {
        ShardContext {
            mesh: self.mesh.clone(),
            shutdown: self.shutdown.clone(),
        }
    }
}

impl<Req: Send + 'static, Resp: Send + 'static> fmt::Debug for ShardContext<Req, Resp> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShardContext")
            .field("shard", &self.mesh.shard())
            .field("count", &self.mesh.count())
            .finish_non_exhaustive()
    }
}

impl<Req: Send + 'static, Resp: Send + 'static> ShardContext<Req, Resp> {
    pub(crate) fn new(mesh: Rc<LocalMesh<Req, Resp>>, shutdown: ShutdownSignal) -> Self {
        ShardContext { mesh, shutdown }
    }

    /// This shard.
    pub fn shard_id(&self) -> ShardId {
        self.mesh.shard()
    }

    /// How many shards the runtime has.
    pub fn shard_count(&self) -> ShardCount {
        self.mesh.count()
    }

    /// The default owner of `key` ([`placement::shard_for`]).
    pub fn shard_for(&self, key: PartitionKey<'_>) -> ShardId {
        placement::shard_for(key, self.shard_count())
    }

    /// Makes `handler` answer the requests addressed to this shard. Call it
    /// once, early in the factory: requests that arrive before it wait in
    /// their queue (and their senders wait behind them).
    ///
    /// # Panics
    /// On a second call, or after the mesh has closed.
    pub fn register_handler<H: ShardHandler<Req, Resp>>(&self, handler: H) {
        let handler: Rc<dyn ErasedHandler<Req, Resp>> = Rc::new(handler);
        self.mesh.service.register(handler);
    }

    /// Runs `request` on `target`'s handler and returns its response.
    ///
    /// When `target` is this shard the handler is called directly, with no
    /// queue in between. Otherwise the request goes through the bounded
    /// queue to `target`: if the queue is full this waits for room
    /// (back-pressure), behind any earlier call to the same shard. Calls
    /// from one shard to another are delivered, and their handlers started,
    /// in the order the calls were made (first polled: for calls made one
    /// after another, or from tasks spawned one after another, the order in
    /// the code).
    ///
    /// Before the target registers its handler the request waits for it.
    /// Dropping the returned future gives up on the answer: a request still
    /// queued is then skipped, one already running finishes.
    ///
    /// # Errors
    /// [`MeshError::ShardGone`] if the target's thread ended (it panicked);
    /// [`MeshError::Closed`] once the mesh is shutting down.
    ///
    /// # Panics
    /// If `target` is not a shard of this runtime.
    pub async fn invoke_on(&self, target: ShardId, request: Req) -> Result<Resp, MeshError> {
        self.mesh.invoke_on(target, request).await
    }

    /// The runtime's shutdown signal, to request shutdown from this shard
    /// or hand to another task.
    pub fn shutdown_signal(&self) -> ShutdownSignal {
        self.shutdown.clone()
    }

    /// Whether shutdown has been requested.
    pub fn is_shutdown_requested(&self) -> bool {
        self.shutdown.is_requested()
    }

    /// Resolves once shutdown has been requested. A shard's main task
    /// awaits this (next to its real work) and then returns.
    pub async fn shutdown_requested(&self) {
        self.shutdown.requested().await
    }
}
