//! Sluice: a Kafka-compatible broker (library half of the `sluice` binary).
//!
//! The request path: [`server`] reads frames on the shard that accepted the
//! connection, [`protocol`] decodes them, [`handlers`] answer them (one file
//! per API) through the routing seam in [`broker`] (`broker::frontend`),
//! which sends partition and group work to the shard that owns it:
//! partitions live on their owning shard ([`partition`]), consumer groups
//! on the shard of their `__consumer_offsets` partition ([`coordinator`]),
//! and [`cluster`] holds the topic and routing tables. [`node`] starts and
//! stops the shards; [`cli`] holds Kafka's command-line tools; [`clock`] and
//! [`config`] sit below everything. The README's folder map lists every
//! file.

pub mod broker;
pub mod cli;
pub mod clock;
pub mod cluster;
pub mod config;
pub mod coordinator;
pub mod handlers;
pub mod node;
pub mod partition;
pub mod protocol;
pub mod replication;
pub mod server;
