//! [`ShardHandler`]: the service a shard offers to the other shards.

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;

use crate::id::ShardId;

/// The local service that answers requests addressed to this shard.
///
/// Each shard registers one with
/// [`ShardContext::register_handler`](crate::ShardContext::register_handler).
/// It lives on its shard and is only called there, so it need not be `Send`
/// and may hold `Rc`/`RefCell` state: this is how a shard owns its data
/// without locks.
///
/// Ordering: requests from one shard start (their first poll) in the order
/// that shard issued them, and a handler that changes state before its
/// first `.await` applies those changes in that order. Requests from
/// different shards, and the parts of handlers after an `.await`,
/// interleave. At most [`MESH_HANDLERS_PER_PEER_MAX`] requests from one peer
/// run at a time; calls from the shard itself are direct and not counted.
///
/// A handler may call other shards through its own `ShardContext`, but
/// never in a cycle (see the crate docs): with bounded queues, two shards
/// whose handlers wait on each other can stall for good.
///
/// A panic in a handler takes down the shard, and the runtime with it
/// (see [`Runtime`](crate::Runtime)). Return an error inside `Resp` instead.
///
/// Implementations may write `async fn handle`.
///
/// [`MESH_HANDLERS_PER_PEER_MAX`]: crate::MESH_HANDLERS_PER_PEER_MAX
pub trait ShardHandler<Req, Resp>: 'static {
    /// Answers `request`, sent by shard `source` (which may be this shard).
    fn handle(&self, source: ShardId, request: Req) -> impl Future<Output = Resp>;
}

pub(crate) type LocalBoxFuture<T> = Pin<Box<dyn Future<Output = T>>>;

/// A handler with its type erased, so the mesh and [`ShardContext`] need not
/// carry it as a type parameter. Costs one allocation per call.
///
/// [`ShardContext`]: crate::ShardContext
pub(crate) trait ErasedHandler<Req, Resp> {
    fn call(self: Rc<Self>, source: ShardId, request: Req) -> LocalBoxFuture<Resp>;
}

impl<Req, Resp, H> ErasedHandler<Req, Resp> for H
where
    H: ShardHandler<Req, Resp>,
    Req: 'static,
    Resp: 'static,
{
    fn call(self: Rc<Self>, source: ShardId, request: Req) -> LocalBoxFuture<Resp> {
        Box::pin(async move { self.handle(source, request).await })
    }
}
