//! `sluice topics`: kafka-topics.sh. Create, list, describe, delete and grow
//! topics with Kafka's flags and Kafka's output.
//!
//! `--describe` prints Kafka 4.0 TopicCommand's layout, which scripts parse:
//!
//! ```text
//! Topic: T\tTopicId: <id>\tPartitionCount: N\tReplicationFactor: R\tConfigs: k=v,...
//! \tTopic: T\tPartition: 0\tLeader: 1\tReplicas: 1\tIsr: 1\tElr: N/A\tLastKnownElr: N/A
//! ```
//!
//! (`Configs` lists the entries whose source is not Kafka's default; `Elr`
//! is N/A because the tool reads partitions from Metadata, as Kafka's does
//! with a broker that has no DescribeTopicPartitions.)

use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::metadata_response::MetadataResponseTopic;
use kafka_protocol::messages::{
    ApiKey, CreateTopicsRequest, CreateTopicsResponse, DescribeConfigsRequest,
    DescribeConfigsResponse, MetadataRequest, MetadataResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;
use rdkafka::admin::NewPartitions;

use super::common::{block_on, Connection};
use super::properties::parse_pairs;
use super::wire::{error_text, WireClient};
use super::CliError;

/// Versions the raw calls use (every Kafka broker since 2.4 answers them).
const METADATA_VERSION: i16 = 12;
const CREATE_TOPICS_VERSION: i16 = 5;
const DESCRIBE_CONFIGS_VERSION: i16 = 1;
/// DescribeConfigs' source code for Kafka's built-in defaults.
const SOURCE_DEFAULT_CONFIG: i8 = 5;
const RESOURCE_TOPIC: i8 = 2;

#[derive(clap::Args, Debug)]
pub struct TopicsArgs {
    #[command(flatten)]
    pub connection: Connection,
    /// Create a topic.
    #[arg(long)]
    pub create: bool,
    /// List topic names.
    #[arg(long)]
    pub list: bool,
    /// Describe topics (all, or --topic).
    #[arg(long)]
    pub describe: bool,
    /// Delete a topic.
    #[arg(long)]
    pub delete: bool,
    /// Change a topic (--partitions: grow it).
    #[arg(long)]
    pub alter: bool,
    /// The topic.
    #[arg(long)]
    pub topic: Option<String>,
    /// Partitions of a new topic, or the new total with --alter.
    #[arg(long)]
    pub partitions: Option<i32>,
    /// Replicas of each partition of a new topic.
    #[arg(long = "replication-factor")]
    pub replication_factor: Option<i16>,
    /// A topic config for --create, KEY=VALUE (repeatable).
    #[arg(long = "config", value_name = "KEY=VALUE")]
    pub config: Vec<String>,
    /// With --create: a topic that exists already is not an error.
    #[arg(long = "if-not-exists")]
    pub if_not_exists: bool,
    /// With --alter, --describe, --delete: a missing topic is not an error.
    #[arg(long = "if-exists")]
    pub if_exists: bool,
    /// Leave internal topics (`__consumer_offsets`) out of --list/--describe.
    #[arg(long = "exclude-internal")]
    pub exclude_internal: bool,
    /// With --describe: only partitions whose ISR is smaller than their
    /// replica set (their lines only, as Kafka prints them).
    #[arg(long = "under-replicated-partitions")]
    pub under_replicated_partitions: bool,
    /// With --describe: only partitions without a live leader.
    #[arg(long = "unavailable-partitions")]
    pub unavailable_partitions: bool,
}

pub fn run(mut args: TopicsArgs) -> Result<(), CliError> {
    args.connection.resolve()?;
    let actions = [
        args.create,
        args.list,
        args.describe,
        args.delete,
        args.alter,
    ];
    if actions.iter().filter(|a| **a).count() != 1 {
        return Err(CliError::Usage(
            "Command must include exactly one action: --list, --describe, --create, --alter or --delete".into(),
        ));
    }
    if (args.under_replicated_partitions || args.unavailable_partitions) && !args.describe {
        return Err(CliError::Usage(
            "--under-replicated-partitions and --unavailable-partitions go with --describe".into(),
        ));
    }
    let needs_topic = args.create || args.delete || args.alter;
    if needs_topic && args.topic.is_none() {
        return Err(CliError::Usage(
            "--topic is required for --create, --alter and --delete".into(),
        ));
    }
    let mut wire = args.connection.wire()?;
    if args.create {
        create(&args, &mut wire)
    } else if args.list {
        list(&args, &mut wire)
    } else if args.describe {
        describe(&args, &mut wire)
    } else if args.delete {
        delete(&args, &mut wire)
    } else {
        alter(&args, &mut wire)
    }
}

fn topic_error(message: String) -> CliError {
    CliError::Failed(format!("Error while executing topic command : {message}"))
}

fn create(args: &TopicsArgs, wire: &mut WireClient) -> Result<(), CliError> {
    let name = args.topic.clone().unwrap_or_default();
    if args.partitions.is_some_and(|p| p < 1) {
        return Err(CliError::Usage(
            "The partitions must be greater than 0".into(),
        ));
    }
    if args.replication_factor.is_some_and(|r| r < 1) {
        return Err(CliError::Usage(
            "The replication factor must be between 1 and 32767 inclusive".into(),
        ));
    }
    let configs = parse_pairs("--config", &args.config)?
        .into_iter()
        .map(|(key, value)| {
            CreatableTopicConfig::default()
                .with_name(StrBytes::from_string(key))
                .with_value(Some(StrBytes::from_string(value)))
        })
        .collect();
    let topic = CreatableTopic::default()
        .with_name(TopicName(StrBytes::from_string(name.clone())))
        .with_num_partitions(args.partitions.unwrap_or(-1))
        .with_replication_factor(args.replication_factor.unwrap_or(-1))
        .with_configs(configs);
    let request = CreateTopicsRequest::default()
        .with_topics(vec![topic])
        .with_timeout_ms(args.connection.request_timeout_ms.min(i32::MAX as u64) as i32);
    let response: CreateTopicsResponse =
        wire.call(ApiKey::CreateTopics, CREATE_TOPICS_VERSION, &request)?;
    let result = response
        .topics
        .first()
        .ok_or_else(|| topic_error("the broker answered without the topic".into()))?;
    if result.error_code == ResponseError::TopicAlreadyExists.code() && args.if_not_exists {
        return Ok(());
    }
    if result.error_code != 0 {
        return Err(topic_error(error_text(
            result.error_code,
            result.error_message.as_ref(),
        )));
    }
    println!("Created topic {name}.");
    Ok(())
}

/// Every topic (or only `names`) from Metadata, sorted by name.
fn metadata(
    wire: &mut WireClient,
    names: Option<&[String]>,
) -> Result<Vec<MetadataResponseTopic>, CliError> {
    let request = MetadataRequest::default()
        .with_topics(names.map(|names| {
            names
                .iter()
                .map(|n| {
                    MetadataRequestTopic::default()
                        .with_name(Some(TopicName(StrBytes::from_string(n.clone()))))
                })
                .collect()
        }))
        .with_allow_auto_topic_creation(false);
    let response: MetadataResponse = wire.call(ApiKey::Metadata, METADATA_VERSION, &request)?;
    let mut topics = response.topics;
    topics.sort_by(|a, b| name_of(a).cmp(name_of(b)));
    Ok(topics)
}

/// Every topic's name, sorted.
pub fn all_topic_names(wire: &mut WireClient) -> Result<Vec<String>, CliError> {
    Ok(metadata(wire, None)?
        .iter()
        .map(|t| name_of(t).to_string())
        .collect())
}

fn name_of(topic: &MetadataResponseTopic) -> &str {
    topic
        .name
        .as_ref()
        .map(|n| n.0.as_str())
        .unwrap_or_default()
}

/// The topics the command is about: `--topic`, or all; a named topic that
/// does not exist is an error unless `--if-exists`.
fn selected(
    args: &TopicsArgs,
    wire: &mut WireClient,
    if_exists: bool,
) -> Result<Vec<MetadataResponseTopic>, CliError> {
    let topics: Vec<MetadataResponseTopic> = match &args.topic {
        Some(name) => metadata(wire, Some(std::slice::from_ref(name)))?
            .into_iter()
            .filter(|t| t.error_code == 0)
            .collect(),
        None => metadata(wire, None)?,
    };
    let topics: Vec<_> = topics
        .into_iter()
        .filter(|t| !(args.exclude_internal && t.is_internal))
        .collect();
    if let Some(name) = &args.topic {
        if topics.is_empty() && !if_exists {
            return Err(topic_error(format!(
                "Topic '{name}' does not exist as expected"
            )));
        }
    }
    Ok(topics)
}

fn list(args: &TopicsArgs, wire: &mut WireClient) -> Result<(), CliError> {
    // Kafka's --list with --topic prints the match or nothing.
    for topic in selected(args, wire, true)? {
        println!("{}", name_of(&topic));
    }
    Ok(())
}

fn describe(args: &TopicsArgs, wire: &mut WireClient) -> Result<(), CliError> {
    let topics = selected(args, wire, args.if_exists)?;
    if topics.is_empty() {
        return Ok(());
    }
    if args.under_replicated_partitions || args.unavailable_partitions {
        for topic in &topics {
            let mut partitions: Vec<_> = topic.partitions.iter().collect();
            partitions.sort_by_key(|p| p.partition_index);
            for p in partitions {
                let under = p.isr_nodes.len() < p.replica_nodes.len();
                let unavailable = p.leader_id.0 < 0 || p.error_code != 0;
                if (args.under_replicated_partitions && under)
                    || (args.unavailable_partitions && unavailable)
                {
                    println!("{}", partition_line(name_of(topic), p));
                }
            }
        }
        return Ok(());
    }
    let request = DescribeConfigsRequest::default().with_resources(
        topics
            .iter()
            .map(|t| {
                DescribeConfigsResource::default()
                    .with_resource_type(RESOURCE_TOPIC)
                    .with_resource_name(StrBytes::from_string(name_of(t).to_string()))
                    .with_configuration_keys(None)
            })
            .collect(),
    );
    let configs: DescribeConfigsResponse =
        wire.call(ApiKey::DescribeConfigs, DESCRIBE_CONFIGS_VERSION, &request)?;
    for topic in &topics {
        let name = name_of(topic);
        let overrides = configs
            .results
            .iter()
            .find(|r| r.resource_name.as_str() == name && r.error_code == 0)
            .map(|r| {
                r.configs
                    .iter()
                    .filter(|c| c.config_source != SOURCE_DEFAULT_CONFIG)
                    .map(|c| {
                        format!(
                            "{}={}",
                            c.name.as_str(),
                            c.value.as_ref().map(|v| v.as_str()).unwrap_or("null")
                        )
                    })
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .unwrap_or_default();
        let mut partitions: Vec<_> = topic.partitions.iter().collect();
        partitions.sort_by_key(|p| p.partition_index);
        let replication = partitions.first().map_or(0, |p| p.replica_nodes.len());
        let mut line = format!("Topic: {name}");
        if !topic.topic_id.is_nil() {
            line.push_str(&format!("\tTopicId: {}", kafka_uuid(&topic.topic_id)));
        }
        println!(
            "{line}\tPartitionCount: {}\tReplicationFactor: {replication}\tConfigs: {overrides}",
            partitions.len()
        );
        for p in partitions {
            println!("{}", partition_line(name, p));
        }
    }
    Ok(())
}

/// One partition's line of --describe, as Kafka prints it.
fn partition_line(
    name: &str,
    p: &kafka_protocol::messages::metadata_response::MetadataResponsePartition,
) -> String {
    let ids = |nodes: &[kafka_protocol::messages::BrokerId]| {
        nodes
            .iter()
            .map(|n| n.0.to_string())
            .collect::<Vec<_>>()
            .join(",")
    };
    let leader = if p.leader_id.0 < 0 {
        "none".to_string()
    } else {
        p.leader_id.0.to_string()
    };
    format!(
        "\tTopic: {name}\tPartition: {}\tLeader: {leader}\tReplicas: {}\tIsr: {}\tElr: N/A\tLastKnownElr: N/A",
        p.partition_index,
        ids(&p.replica_nodes),
        ids(&p.isr_nodes)
    )
}

/// Kafka prints topic ids in its URL-safe base64 form, not as a UUID.
pub fn kafka_uuid(id: &uuid::Uuid) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let bytes = id.as_bytes();
    let mut out = String::with_capacity(22);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let chars = chunk.len() + 1;
        for i in 0..chars {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

fn delete(args: &TopicsArgs, wire: &mut WireClient) -> Result<(), CliError> {
    let topics = selected(args, wire, args.if_exists)?;
    if topics.is_empty() {
        return Ok(());
    }
    let admin = args.connection.admin()?;
    let names: Vec<&str> = topics.iter().map(name_of).collect();
    let results = block_on(admin.delete_topics(&names, &args.connection.admin_options()))
        .map_err(|e| topic_error(e.to_string()))?;
    for result in results {
        if let Err((topic, code)) = result {
            return Err(topic_error(format!("deleting topic '{topic}': {code}")));
        }
    }
    Ok(())
}

fn alter(args: &TopicsArgs, wire: &mut WireClient) -> Result<(), CliError> {
    let Some(count) = args.partitions else {
        return Err(CliError::Usage(
            "--alter needs --partitions (topic configs are changed with `sluice configs --alter`)"
                .into(),
        ));
    };
    if count < 1 {
        return Err(CliError::Usage(
            "The partitions must be greater than 0".into(),
        ));
    }
    let topics = selected(args, wire, args.if_exists)?;
    if topics.is_empty() {
        return Ok(());
    }
    let admin = args.connection.admin()?;
    let growth: Vec<NewPartitions> = topics
        .iter()
        .map(|t| NewPartitions::new(name_of(t), count as usize))
        .collect();
    let results = block_on(admin.create_partitions(&growth, &args.connection.admin_options()))
        .map_err(|e| topic_error(e.to_string()))?;
    for (result, topic) in results.into_iter().zip(&topics) {
        if let Err((name, code)) = result {
            let now = topic.partitions.len();
            return Err(topic_error(format!(
                "growing topic '{name}' from {now} to {count} partitions: {code}"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_ids_print_as_kafka_base64() {
        // Kafka's Uuid.toString of the all-ones and a known id.
        let id = uuid::Uuid::from_bytes([0xff; 16]);
        assert_eq!(kafka_uuid(&id), "_____________________w");
        let id = uuid::Uuid::from_u128(1);
        assert_eq!(kafka_uuid(&id), "AAAAAAAAAAAAAAAAAAAAAQ");
    }
}
