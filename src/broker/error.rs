//! [`BrokerError`]: what goes wrong in starting, stopping and routing, as
//! opposed to a client's bad request (a Kafka error code in the answer).

use std::path::PathBuf;

use sluice_shards::{MeshError, RuntimeError, ShardId};

#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    /// A file or directory the broker keeps (log dir, meta.properties, the
    /// producer id block) could not be read or written.
    #[error("{op} {path}: {source}")]
    File {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A file the broker keeps holds something it cannot parse.
    #[error("{path}: {detail}")]
    BadFile { path: PathBuf, detail: String },
    /// The topic store (`.sluice-topics/`) could not be read or written.
    #[error("topic store: {0}")]
    Topics(String),
    /// Partitions could not be opened, closed or deleted.
    #[error("partitions: {0}")]
    Partitions(String),
    /// The configuration cannot run (no listener, an address that does not
    /// resolve or bind).
    #[error("{0}")]
    Config(String),
    #[error("starting the shards: {0}")]
    Runtime(#[from] RuntimeError),
    /// Another shard could not be reached (its thread ended, or the mesh is
    /// shutting down).
    #[error("{shard}: {source}")]
    Mesh {
        shard: ShardId,
        #[source]
        source: MeshError,
    },
    /// A shard answered with a message the request does not expect: a
    /// programming error, reported rather than panicking a shard.
    #[error("{shard} answered {request} with something else")]
    UnexpectedAnswer {
        shard: ShardId,
        request: &'static str,
    },
    /// Another shard applied a topic table and failed.
    #[error("{shard} could not apply the topic table: {detail}")]
    Apply { shard: ShardId, detail: String },
    /// The group's coordinator is another broker (or none, for now).
    #[error("this broker does not coordinate the group")]
    NotCoordinator,
    /// The group's shard dropped a parked JoinGroup or SyncGroup unanswered.
    #[error("the group's shard dropped a parked call")]
    ParkedCallDropped,
    /// Starting a shard failed; the errors were logged where they happened.
    #[error("the broker could not start (see the errors above)")]
    StartFailed,
    #[error("installing signal handlers: {0}")]
    Signals(std::io::Error),
}
