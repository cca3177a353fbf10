//! Sluice: a Kafka-compatible broker (library half of the `sluice` binary).
//!
//! The request path: [`server`] reads frames on the shard that accepted the
//! connection, [`handlers`] decode and answer them (one file per API),
//! partitions live on their owning shard ([`partition`]), consumer groups on
//! the shard of their `__consumer_offsets` partition ([`coordinator`]), and [`broker`]
//! wires shards, the control plane and the mesh messages together; [`cli`]
//! holds Kafka's command-line tools. See `../shared/ARCHITECTURE.md`.

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
pub mod server;
