//! librdkafka set-up shared by the modes: configuration from `k=v` pairs,
//! topic creation, partition lists.

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::ClientConfig;

use crate::error::{BenchError, Result};

/// How long metadata and admin calls may take before the run gives up.
pub const METADATA_TIMEOUT: Duration = Duration::from_secs(30);

/// `["acks=all", "linger.ms=5"]` as pairs; a pair without `=` is an error.
pub fn parse_props(pairs: &[String]) -> Result<Vec<(String, String)>> {
    pairs
        .iter()
        .map(|pair| match pair.split_once('=') {
            Some((key, value)) if !key.trim().is_empty() => {
                Ok((key.trim().to_string(), value.trim().to_string()))
            }
            _ => Err(BenchError::Usage(format!(
                "client properties are KEY=VALUE, got {pair:?}"
            ))),
        })
        .collect()
}

/// A librdkafka configuration: the bootstrap address, the harness's
/// defaults, then the user's properties (which win).
pub fn client_config(
    bootstrap: &str,
    defaults: &[(&str, &str)],
    props: &[(String, String)],
) -> ClientConfig {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", bootstrap);
    for (key, value) in defaults {
        config.set(*key, *value);
    }
    for (key, value) in props {
        config.set(key, value);
    }
    config
}

/// librdkafka's consumer needs a group.id even for `assign()`, which never
/// joins the group; a per-process name keeps runs apart.
pub fn assign_only_group_id() -> String {
    format!("sluice-perf-assign-{}", std::process::id())
}

/// Creates `topic` with `partitions` partitions unless it exists. Returns
/// whether it was created.
pub fn ensure_topic(bootstrap: &str, topic: &str, partitions: i32) -> Result<bool> {
    let admin: AdminClient<DefaultClientContext> = client_config(bootstrap, &[], &[])
        .create()
        .map_err(BenchError::kafka("cannot create the admin client"))?;
    let new_topic = NewTopic::new(topic, partitions, TopicReplication::Fixed(1));
    let options = AdminOptions::new().operation_timeout(Some(METADATA_TIMEOUT));
    let results = futures::executor::block_on(admin.create_topics([&new_topic], &options))
        .map_err(BenchError::kafka(format!("cannot create topic {topic}")))?;
    match results.into_iter().next() {
        Some(Ok(_)) => Ok(true),
        Some(Err((_, RDKafkaErrorCode::TopicAlreadyExists))) => Ok(false),
        Some(Err((_, code))) => Err(BenchError::Usage(format!(
            "cannot create topic {topic} with {partitions} partitions: {code}"
        ))),
        None => Err(BenchError::Usage(format!(
            "the broker answered nothing for creating topic {topic}"
        ))),
    }
}

/// The partition ids of `topic`, sorted; an error if it has none.
pub fn partitions_of<C: ConsumerContext>(
    consumer: &BaseConsumer<C>,
    topic: &str,
) -> Result<Vec<i32>> {
    let metadata = consumer
        .fetch_metadata(Some(topic), METADATA_TIMEOUT)
        .map_err(BenchError::kafka(format!(
            "cannot read metadata of {topic}"
        )))?;
    let mut partitions: Vec<i32> = metadata
        .topics()
        .iter()
        .filter(|t| t.name() == topic && t.error().is_none())
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    partitions.sort_unstable();
    if partitions.is_empty() {
        return Err(BenchError::Usage(format!(
            "topic {topic} does not exist (produce to it first, or give --partitions)"
        )));
    }
    Ok(partitions)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn props_are_split_at_the_first_equals_sign() {
        let props = parse_props(&["acks=all".into(), " sasl.jaas= a=b ".into()]).unwrap();
        assert_eq!(
            props,
            vec![
                ("acks".to_string(), "all".to_string()),
                ("sasl.jaas".to_string(), "a=b".to_string())
            ]
        );
        assert!(parse_props(&["acks".into()]).is_err());
        assert!(parse_props(&["=1".into()]).is_err());
    }

    #[test]
    fn user_props_override_the_defaults() {
        let config = client_config(
            "h:1",
            &[("linger.ms", "1")],
            &[("linger.ms".into(), "7".into())],
        );
        assert_eq!(config.get("linger.ms"), Some("7"));
        assert_eq!(config.get("bootstrap.servers"), Some("h:1"));
    }
}
