//! # sluice-shards: Sluice's thread-per-core runtime
//!
//! One glommio executor (io_uring) per core, each on its own thread, that
//! share nothing on the data path and talk through a typed, bounded mesh of
//! queues. The crate knows nothing about Kafka: the broker chooses the
//! message types (`Req`, `Resp`) and what a shard's handler does with them.
//!
//! | file | what |
//! |---|---|
//! | `id.rs` | [`ShardId`], [`ShardCount`], [`SHARDS_MAX`] |
//! | `placement.rs` | [`shard_for`]: the default owner of a (topic, partition) |
//! | `config.rs` | [`RuntimeConfig`] |
//! | `runtime.rs` | [`Runtime`]: threads, executors, start and join |
//! | `context.rs` | [`ShardContext`]: a shard's handle: `invoke_on`, shutdown |
//! | `handler.rs` | [`ShardHandler`]: the service a shard offers the others |
//! | `mesh.rs` | the queues and the sending side of a call |
//! | `serve.rs` | the owner side: serve loops, handler slots, orderly stop |
//! | `line.rs` | first-come first-served waiting for a full queue |
//! | `latch.rs`, `shutdown.rs` | one-shot signals; [`ShutdownSignal`] |
//!
//! ## Lifecycle
//!
//! ```text
//!  Runtime::start ──> per shard: thread, executor (pinned to CPU i), mesh ends
//!        │            connect ──> factory(ShardContext) runs as the main task
//!        │                          │ registers its ShardHandler, does its work,
//!        │                          │ awaits ctx.shutdown_requested()
//!  ShutdownSignal::request ────────>│ main task returns
//!        │                    every main returned? ──> mesh closes: new calls
//!        │                          get Closed, queued requests are answered,
//!        │                          handler tasks finish, thread ends
//!  Runtime::join <── Ok, or the first shard that panicked / failed to start
//! ```
//!
//! A shard that panics or fails to start requests shutdown for all; calls
//! to it fail with [`MeshError::ShardGone`] instead of hanging.
//!
//! ## Where things live
//!
//! Everything a shard owns lives on that shard's thread and is reached
//! from elsewhere only by a request through the mesh: no `Mutex`, no
//! `Arc<RwLock>` on the data path. A shard's handler, its `ShardContext`s,
//! and every task it spawns stay on it (they are not `Send`). What crosses
//! threads is the request, the response, and the few runtime-wide signals
//! (shutdown, "shard i ended").
//!
//! Shard 0 ([`ShardId::CONTROL`]) is also the control plane in the broker:
//! topic creation, cluster membership, controller duties. It is still a data
//! shard; this crate gives it no special treatment.
//!
//! **Routing tables.** Every shard holds a full copy of the routing tables
//! (topic/partition to shard, later to broker), so routing a request is a
//! local lookup. Copies change only through versioned update messages that
//! the control shard sends to every shard over this mesh; a shard applies an
//! update only if its version is newer than the one it has, so late or
//! repeated messages are harmless. This crate provides the mesh and the
//! default placement ([`shard_for`]); the broker builds the tables on it.
//!
//! ## Concurrency rules
//!
//! - One owner per piece of state; mutations reach the owner through
//!   [`ShardContext::invoke_on`], which calls the owner's handler directly
//!   when the owner is the calling shard.
//! - Calls from one shard to another are delivered, and their handlers
//!   started, in the order they were made. State a handler changes before
//!   its first `.await` therefore changes in that order.
//! - At most [`MESH_HANDLERS_PER_PEER_MAX`] requests from one peer run on a
//!   shard at once, and at most [`MESH_QUEUE_DEPTH_MAX`] more wait in its
//!   queue. Beyond that the caller waits (back-pressure).
//! - A handler may call other shards, but not in a cycle: if shard 0's
//!   handlers wait on shard 1 while shard 1's handlers wait on shard 0,
//!   both can stall for good once the queues and handler slots between them
//!   fill. Nested calls go one way (for example towards the control shard).
//! - Never block a shard's thread (no blocking syscalls, no `std` locks
//!   held across work): every shard is one thread serving many tasks.
//!
//! ## The mesh
//!
//! ```text
//!     ┌──────────┐  s0->s1  ┌──────────┐
//!     │          │ ───────> │          │     one bounded single-producer,
//!     │ shard 0  │ <─────── │ shard 1  │     single-consumer queue per
//!     │          │  s1->s0  │          │     ordered pair of shards:
//!     └──────────┘          └──────────┘     N*(N-1) queues
//!       │     ▲               │     ▲
//! s0->s2│     │s2->s0   s1->s2│     │s2->s1  a reply travels back in a
//!       ▼     │               ▼     │        oneshot inside the request
//!     ┌─────────────────────────────────┐
//!     │             shard 2             │
//!     └─────────────────────────────────┘
//! ```
//!
//! **Why bounded.** An owner that falls behind must slow its callers down,
//! not buffer without limit: with unbounded queues an overloaded shard
//! turns into growing memory and growing latency for everyone, and fails
//! late (out of memory) instead of early. With bounded queues a full queue
//! makes the sender wait, the wait propagates back to the connection that
//! produced the work, and memory stays at a known
//! `N * (N-1) * MESH_QUEUE_DEPTH_MAX` envelopes.

mod config;
mod context;
mod error;
mod handler;
mod id;
mod latch;
mod line;
mod mesh;
mod placement;
mod runtime;
mod serve;
mod shutdown;

pub use config::{RuntimeConfig, IO_MEMORY_BYTES_DEFAULT, RING_DEPTH_DEFAULT, RING_DEPTH_MAX};
pub use context::ShardContext;
pub use error::{MeshError, RuntimeError};
pub use handler::ShardHandler;
pub use id::{ShardCount, ShardId, SHARDS_MAX};
pub use mesh::{MESH_HANDLERS_PER_PEER_MAX, MESH_QUEUE_DEPTH_MAX};
pub use placement::{fnv1a_64, shard_for, PartitionKey};
pub use runtime::Runtime;
pub use shutdown::ShutdownSignal;
