//! `sluice reassign-partitions`, Kafka's `kafka-reassign-partitions.sh`:
//! moves partitions' replicas between brokers with Kafka's JSON plan
//! format, through AlterPartitionReassignments and
//! ListPartitionReassignments sent to the controller.
//!
//! | action | what it does |
//! |---|---|
//! | `--generate --topics-to-move-json-file F --broker-list 1,2,3` | prints the current assignment of the topics and a proposed one over the brokers (Kafka's placement) |
//! | `--execute --reassignment-json-file F [--additional]` | prints the current assignment (to roll back with) and starts the plan; refused while other moves are under way unless `--additional` |
//! | `--verify --reassignment-json-file F` | says of each partition whether its move is completed or still in progress (exit 0 either way, as Kafka's) |
//! | `--cancel --reassignment-json-file F` | cancels the moves of the plan still under way |
//! | `--list` | the reassignments under way |
//!
//! The plan file: `{"version":1,"partitions":[{"topic":"t","partition":0,
//! "replicas":[1,2],"log_dirs":["any","any"]}]}` (`log_dirs` other than
//! "any" are refused: one log directory per broker). `--throttle` is
//! refused: Sluice copies new replicas without a replication throttle.

use std::collections::BTreeMap;

use clap::Args;
use kafka_protocol::messages::alter_partition_reassignments_request::{
    ReassignablePartition, ReassignableTopic,
};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{
    AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponse, ApiKey, BrokerId,
    ListPartitionReassignmentsRequest, ListPartitionReassignmentsResponse, MetadataRequest,
    MetadataResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use serde::{Deserialize, Serialize};

use super::common::{Connection, BOOTSTRAP_DEFAULT};
use super::wire::{error_text, WireClient};
use super::CliError;
use crate::cluster::assignment::{assign_replicas_to_brokers, BrokerMetadata, StartIndex};

const METADATA_VERSION: i16 = 12;
const ALTER_VERSION: i16 = 0;
const LIST_VERSION: i16 = 0;

#[derive(Args, Debug)]
pub struct ReassignPartitionsArgs {
    /// The broker(s) to connect to, HOST:PORT[,HOST:PORT]. (Not the shared
    /// connection flags: `--broker-list` here is --generate's broker ids,
    /// as in Kafka's tool.)
    #[arg(long = "bootstrap-server", value_name = "HOST:PORT", default_value = BOOTSTRAP_DEFAULT)]
    pub bootstrap_server: String,
    /// ZooKeeper, HOST:PORT[/chroot]: the live brokers are read there.
    #[arg(long = "zookeeper", value_name = "HOST:PORT[/CHROOT]")]
    pub zookeeper: Option<String>,
    /// How long to wait for the broker, in milliseconds.
    #[arg(
        long = "request-timeout-ms",
        value_name = "MS",
        default_value_t = 10_000
    )]
    pub request_timeout_ms: u64,
    /// Propose a plan for the topics of --topics-to-move-json-file over
    /// --broker-list.
    #[arg(long)]
    pub generate: bool,
    /// Start the plan of --reassignment-json-file.
    #[arg(long)]
    pub execute: bool,
    /// Report on the plan of --reassignment-json-file.
    #[arg(long)]
    pub verify: bool,
    /// Cancel the moves of --reassignment-json-file still under way.
    #[arg(long)]
    pub cancel: bool,
    /// The reassignments under way.
    #[arg(long)]
    pub list: bool,
    #[arg(long = "reassignment-json-file", value_name = "FILE")]
    pub reassignment_json_file: Option<String>,
    #[arg(long = "topics-to-move-json-file", value_name = "FILE")]
    pub topics_to_move_json_file: Option<String>,
    /// Broker ids for --generate, e.g. "1,2,3".
    #[arg(long = "broker-list", value_name = "IDS")]
    pub broker_list: Option<String>,
    /// Kafka's replication throttle (bytes/s); not supported.
    #[arg(long, value_name = "BYTES")]
    pub throttle: Option<i64>,
    /// --execute while other reassignments are under way.
    #[arg(long)]
    pub additional: bool,
}

/// Kafka's reassignment JSON.
#[derive(Debug, Serialize, Deserialize)]
struct Plan {
    version: i32,
    partitions: Vec<PlannedPartition>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct PlannedPartition {
    topic: String,
    partition: i32,
    replicas: Vec<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    log_dirs: Option<Vec<String>>,
}

#[derive(Deserialize)]
struct TopicsToMove {
    topics: Vec<TopicToMove>,
}

#[derive(Deserialize)]
struct TopicToMove {
    topic: String,
}

pub fn run(args: ReassignPartitionsArgs) -> Result<(), CliError> {
    let mut connection = Connection {
        bootstrap_server: args.bootstrap_server.clone(),
        zookeeper: args.zookeeper.clone(),
        request_timeout_ms: args.request_timeout_ms,
        command_config: None,
    };
    connection.resolve()?;
    let actions = [
        args.generate,
        args.execute,
        args.verify,
        args.cancel,
        args.list,
    ];
    if actions.iter().filter(|a| **a).count() != 1 {
        return Err(CliError::Usage(
            "Command must include exactly one action: --generate, --execute, --verify, --cancel, --list".into(),
        ));
    }
    if args.throttle.is_some() {
        return Err(CliError::Usage(
            "--throttle is not supported: Sluice copies new replicas without a replication throttle".into(),
        ));
    }
    let (mut controller, _) =
        WireClient::connect_to_controller(&connection.bootstrap_server, connection.timeout())?;
    if args.list {
        return list(&mut controller);
    }
    if args.generate {
        return generate(&args, &mut controller);
    }
    let path = args.reassignment_json_file.as_deref().ok_or_else(|| {
        CliError::Usage("--execute, --verify and --cancel need --reassignment-json-file".into())
    })?;
    let plan = read_plan(path)?;
    if args.execute {
        execute(&mut controller, &plan, args.additional)
    } else if args.verify {
        verify(&mut controller, &plan)
    } else {
        cancel(&mut controller, &plan)
    }
}

fn read_plan(path: &str) -> Result<Plan, CliError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::Failed(format!("reading {path}: {e}")))?;
    let plan: Plan = serde_json::from_str(&text)
        .map_err(|e| CliError::Failed(format!("{path} is not a reassignment plan: {e}")))?;
    if plan.partitions.is_empty() {
        return Err(CliError::Failed(
            "Partition reassignment list cannot be empty.".into(),
        ));
    }
    for p in &plan.partitions {
        if let Some(dirs) = &p.log_dirs {
            if dirs.len() != p.replicas.len() {
                return Err(CliError::Failed(format!(
                    "Size of replicas list {:?} is different from size of log dirs list {dirs:?} for partition {}-{}",
                    p.replicas, p.topic, p.partition
                )));
            }
            if dirs.iter().any(|d| d != "any") {
                return Err(CliError::Failed(
                    "log_dirs other than \"any\" are not supported: a Sluice broker has one log directory".into(),
                ));
            }
        }
    }
    Ok(plan)
}

/// The current replicas of every partition of `topics`.
fn current_assignment(
    controller: &mut WireClient,
    topics: &[String],
) -> Result<Vec<PlannedPartition>, CliError> {
    let request = MetadataRequest::default().with_topics(Some(
        topics
            .iter()
            .map(|t| {
                MetadataRequestTopic::default()
                    .with_name(Some(TopicName(StrBytes::from_string(t.clone()))))
            })
            .collect(),
    ));
    let metadata: MetadataResponse =
        controller.call(ApiKey::Metadata, METADATA_VERSION, &request)?;
    let mut current = Vec::new();
    for topic in &metadata.topics {
        let name = topic
            .name
            .as_ref()
            .map(|n| n.as_str().to_string())
            .unwrap_or_default();
        if topic.error_code != 0 {
            return Err(CliError::Failed(format!(
                "Topic {name}: {}",
                error_text(topic.error_code, None)
            )));
        }
        for p in &topic.partitions {
            current.push(PlannedPartition {
                topic: name.clone(),
                partition: p.partition_index,
                replicas: p.replica_nodes.iter().map(|b| b.0).collect(),
                log_dirs: Some(vec!["any".to_string(); p.replica_nodes.len()]),
            });
        }
    }
    current.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
    Ok(current)
}

fn plan_json(partitions: Vec<PlannedPartition>) -> String {
    serde_json::to_string(&Plan {
        version: 1,
        partitions,
    })
    .unwrap_or_default()
}

fn label(topic: &str, partition: i32) -> String {
    format!("{topic}-{partition}")
}

fn generate(args: &ReassignPartitionsArgs, controller: &mut WireClient) -> Result<(), CliError> {
    let (Some(path), Some(broker_list)) = (&args.topics_to_move_json_file, &args.broker_list)
    else {
        return Err(CliError::Usage(
            "--generate needs --topics-to-move-json-file and --broker-list".into(),
        ));
    };
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::Failed(format!("reading {path}: {e}")))?;
    let to_move: TopicsToMove = serde_json::from_str(&text)
        .map_err(|e| CliError::Failed(format!("{path} is not a topics-to-move file: {e}")))?;
    let mut brokers: Vec<i32> = Vec::new();
    for id in broker_list
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        let id: i32 = id
            .parse()
            .map_err(|_| CliError::Usage(format!("--broker-list: {id:?} is not a broker id")))?;
        if brokers.contains(&id) {
            return Err(CliError::Usage(format!(
                "--broker-list names broker {id} twice"
            )));
        }
        brokers.push(id);
    }
    brokers.sort_unstable();
    let topics: Vec<String> = to_move.topics.into_iter().map(|t| t.topic).collect();
    let current = current_assignment(controller, &topics)?;
    let mut by_topic: BTreeMap<&str, Vec<&PlannedPartition>> = BTreeMap::new();
    for p in &current {
        by_topic.entry(p.topic.as_str()).or_default().push(p);
    }
    let placement: Vec<BrokerMetadata> = brokers
        .iter()
        .map(|id| BrokerMetadata::new(*id, None))
        .collect();
    let mut proposed = Vec::new();
    for (topic, partitions) in by_topic {
        let factor = partitions.first().map_or(1, |p| p.replicas.len()) as i32;
        let start = StartIndex::random(&mut rand::thread_rng(), placement.len());
        let assignment =
            assign_replicas_to_brokers(&placement, partitions.len() as i32, factor, start, 0)
                .map_err(|e| CliError::Failed(e.to_string()))?;
        for (partition, replicas) in assignment {
            proposed.push(PlannedPartition {
                topic: topic.to_string(),
                partition,
                log_dirs: Some(vec!["any".to_string(); replicas.len()]),
                replicas,
            });
        }
    }
    println!(
        "Current partition replica assignment\n{}\n",
        plan_json(current)
    );
    println!(
        "Proposed partition reassignment configuration\n{}",
        plan_json(proposed)
    );
    Ok(())
}

/// Sends AlterPartitionReassignments for `targets` (None: cancel); returns
/// the partitions refused, with the broker's words.
fn alter(
    controller: &mut WireClient,
    targets: Vec<(String, i32, Option<Vec<i32>>)>,
) -> Result<Vec<(String, String)>, CliError> {
    let mut topics: Vec<ReassignableTopic> = Vec::new();
    for (topic, partition, replicas) in targets {
        let entry = ReassignablePartition::default()
            .with_partition_index(partition)
            .with_replicas(replicas.map(|r| r.into_iter().map(BrokerId).collect()));
        match topics.iter_mut().find(|t| t.name.as_str() == topic) {
            Some(t) => t.partitions.push(entry),
            None => topics.push(
                ReassignableTopic::default()
                    .with_name(TopicName(StrBytes::from_string(topic)))
                    .with_partitions(vec![entry]),
            ),
        }
    }
    let request = AlterPartitionReassignmentsRequest::default()
        .with_timeout_ms(60_000)
        .with_topics(topics);
    let response: AlterPartitionReassignmentsResponse =
        controller.call(ApiKey::AlterPartitionReassignments, ALTER_VERSION, &request)?;
    if response.error_code != 0 {
        return Err(CliError::Failed(error_text(
            response.error_code,
            response.error_message.as_ref(),
        )));
    }
    let mut refused = Vec::new();
    for topic in &response.responses {
        for p in &topic.partitions {
            if p.error_code != 0 {
                refused.push((
                    label(topic.name.as_str(), p.partition_index),
                    error_text(p.error_code, p.error_message.as_ref()),
                ));
            }
        }
    }
    Ok(refused)
}

/// The reassignments under way: partition label to (replicas, adding,
/// removing).
type Ongoing = BTreeMap<(String, i32), (Vec<i32>, Vec<i32>, Vec<i32>)>;

fn ongoing(controller: &mut WireClient) -> Result<Ongoing, CliError> {
    let response: ListPartitionReassignmentsResponse = controller.call(
        ApiKey::ListPartitionReassignments,
        LIST_VERSION,
        &ListPartitionReassignmentsRequest::default().with_timeout_ms(60_000),
    )?;
    if response.error_code != 0 {
        return Err(CliError::Failed(error_text(
            response.error_code,
            response.error_message.as_ref(),
        )));
    }
    let ids = |list: &[BrokerId]| list.iter().map(|b| b.0).collect::<Vec<_>>();
    let mut out = Ongoing::new();
    for topic in &response.topics {
        for p in &topic.partitions {
            out.insert(
                (topic.name.as_str().to_string(), p.partition_index),
                (
                    ids(&p.replicas),
                    ids(&p.adding_replicas),
                    ids(&p.removing_replicas),
                ),
            );
        }
    }
    Ok(out)
}

fn joined(ids: &[i32]) -> String {
    ids.iter().map(i32::to_string).collect::<Vec<_>>().join(",")
}

fn list(controller: &mut WireClient) -> Result<(), CliError> {
    let ongoing = ongoing(controller)?;
    if ongoing.is_empty() {
        println!("No partition reassignments found.");
        return Ok(());
    }
    println!("Current partition reassignments:");
    for ((topic, partition), (replicas, adding, removing)) in &ongoing {
        println!(
            "{}: replicas: {}. adding: {}. removing: {}.",
            label(topic, *partition),
            joined(replicas),
            joined(adding),
            joined(removing)
        );
    }
    Ok(())
}

/// `t-0,t-1`, sorted by topic then partition (Kafka's order).
fn sorted_labels<'a>(partitions: impl Iterator<Item = &'a PlannedPartition>) -> String {
    let mut keys: Vec<(&str, i32)> = partitions
        .map(|p| (p.topic.as_str(), p.partition))
        .collect();
    keys.sort();
    keys.dedup();
    keys.iter()
        .map(|(t, p)| label(t, *p))
        .collect::<Vec<_>>()
        .join(",")
}

/// Kafka's "s" after "reassignment" for more than one partition.
fn plural(count: usize) -> &'static str {
    if count == 1 {
        ""
    } else {
        "s"
    }
}

fn execute(controller: &mut WireClient, plan: &Plan, additional: bool) -> Result<(), CliError> {
    if !additional && !ongoing(controller)?.is_empty() {
        return Err(CliError::Failed(
            "Cannot execute because there is an existing partition assignment.  Use --additional to override this and create a new partition assignment in addition to the existing one. The --additional flag can also be used to change the throttle by resubmitting the current reassignment.".into(),
        ));
    }
    let mut topics: Vec<String> = plan.partitions.iter().map(|p| p.topic.clone()).collect();
    topics.sort();
    topics.dedup();
    let current = current_assignment(controller, &topics)?;
    let named: Vec<PlannedPartition> = current
        .into_iter()
        .filter(|c| {
            plan.partitions
                .iter()
                .any(|p| p.topic == c.topic && p.partition == c.partition)
        })
        .collect();
    println!(
        "Current partition replica assignment\n\n{}\n",
        plan_json(named)
    );
    println!("Save this to use as the --reassignment-json-file option during rollback");
    let targets = plan
        .partitions
        .iter()
        .map(|p| (p.topic.clone(), p.partition, Some(p.replicas.clone())))
        .collect();
    let refused = alter(controller, targets)?;
    if !refused.is_empty() {
        return refusals(refused, "Error reassigning partition(s):".to_string());
    }
    println!(
        "Successfully started partition reassignment{} for {}",
        plural(plan.partitions.len()),
        sorted_labels(plan.partitions.iter())
    );
    Ok(())
}

/// Kafka's refusal: a heading and a line per partition, exit code 1.
fn refusals(refused: Vec<(String, String)>, heading: String) -> Result<(), CliError> {
    println!("{heading}");
    for (partition, message) in &refused {
        println!("{partition}: {message}");
    }
    Err(CliError::Failed(format!(
        "{} partition(s) refused",
        refused.len()
    )))
}

fn verify(controller: &mut WireClient, plan: &Plan) -> Result<(), CliError> {
    let ongoing = ongoing(controller)?;
    let mut topics: Vec<String> = plan.partitions.iter().map(|p| p.topic.clone()).collect();
    topics.sort();
    topics.dedup();
    let current = current_assignment(controller, &topics)?;
    println!("Status of partition reassignment:");
    let mut in_order: Vec<&PlannedPartition> = plan.partitions.iter().collect();
    in_order.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
    for p in in_order {
        let name = label(&p.topic, p.partition);
        if ongoing.contains_key(&(p.topic.clone(), p.partition)) {
            println!("Reassignment of partition {name} is still in progress.");
            continue;
        }
        let replicas = current
            .iter()
            .find(|c| c.topic == p.topic && c.partition == p.partition)
            .map(|c| c.replicas.clone())
            .unwrap_or_default();
        if replicas == p.replicas {
            println!("Reassignment of partition {name} is completed.");
        } else {
            println!(
                "There is no active reassignment of partition {name}, but replica set is {} rather than {}.",
                joined(&replicas),
                joined(&p.replicas)
            );
        }
    }
    // Kafka's tool exits 0 whatever the status: scripts read the lines.
    Ok(())
}

fn cancel(controller: &mut WireClient, plan: &Plan) -> Result<(), CliError> {
    let ongoing = ongoing(controller)?;
    let active: Vec<&PlannedPartition> = plan
        .partitions
        .iter()
        .filter(|p| ongoing.contains_key(&(p.topic.clone(), p.partition)))
        .collect();
    if active.is_empty() {
        println!("None of the specified partition reassignments are active.");
        return Ok(());
    }
    let targets = active
        .iter()
        .map(|p| (p.topic.clone(), p.partition, None))
        .collect();
    let refused = alter(controller, targets)?;
    if !refused.is_empty() {
        let heading = format!(
            "Error cancelling partition reassignment{} for:",
            plural(refused.len())
        );
        return refusals(refused, heading);
    }
    println!(
        "Successfully cancelled partition reassignment{} for: {}",
        plural(active.len()),
        sorted_labels(active.iter().copied())
    );
    Ok(())
}
