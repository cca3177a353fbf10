//! Sluice: a Kafka-compatible broker (library half of the `sluice` binary).
//!
//! Being built: today only the broker's configuration is here; the server,
//! protocol handlers and partitions follow (see `../shared/ARCHITECTURE.md`).

pub mod config;
