//! `sluice leader-election`, Kafka's `kafka-leader-election.sh`: a preferred
//! or unclean leader election for one partition, the partitions of a JSON
//! file (`{"partitions": [{"topic": "t", "partition": 0}]}`), or every
//! partition, through ElectLeaders sent to the controller (found through
//! Metadata). The output lines are Kafka's:
//!
//! ```text
//! Successfully completed leader election (PREFERRED) for partitions t-0, t-1
//! Valid replica already elected for partitions t-2
//! Error completing leader election (PREFERRED) for partition: t-3: ...
//! ```
//!
//! A partition that could not be elected makes the exit code 1.

use clap::Args;
use kafka_protocol::messages::elect_leaders_request::TopicPartitions;
use kafka_protocol::messages::{ApiKey, ElectLeadersRequest, ElectLeadersResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use super::common::Connection;
use super::wire::WireClient;
use super::CliError;

const ELECT_LEADERS_VERSION: i16 = 2;

#[derive(Args, Debug)]
pub struct LeaderElectionArgs {
    #[command(flatten)]
    pub connection: Connection,
    /// PREFERRED or UNCLEAN (any case).
    #[arg(long = "election-type", value_name = "TYPE")]
    pub election_type: String,
    /// Every partition of the cluster.
    #[arg(long = "all-topic-partitions")]
    pub all_topic_partitions: bool,
    /// One partition's topic (with --partition).
    #[arg(long)]
    pub topic: Option<String>,
    /// One partition's number (with --topic).
    #[arg(long)]
    pub partition: Option<i32>,
    /// A JSON file naming the partitions.
    #[arg(long = "path-to-json-file", value_name = "FILE")]
    pub path_to_json_file: Option<String>,
}

#[derive(serde::Deserialize)]
struct PartitionsFile {
    partitions: Vec<FilePartition>,
}

#[derive(serde::Deserialize)]
struct FilePartition {
    topic: String,
    partition: i32,
}

pub fn run(mut args: LeaderElectionArgs) -> Result<(), CliError> {
    args.connection.resolve()?;
    let (election, name) = match args.election_type.to_ascii_uppercase().as_str() {
        "PREFERRED" => (0i8, "PREFERRED"),
        "UNCLEAN" => (1i8, "UNCLEAN"),
        other => {
            return Err(CliError::Usage(format!(
                "Unknown election type '{other}': PREFERRED or UNCLEAN"
            )))
        }
    };
    let partitions = wanted(&args)?;
    let timeout = args.connection.timeout();
    let (mut controller_wire, _) =
        WireClient::connect_to_controller(&args.connection.bootstrap_server, timeout)?;
    let request = ElectLeadersRequest::default()
        .with_election_type(election)
        .with_timeout_ms(i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX))
        .with_topic_partitions(partitions.map(|partitions| {
            let mut topics: Vec<TopicPartitions> = Vec::new();
            for (topic, partition) in partitions {
                match topics.iter_mut().find(|t| t.topic.as_str() == topic) {
                    Some(t) => t.partitions.push(partition),
                    None => topics.push(
                        TopicPartitions::default()
                            .with_topic(TopicName(StrBytes::from_string(topic)))
                            .with_partitions(vec![partition]),
                    ),
                }
            }
            topics
        }));
    let response: ElectLeadersResponse =
        controller_wire.call(ApiKey::ElectLeaders, ELECT_LEADERS_VERSION, &request)?;
    if response.error_code != 0 {
        return Err(CliError::Failed(format!(
            "Error completing leader election ({name}): {}",
            error_name(response.error_code)
        )));
    }
    let mut elected = Vec::new();
    let mut already = Vec::new();
    let mut failed = Vec::new();
    for topic in &response.replica_election_results {
        for p in &topic.partition_result {
            let label = format!("{}-{}", topic.topic.as_str(), p.partition_id);
            if p.error_code == 0 {
                elected.push(label);
            } else if p.error_code == ResponseError::ElectionNotNeeded.code() {
                already.push(label);
            } else {
                let message = p
                    .error_message
                    .as_ref()
                    .map(|m| m.as_str().to_string())
                    .unwrap_or_else(|| error_name(p.error_code));
                failed.push((label, message));
            }
        }
    }
    if !elected.is_empty() {
        println!(
            "Successfully completed leader election ({name}) for partitions {}",
            elected.join(", ")
        );
    }
    if !already.is_empty() {
        println!(
            "Valid replica already elected for partitions {}",
            already.join(", ")
        );
    }
    for (label, message) in &failed {
        println!("Error completing leader election ({name}) for partition: {label}: {message}");
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(CliError::Failed(format!(
            "{} replica(s) could not be elected",
            failed.len()
        )))
    }
}

/// The partitions asked for; None: all of them.
fn wanted(args: &LeaderElectionArgs) -> Result<Option<Vec<(String, i32)>>, CliError> {
    let single = args.topic.is_some() || args.partition.is_some();
    let ways = [
        args.all_topic_partitions,
        single,
        args.path_to_json_file.is_some(),
    ];
    if ways.iter().filter(|w| **w).count() != 1 {
        return Err(CliError::Usage(
            "One and only one of the following options is required: --all-topic-partitions, --topic with --partition, --path-to-json-file".into(),
        ));
    }
    if args.all_topic_partitions {
        return Ok(None);
    }
    if single {
        return match (&args.topic, args.partition) {
            (Some(topic), Some(partition)) => Ok(Some(vec![(topic.clone(), partition)])),
            _ => Err(CliError::Usage(
                "--topic and --partition go together".into(),
            )),
        };
    }
    let path = args.path_to_json_file.as_deref().unwrap_or_default();
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::Failed(format!("reading {path}: {e}")))?;
    let file: PartitionsFile = serde_json::from_str(&text)
        .map_err(|e| CliError::Failed(format!("{path} is not a partitions file: {e}")))?;
    Ok(Some(
        file.partitions
            .into_iter()
            .map(|p| (p.topic, p.partition))
            .collect(),
    ))
}

fn error_name(code: i16) -> String {
    ResponseError::try_from_code(code)
        .map(|e| format!("{e:?}"))
        .unwrap_or_else(|| format!("error code {code}"))
}
