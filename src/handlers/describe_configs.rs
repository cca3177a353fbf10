//! DescribeConfigs (key 32), v1-4: the configuration of topics (resource
//! type 2) and of this broker (type 4), answered from this shard's copy of
//! the topic table and the broker configuration; no mesh hop.
//!
//! As Kafka's `ConfigHelper` answers:
//! - A topic: every topic config with its effective value; the source and
//!   synonyms say whether the topic overrides it or which broker key (or
//!   default) it comes from. Unknown topic: UNKNOWN_TOPIC_OR_PARTITION;
//!   invalid name: INVALID_TOPIC_EXCEPTION.
//! - A broker named by this broker's id: every broker key. An empty name is
//!   the cluster-wide default, for which Kafka lists only the dynamic
//!   default configs; Sluice has no dynamic configs, so the list is empty.
//!   Another id, or a name that is not a number: INVALID_REQUEST.
//! - Any other resource type (broker loggers, client metrics, groups, ...):
//!   INVALID_REQUEST.
//!
//! `configuration_keys` filters by name (null: all; unknown names are left
//! out, not refused). Synonyms are listed only with `include_synonyms`, but
//! the source is always the first synonym's. `include_documentation` (v3+)
//! is accepted, and documentation is null: Sluice keeps no config docs.
//! Sensitive values are null, as Kafka's.

use std::rc::Rc;

use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use kafka_protocol::messages::{
    ApiKey, DescribeConfigsRequest, DescribeConfigsResponse, RequestHeader,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use super::{encode, HandlerError, Reply};
use crate::broker::shard::ShardState;
use crate::cluster::topics::validate_topic_name;
use crate::config::ConfigEntry;

/// Kafka's `ConfigResource.Type` codes Sluice answers.
const RESOURCE_TOPIC: i8 = 2;
const RESOURCE_BROKER: i8 = 4;

pub async fn handle(
    shard: &Rc<ShardState>,
    header: &RequestHeader,
    version: i16,
    request: DescribeConfigsRequest,
) -> Result<Reply, HandlerError> {
    // `include_documentation` needs nothing: documentation is always null.
    let include_synonyms = request.include_synonyms;
    let results = request
        .resources
        .iter()
        .map(|resource| {
            let answer = match resource.resource_type {
                RESOURCE_TOPIC => topic_entries(shard, resource.resource_name.as_str()),
                RESOURCE_BROKER => broker_entries(shard, resource.resource_name.as_str()),
                other => Err((
                    ResponseError::InvalidRequest,
                    format!("Unsupported resource type: {}", resource_type_name(other)),
                )),
            };
            let result = DescribeConfigsResult::default()
                .with_resource_type(resource.resource_type)
                .with_resource_name(resource.resource_name.clone());
            match answer {
                Ok(entries) => {
                    result.with_configs(resource_configs(entries, resource, include_synonyms))
                }
                Err((error, message)) => {
                    tracing::debug!(
                        resource_type = resource.resource_type,
                        name = %resource.resource_name.as_str(),
                        %message,
                        "describe configs refused"
                    );
                    result
                        .with_error_code(error.code())
                        .with_error_message(Some(StrBytes::from_string(message)))
                }
            }
        })
        .collect();
    let response = DescribeConfigsResponse::default().with_results(results);
    encode(
        ApiKey::DescribeConfigs,
        version,
        header.correlation_id,
        &response,
    )
}

type Refusal = (ResponseError, String);

fn topic_entries(shard: &ShardState, name: &str) -> Result<Vec<ConfigEntry>, Refusal> {
    validate_topic_name(name).map_err(|m| (ResponseError::InvalidTopicException, m))?;
    let table = shard.topics();
    let info = table.get(name).ok_or_else(|| {
        (
            ResponseError::UnknownTopicOrPartition,
            "This server does not host this topic-partition.".to_string(),
        )
    })?;
    let config = shard.partitions().topic_config(info);
    Ok(shard.partitions().defaults().describe(&config))
}

fn broker_entries(shard: &ShardState, name: &str) -> Result<Vec<ConfigEntry>, Refusal> {
    let broker_id = shard.config().broker_id;
    match broker_target(name, broker_id)? {
        BrokerTarget::ClusterDefault => Ok(Vec::new()),
        BrokerTarget::ThisBroker => Ok(shard.config().describe()),
    }
}

#[derive(Debug, PartialEq, Eq)]
pub(super) enum BrokerTarget {
    /// The empty name: cluster-wide dynamic defaults (none in Sluice).
    ClusterDefault,
    ThisBroker,
}

/// Which broker configuration a BROKER resource name asks for.
pub(super) fn broker_target(name: &str, broker_id: i32) -> Result<BrokerTarget, Refusal> {
    if name.is_empty() {
        return Ok(BrokerTarget::ClusterDefault);
    }
    let invalid = |message: String| (ResponseError::InvalidRequest, message);
    let id: i32 = name
        .parse()
        .map_err(|_| invalid(format!("Broker id must be an integer, but it is: {name}")))?;
    if id != broker_id {
        return Err(invalid(format!(
            "Unexpected broker id, expected {broker_id} or empty string, but received {name}"
        )));
    }
    Ok(BrokerTarget::ThisBroker)
}

/// Kafka's names of `ConfigResource.Type` codes, for messages.
fn resource_type_name(code: i8) -> String {
    match code {
        8 => "BROKER_LOGGER".to_string(),
        16 => "CLIENT_METRICS".to_string(),
        32 => "GROUP".to_string(),
        other => format!("UNKNOWN ({other})"),
    }
}

/// The answer's entries for one resource: `entries` filtered by the
/// requested keys, with synonyms only when asked for.
fn resource_configs(
    entries: Vec<ConfigEntry>,
    resource: &DescribeConfigsResource,
    include_synonyms: bool,
) -> Vec<DescribeConfigsResourceResult> {
    let wanted = |name: &str| match &resource.configuration_keys {
        None => true,
        Some(keys) => keys.iter().any(|k| k.as_str() == name),
    };
    entries
        .into_iter()
        .filter(|entry| wanted(entry.name))
        .map(|entry| {
            let hide = |value: Option<String>| {
                if entry.sensitive {
                    None
                } else {
                    value.map(StrBytes::from_string)
                }
            };
            let synonyms = if include_synonyms {
                entry
                    .synonyms
                    .iter()
                    .map(|s| {
                        DescribeConfigsSynonym::default()
                            .with_name(StrBytes::from_static_str(s.name))
                            .with_value(hide(s.value.clone()))
                            .with_source(s.source.code())
                    })
                    .collect()
            } else {
                Vec::new()
            };
            DescribeConfigsResourceResult::default()
                .with_name(StrBytes::from_static_str(entry.name))
                .with_value(hide(entry.value.clone()))
                .with_read_only(entry.read_only)
                .with_config_source(entry.source.code())
                .with_is_sensitive(entry.sensitive)
                .with_synonyms(synonyms)
                .with_config_type(entry.config_type.code())
                // Sluice keeps no config documentation; null is what Kafka
                // sends for a key without any.
                .with_documentation(None)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ConfigSource, ConfigSynonym, ConfigType};

    fn entry(name: &'static str, value: &str, sensitive: bool) -> ConfigEntry {
        ConfigEntry {
            name,
            value: Some(value.to_string()),
            source: ConfigSource::StaticBrokerConfig,
            config_type: ConfigType::Long,
            sensitive,
            read_only: true,
            synonyms: vec![
                ConfigSynonym {
                    name,
                    value: Some(value.to_string()),
                    source: ConfigSource::StaticBrokerConfig,
                },
                ConfigSynonym {
                    name: "fallback",
                    value: Some("1".to_string()),
                    source: ConfigSource::DefaultConfig,
                },
            ],
        }
    }

    fn entries() -> Vec<ConfigEntry> {
        vec![
            entry("a.ms", "10", false),
            entry("b.bytes", "20", false),
            entry("secret", "pw", true),
        ]
    }

    fn resource(keys: Option<&[&'static str]>) -> DescribeConfigsResource {
        DescribeConfigsResource::default()
            .with_resource_type(RESOURCE_BROKER)
            .with_resource_name(StrBytes::from_static_str("0"))
            .with_configuration_keys(
                keys.map(|k| k.iter().map(|n| StrBytes::from_static_str(n)).collect()),
            )
    }

    const WITH_SYNONYMS: bool = true;

    fn names(results: &[DescribeConfigsResourceResult]) -> Vec<&str> {
        results.iter().map(|r| r.name.as_str()).collect()
    }

    #[test]
    fn null_keys_list_everything_and_keys_filter() {
        let all = resource_configs(entries(), &resource(None), WITH_SYNONYMS);
        assert_eq!(names(&all), ["a.ms", "b.bytes", "secret"]);
        let some = resource_configs(
            entries(),
            &resource(Some(&["b.bytes", "nope"])),
            WITH_SYNONYMS,
        );
        assert_eq!(names(&some), ["b.bytes"]);
        let none = resource_configs(entries(), &resource(Some(&[])), WITH_SYNONYMS);
        assert!(none.is_empty());
    }

    #[test]
    fn synonyms_only_when_asked_and_source_kept() {
        let with = resource_configs(entries(), &resource(Some(&["a.ms"])), WITH_SYNONYMS);
        let a = &with[0];
        assert_eq!(a.value.as_ref().map(|v| v.as_str()), Some("10"));
        assert_eq!(a.config_source, ConfigSource::StaticBrokerConfig.code());
        assert_eq!(a.config_type, ConfigType::Long.code());
        assert!(a.read_only && !a.is_sensitive);
        let synonyms: Vec<(&str, i8)> = a
            .synonyms
            .iter()
            .map(|s| (s.name.as_str(), s.source))
            .collect();
        assert_eq!(synonyms, [("a.ms", 4), ("fallback", 5)]);
        assert_eq!(a.documentation, None);

        let without = resource_configs(entries(), &resource(Some(&["a.ms"])), false);
        assert!(without[0].synonyms.is_empty());
        assert_eq!(without[0].config_source, 4);
    }

    #[test]
    fn sensitive_values_are_null() {
        let results = resource_configs(entries(), &resource(Some(&["secret"])), WITH_SYNONYMS);
        assert!(results[0].is_sensitive);
        assert_eq!(results[0].value, None);
        assert!(results[0].synonyms.iter().all(|s| s.value.is_none()));
    }

    #[test]
    fn broker_names_follow_kafka() {
        assert_eq!(broker_target("", 3), Ok(BrokerTarget::ClusterDefault));
        assert_eq!(broker_target("3", 3), Ok(BrokerTarget::ThisBroker));
        let (error, message) = broker_target("4", 3).unwrap_err();
        assert_eq!(error, ResponseError::InvalidRequest);
        assert_eq!(
            message,
            "Unexpected broker id, expected 3 or empty string, but received 4"
        );
        let (error, message) = broker_target("x", 3).unwrap_err();
        assert_eq!(error, ResponseError::InvalidRequest);
        assert_eq!(message, "Broker id must be an integer, but it is: x");
    }

    #[test]
    fn topic_config_sources_reach_the_answer() {
        let (broker, _) =
            crate::config::BrokerConfig::from_pairs([("log.segment.bytes", "1048576")]).unwrap();
        let defaults = broker.topic_defaults();
        let topic = defaults
            .with_overrides([("retention.bytes", "1000")])
            .unwrap();
        let results = resource_configs(
            defaults.describe(&topic),
            &DescribeConfigsResource::default()
                .with_resource_type(RESOURCE_TOPIC)
                .with_configuration_keys(Some(vec![
                    StrBytes::from_static_str("retention.bytes"),
                    StrBytes::from_static_str("segment.bytes"),
                    StrBytes::from_static_str("cleanup.policy"),
                ])),
            WITH_SYNONYMS,
        );
        let by_name = |n: &str| results.iter().find(|r| r.name.as_str() == n).unwrap();
        assert_eq!(
            by_name("retention.bytes").config_source,
            ConfigSource::DynamicTopicConfig.code()
        );
        assert_eq!(
            by_name("segment.bytes").config_source,
            ConfigSource::StaticBrokerConfig.code()
        );
        assert_eq!(
            by_name("segment.bytes").synonyms[0].name.as_str(),
            "log.segment.bytes"
        );
        assert_eq!(
            by_name("cleanup.policy").config_source,
            ConfigSource::DefaultConfig.code()
        );
        assert!(by_name("cleanup.policy").synonyms.is_empty());
    }
}
