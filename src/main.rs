//! The `sluice` command: the broker, and Kafka's command-line tools
//! (`topics`, `produce`, `consume`, `groups`, `configs`; see `sluice::cli`).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use sluice::config::{BrokerConfig, LISTENERS, LOG_DIRS, SLUICE_CORES};

#[derive(Parser)]
#[command(
    name = "sluice",
    version,
    about = "A Kafka-compatible streaming broker, thread-per-core on io_uring"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs the broker. With no arguments: a single embedded node on
    /// 127.0.0.1:9092 with data under ./data, one shard per core.
    Broker(BrokerArgs),
    /// Create, list, describe, grow and delete topics (kafka-topics.sh).
    #[command(alias = "kafka-topics", alias = "kafka-topics.sh")]
    Topics(sluice::cli::topics::TopicsArgs),
    /// Produce lines of stdin or a file as records (kafka-console-producer.sh).
    #[command(alias = "kafka-console-producer", alias = "kafka-console-producer.sh")]
    Produce(sluice::cli::produce::ProduceArgs),
    /// Print records of a topic (kafka-console-consumer.sh).
    #[command(alias = "kafka-console-consumer", alias = "kafka-console-consumer.sh")]
    Consume(sluice::cli::consume::ConsumeArgs),
    /// List, describe, reset and delete consumer groups (kafka-consumer-groups.sh).
    #[command(alias = "kafka-consumer-groups", alias = "kafka-consumer-groups.sh")]
    Groups(sluice::cli::groups::GroupsArgs),
    /// Describe and alter topic and broker configs (kafka-configs.sh).
    #[command(alias = "kafka-configs", alias = "kafka-configs.sh")]
    Configs(sluice::cli::configs::ConfigsArgs),
    /// Preferred or unclean leader elections (kafka-leader-election.sh).
    #[command(
        name = "leader-election",
        alias = "kafka-leader-election",
        alias = "kafka-leader-election.sh"
    )]
    LeaderElection(sluice::cli::leader_election::LeaderElectionArgs),
    /// Moves partitions' replicas between brokers with Kafka's JSON plans
    /// (kafka-reassign-partitions.sh).
    #[command(
        name = "reassign-partitions",
        alias = "kafka-reassign-partitions",
        alias = "kafka-reassign-partitions.sh"
    )]
    ReassignPartitions(sluice::cli::reassign_partitions::ReassignPartitionsArgs),
    /// Checks, applies or reverts the host's kernel settings for the broker
    /// (CPU governor, IRQs, disk scheduler, sysctls); see tuning/README.md.
    Tune(sluice_tuning::cli::TuneArgs),
    /// Measures a broker: produce, consume, e2e, compare, limits.
    Perf(sluice_bench::cli::PerfCommand),
}

#[derive(clap::Args)]
struct BrokerArgs {
    /// A Kafka server.properties file (Kafka's key names).
    config: Option<PathBuf>,
    /// Address to listen on, HOST:PORT (sets `listeners`).
    #[arg(long)]
    listen: Option<String>,
    /// Data directory (sets `log.dirs`).
    #[arg(long)]
    log_dirs: Option<String>,
    /// Shards (one per core; sets `sluice.cores`).
    #[arg(long)]
    cores: Option<usize>,
    /// Any setting, KEY=VALUE, applied after the file (repeatable).
    #[arg(long = "override", value_name = "KEY=VALUE")]
    overrides: Vec<String>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The broker logs at info; a command-line tool only warns (its output
    // is the answer, as Kafka's tools print nothing else).
    let default_filter = match cli.command {
        // The ZooKeeper client logs every connection at info.
        Command::Broker(_) => "info,zookeeper_client=warn",
        _ => "warn",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("RUST_LOG")
                .unwrap_or_else(|_| default_filter.into()),
        )
        .with_writer(std::io::stderr)
        // Colour only for a person at a terminal: a log file or a pipe
        // gets plain text (and NO_COLOR is honoured, no-color.org).
        .with_ansi(
            std::io::IsTerminal::is_terminal(&std::io::stderr())
                && std::env::var_os("NO_COLOR").is_none(),
        )
        .init();
    match cli.command {
        Command::Broker(args) => run_broker(args),
        Command::Topics(args) => sluice::cli::finish(sluice::cli::topics::run(args)),
        Command::Produce(args) => sluice::cli::finish(sluice::cli::produce::run(args)),
        Command::Consume(args) => sluice::cli::finish(sluice::cli::consume::run(args)),
        Command::Groups(args) => sluice::cli::finish(sluice::cli::groups::run(args)),
        Command::Configs(args) => sluice::cli::finish(sluice::cli::configs::run(args)),
        Command::LeaderElection(args) => {
            sluice::cli::finish(sluice::cli::leader_election::run(args))
        }
        Command::ReassignPartitions(args) => {
            sluice::cli::finish(sluice::cli::reassign_partitions::run(args))
        }
        Command::Tune(args) => sluice_tuning::cli::run(args),
        Command::Perf(command) => sluice_bench::cli::run(command),
    }
}

fn run_broker(args: BrokerArgs) -> ExitCode {
    let mut overrides: Vec<(String, String)> = Vec::new();
    for pair in &args.overrides {
        match pair.split_once('=') {
            Some((key, value)) => {
                overrides.push((key.trim().to_string(), value.trim().to_string()))
            }
            None => {
                eprintln!("error: --override takes KEY=VALUE, got {pair:?}");
                return ExitCode::from(2);
            }
        }
    }
    if let Some(listen) = args.listen {
        overrides.push((LISTENERS.to_string(), format!("PLAINTEXT://{listen}")));
    }
    if let Some(dirs) = args.log_dirs {
        overrides.push((LOG_DIRS.to_string(), dirs));
    }
    if let Some(cores) = args.cores {
        overrides.push((SLUICE_CORES.to_string(), cores.to_string()));
    }
    let (config, warnings) = match BrokerConfig::load(args.config.as_deref(), &overrides) {
        Ok(loaded) => loaded,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
    for warning in &warnings {
        warning.log();
    }
    match sluice::node::run(config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}
