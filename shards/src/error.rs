//! Errors of the runtime: [`MeshError`] for a cross-shard call,
//! [`RuntimeError`] for starting and joining the shards.
//!
//! Two enums rather than one because their callers differ: every
//! `invoke_on` caller handles `MeshError` (two cases, both "the owner cannot
//! answer"), while `RuntimeError` is handled once, by whoever started the
//! runtime. Programmer errors (a shard id out of range, registering two
//! handlers) are assertions, not variants.

use crate::id::ShardId;

/// Why a cross-shard call got no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MeshError {
    /// The target shard's thread has ended (it panicked or failed to
    /// start). The request may or may not have run.
    #[error("{0} is gone")]
    ShardGone(ShardId),

    /// The mesh is shutting down: every shard's main task has returned, so
    /// no new calls are accepted, or the target shard never registered a
    /// handler before shutdown. The request did not run.
    #[error("the shard mesh is closed")]
    Closed,
}

/// Why a runtime could not start, or how it ended badly.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("invalid runtime configuration: {0}")]
    InvalidConfig(String),

    /// The operating system refused a thread for the shard.
    #[error("could not spawn the thread of {shard}: {source}")]
    Spawn {
        shard: ShardId,
        #[source]
        source: std::io::Error,
    },

    /// The shard's executor could not be created (CPU not available for
    /// pinning, io_uring setup failed, memlock limit too low, ...).
    #[error("{shard} failed to start: {reason}")]
    ShardStart { shard: ShardId, reason: String },

    /// Code on the shard panicked: its main task, a request handler, or any
    /// task it spawned.
    #[error("{shard} panicked: {message}")]
    ShardPanicked { shard: ShardId, message: String },
}

impl RuntimeError {
    /// The shard the error is about, if it is about one.
    pub fn shard(&self) -> Option<ShardId> {
        match self {
            RuntimeError::InvalidConfig(_) => None,
            RuntimeError::Spawn { shard, .. }
            | RuntimeError::ShardStart { shard, .. }
            | RuntimeError::ShardPanicked { shard, .. } => Some(*shard),
        }
    }
}
