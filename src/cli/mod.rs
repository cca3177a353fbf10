//! Kafka's command-line tools as `sluice` subcommands, for Sluice or any
//! Kafka-compatible broker: `topics` (kafka-topics.sh), `produce`
//! (kafka-console-producer.sh), `consume` (kafka-console-consumer.sh),
//! `groups` (kafka-consumer-groups.sh) and `configs` (kafka-configs.sh).
//! They take the flags and print the layouts of Kafka's scripts, so runbooks
//! and the scripts that parse their output keep working.
//!
//! The clients are librdkafka's (the `rdkafka` crate); [`wire`] is a small
//! blocking client for the admin calls the binding lacks or answers without
//! the broker's error message.
//!
//! Exit codes scripts can rely on: 0 done, 1 the operation failed (broker
//! unreachable, unknown topic, refused config, ...), 2 a usage error.

pub mod common;
pub mod configs;
pub mod consume;
pub mod deserialize;
pub mod group_offsets;
pub mod groups;
pub mod leader_election;
pub mod produce;
pub mod properties;
pub mod reassign_partitions;
pub mod topics;
pub mod wire;
pub mod zookeeper;

use std::process::ExitCode;

/// Why a tool stopped; the message is printed as `error: ...`.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Flags that do not make a command (exit 2).
    #[error("{0}")]
    Usage(String),
    /// The operation failed (exit 1).
    #[error("{0}")]
    Failed(String),
}

impl CliError {
    pub fn exit_code(&self) -> ExitCode {
        match self {
            CliError::Usage(_) => ExitCode::from(2),
            CliError::Failed(_) => ExitCode::from(1),
        }
    }
}

/// Runs a tool and turns its outcome into the process exit code.
pub fn finish(result: Result<(), CliError>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            match &error {
                CliError::Usage(message) => eprintln!("error: {message} (see --help)"),
                CliError::Failed(message) => eprintln!("error: {message}"),
            }
            error.exit_code()
        }
    }
}
