//! What a shard owns and how partition work reaches it: [`shard`] (the
//! shard's state), [`frontend`] (the routing seam: every call to another
//! shard starts there), [`backend`] (the same work applied on the owner, and
//! the mesh handler), [`messages`] (what crosses the mesh), [`control`] (the
//! control plane on shard 0), [`config_edit`] (topic config changes) and
//! [`error`]. Starting and stopping the shards is `crate::node`'s.

pub mod backend;
pub mod config_edit;
pub mod control;
pub mod error;
pub mod fetcher;
pub mod frontend;
pub mod messages;
pub mod shard;

pub use error::BrokerError;
