//! `sluice configs`: kafka-configs.sh for topics and brokers. `--describe`
//! prints Kafka's layout:
//!
//! ```text
//! Dynamic configs for topic T are:
//!   retention.ms=1000 sensitive=false synonyms={DYNAMIC_TOPIC_CONFIG:retention.ms=1000, ...}
//! ```
//!
//! (`--all` lists every config, headed `All configs for ...`). `--alter`
//! sends IncrementalAlterConfigs: SET for each `--add-config` pair, DELETE
//! for each `--delete-config` key, as Kafka's tool does; deleting a key that
//! has no override is refused before anything is sent ("Invalid config(s)").

use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::describe_configs_response::DescribeConfigsResult;
use kafka_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use kafka_protocol::messages::{
    ApiKey, DescribeConfigsRequest, DescribeConfigsResponse, IncrementalAlterConfigsRequest,
    IncrementalAlterConfigsResponse,
};
use kafka_protocol::protocol::StrBytes;

use super::common::Connection;
use super::properties::parse_config_list;
use super::wire::{error_text, WireClient};
use super::CliError;

const DESCRIBE_CONFIGS_VERSION: i16 = 1;
const INCREMENTAL_ALTER_CONFIGS_VERSION: i16 = 0;
const RESOURCE_TOPIC: i8 = 2;
const RESOURCE_BROKER: i8 = 4;
const OP_SET: i8 = 0;
const OP_DELETE: i8 = 1;

#[derive(clap::Args, Debug)]
pub struct ConfigsArgs {
    #[command(flatten)]
    pub connection: Connection,
    /// topics or brokers.
    #[arg(long = "entity-type")]
    pub entity_type: Option<String>,
    /// The topic name or broker id (describe: all when left out).
    #[arg(long = "entity-name")]
    pub entity_name: Option<String>,
    /// The cluster-wide broker default (brokers only).
    #[arg(long = "entity-default")]
    pub entity_default: bool,
    /// Shorthand for --entity-type topics --entity-name T.
    #[arg(long)]
    pub topic: Option<String>,
    /// Shorthand for --entity-type brokers --entity-name ID.
    #[arg(long)]
    pub broker: Option<String>,
    /// Print the configs.
    #[arg(long)]
    pub describe: bool,
    /// Change configs (--add-config, --delete-config).
    #[arg(long)]
    pub alter: bool,
    /// With --describe: every config, not only the dynamic ones.
    #[arg(long)]
    pub all: bool,
    /// Configs to set: k=v,k2=v2 (a value with commas in [brackets]).
    #[arg(long = "add-config", value_name = "K=V,...")]
    pub add_config: Vec<String>,
    /// Configs to remove: k,k2.
    #[arg(long = "delete-config", value_name = "K,...")]
    pub delete_config: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Entity {
    Topic,
    Broker,
}

impl Entity {
    fn code(self) -> i8 {
        match self {
            Entity::Topic => RESOURCE_TOPIC,
            Entity::Broker => RESOURCE_BROKER,
        }
    }

    fn singular(self) -> &'static str {
        match self {
            Entity::Topic => "topic",
            Entity::Broker => "broker",
        }
    }
}

/// Kafka's `ConfigEntry.ConfigSource` names by wire code.
fn source_name(code: i8) -> &'static str {
    match code {
        1 => "DYNAMIC_TOPIC_CONFIG",
        2 => "DYNAMIC_BROKER_CONFIG",
        3 => "DYNAMIC_DEFAULT_BROKER_CONFIG",
        4 => "STATIC_BROKER_CONFIG",
        5 => "DEFAULT_CONFIG",
        6 => "DYNAMIC_BROKER_LOGGER_CONFIG",
        7 => "CLIENT_METRICS_CONFIG",
        8 => "GROUP_CONFIG",
        _ => "UNKNOWN",
    }
}

fn is_dynamic(entity: Entity, source: i8) -> bool {
    match entity {
        Entity::Topic => source == 1,
        Entity::Broker => matches!(source, 2 | 3 | 6),
    }
}

pub fn run(mut args: ConfigsArgs) -> Result<(), CliError> {
    args.connection.resolve()?;
    if args.describe == args.alter {
        return Err(CliError::Usage(
            "Command must include exactly one action: --describe, --alter".into(),
        ));
    }
    let (entity, name) = target(&args)?;
    let mut wire = args.connection.wire()?;
    if args.describe {
        describe(&args, &mut wire, entity, name)
    } else {
        let name = name.ok_or_else(|| {
            CliError::Usage("--alter needs --entity-name (or --entity-default for brokers)".into())
        })?;
        alter(&args, &mut wire, entity, &name)
    }
}

/// The entity the flags name; `None` as the name means every topic, or the
/// broker the tool is connected to.
fn target(args: &ConfigsArgs) -> Result<(Entity, Option<String>), CliError> {
    if let Some(topic) = &args.topic {
        return Ok((Entity::Topic, Some(topic.clone())));
    }
    if let Some(broker) = &args.broker {
        return Ok((Entity::Broker, Some(broker.clone())));
    }
    let entity = match args.entity_type.as_deref() {
        Some("topics") | Some("topic") => Entity::Topic,
        Some("brokers") | Some("broker") => Entity::Broker,
        Some(other) => {
            return Err(CliError::Usage(format!(
                "--entity-type must be topics or brokers (Sluice's tool), got {other:?}"
            )))
        }
        None => return Err(CliError::Usage("--entity-type is required".into())),
    };
    if args.entity_default {
        if entity != Entity::Broker {
            return Err(CliError::Usage(
                "--entity-default is for brokers only".into(),
            ));
        }
        return Ok((entity, Some(String::new())));
    }
    Ok((entity, args.entity_name.clone()))
}

fn describe_resources(
    wire: &mut WireClient,
    entity: Entity,
    names: &[String],
) -> Result<Vec<DescribeConfigsResult>, CliError> {
    let request = DescribeConfigsRequest::default()
        .with_include_synonyms(true)
        .with_resources(
            names
                .iter()
                .map(|name| {
                    DescribeConfigsResource::default()
                        .with_resource_type(entity.code())
                        .with_resource_name(StrBytes::from_string(name.clone()))
                        .with_configuration_keys(None)
                })
                .collect(),
        );
    let response: DescribeConfigsResponse =
        wire.call(ApiKey::DescribeConfigs, DESCRIBE_CONFIGS_VERSION, &request)?;
    for result in &response.results {
        if result.error_code != 0 {
            return Err(CliError::Failed(format!(
                "describing {} {}: {}",
                entity.singular(),
                result.resource_name.as_str(),
                error_text(result.error_code, result.error_message.as_ref())
            )));
        }
    }
    Ok(response.results)
}

fn describe(
    args: &ConfigsArgs,
    wire: &mut WireClient,
    entity: Entity,
    name: Option<String>,
) -> Result<(), CliError> {
    let names = match (entity, name) {
        (_, Some(name)) => vec![name],
        (Entity::Topic, None) => super::topics::all_topic_names(wire)?,
        (Entity::Broker, None) => vec![connected_broker_id(wire)?],
    };
    for result in describe_resources(wire, entity, &names)? {
        let name = result.resource_name.as_str();
        let heading = if args.all { "All" } else { "Dynamic" };
        if entity == Entity::Broker && name.is_empty() {
            println!("Default configs for brokers in the cluster are:");
        } else {
            println!("{heading} configs for {} {name} are:", entity.singular());
        }
        for config in &result.configs {
            if !args.all && !is_dynamic(entity, config.config_source) {
                continue;
            }
            let value = |v: &Option<StrBytes>| {
                v.as_ref()
                    .map(|v| v.as_str().to_string())
                    .unwrap_or_else(|| "null".into())
            };
            let synonyms = config
                .synonyms
                .iter()
                .map(|s| {
                    format!(
                        "{}:{}={}",
                        source_name(s.source),
                        s.name.as_str(),
                        value(&s.value)
                    )
                })
                .collect::<Vec<_>>()
                .join(", ");
            println!(
                "  {}={} sensitive={} synonyms={{{synonyms}}}",
                config.name.as_str(),
                value(&config.value),
                config.is_sensitive
            );
        }
    }
    Ok(())
}

/// The id of the broker the tool is connected to, from Metadata.
fn connected_broker_id(wire: &mut WireClient) -> Result<String, CliError> {
    let request = kafka_protocol::messages::MetadataRequest::default().with_topics(Some(vec![]));
    let response: kafka_protocol::messages::MetadataResponse =
        wire.call(ApiKey::Metadata, 1, &request)?;
    let address = wire.address().to_string();
    let id = response
        .brokers
        .iter()
        .find(|b| format!("{}:{}", b.host.as_str(), b.port) == address)
        .or_else(|| response.brokers.first())
        .map(|b| b.node_id.0.to_string())
        .ok_or_else(|| CliError::Failed("the broker listed no brokers".into()))?;
    Ok(id)
}

fn alter(
    args: &ConfigsArgs,
    wire: &mut WireClient,
    entity: Entity,
    name: &str,
) -> Result<(), CliError> {
    let mut sets = Vec::new();
    for list in &args.add_config {
        sets.extend(parse_config_list("--add-config", list)?);
    }
    let deletes: Vec<String> = args
        .delete_config
        .iter()
        .flat_map(|list| list.split(','))
        .map(|k| k.trim().to_string())
        .filter(|k| !k.is_empty())
        .collect();
    if sets.is_empty() && deletes.is_empty() {
        return Err(CliError::Usage(
            "--alter needs --add-config or --delete-config".into(),
        ));
    }
    if !deletes.is_empty() {
        // Kafka's tool refuses to delete what is not set, before sending.
        let current = describe_resources(wire, entity, &[name.to_string()])?;
        let set_now: Vec<&str> = current
            .iter()
            .flat_map(|r| r.configs.iter())
            .filter(|c| is_dynamic(entity, c.config_source))
            .map(|c| c.name.as_str())
            .collect();
        let missing: Vec<&str> = deletes
            .iter()
            .map(String::as_str)
            .filter(|k| !set_now.contains(k))
            .collect();
        if !missing.is_empty() {
            return Err(CliError::Failed(format!(
                "Invalid config(s): {} (not set on {} {name})",
                missing.join(","),
                entity.singular()
            )));
        }
    }
    let mut configs: Vec<AlterableConfig> = sets
        .into_iter()
        .map(|(key, value)| {
            AlterableConfig::default()
                .with_name(StrBytes::from_string(key))
                .with_config_operation(OP_SET)
                .with_value(Some(StrBytes::from_string(value)))
        })
        .collect();
    configs.extend(deletes.into_iter().map(|key| {
        AlterableConfig::default()
            .with_name(StrBytes::from_string(key))
            .with_config_operation(OP_DELETE)
            .with_value(None)
    }));
    let request = IncrementalAlterConfigsRequest::default().with_resources(vec![
        AlterConfigsResource::default()
            .with_resource_type(entity.code())
            .with_resource_name(StrBytes::from_string(name.to_string()))
            .with_configs(configs),
    ]);
    let response: IncrementalAlterConfigsResponse = wire.call(
        ApiKey::IncrementalAlterConfigs,
        INCREMENTAL_ALTER_CONFIGS_VERSION,
        &request,
    )?;
    for result in &response.responses {
        if result.error_code != 0 {
            return Err(CliError::Failed(format!(
                "altering {} {name}: {}",
                entity.singular(),
                error_text(result.error_code, result.error_message.as_ref())
            )));
        }
    }
    if entity == Entity::Broker && name.is_empty() {
        println!("Completed updating default config for brokers in the cluster.");
    } else {
        println!(
            "Completed updating config for {} {name}.",
            entity.singular()
        );
    }
    Ok(())
}
