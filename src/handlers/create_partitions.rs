//! CreatePartitions (key 37), v0-3: grow a topic to `count` partitions (the
//! new total), optionally with `assignments` (one replica list per added
//! partition, which on a single node may only name this broker), or only
//! check with `validate_only`. Grown on the control shard, which opens the
//! new partitions on their owning shards before the answer; `timeout_ms` is
//! therefore not used.
//!
//! The checks and their messages follow Kafka's controller, in its order:
//! a topic named twice, then the count against the partitions the topic has,
//! then the assignments. The control shard checks the count again against
//! the table it changes, so a concurrent change cannot slip through.

use std::collections::HashMap;
use std::rc::Rc;

use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::{
    ApiKey, CreatePartitionsRequest, CreatePartitionsResponse, RequestHeader,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use super::{encode, HandlerError, Reply};
use crate::broker::frontend;
use crate::broker::messages::{ControlRequest, ControlResponse, PartitionGrowth};
use crate::broker::shard::ShardState;

type Refusal = (ResponseError, String);

pub async fn handle(
    shard: &Rc<ShardState>,
    header: &RequestHeader,
    version: i16,
    request: CreatePartitionsRequest,
) -> Result<Reply, HandlerError> {
    let routing = shard.routing();
    let table = routing.topics();
    let brokers: Vec<i32> = match routing.cluster() {
        Some(view) => view.brokers.keys().copied().collect(),
        None => vec![shard.config().broker_id],
    };
    let mut times_named: HashMap<&str, usize> = HashMap::new();
    for topic in &request.topics {
        *times_named.entry(topic.name.as_str()).or_default() += 1;
    }

    // One row per distinct topic name, in request order.
    let mut rows: Vec<(&CreatePartitionsTopic, Option<Refusal>)> = Vec::new();
    for topic in &request.topics {
        if rows.iter().any(|(t, _)| t.name == topic.name) {
            continue;
        }
        let refusal = if times_named[topic.name.as_str()] > 1 {
            Some((
                ResponseError::InvalidRequest,
                "Duplicate topic name.".to_string(),
            ))
        } else {
            // An unknown topic is left to the control shard, which refuses it.
            table
                .get(topic.name.as_str())
                .and_then(|info| check(topic, info.partitions, &brokers).err())
        };
        rows.push((topic, refusal));
    }

    let changes: Vec<PartitionGrowth> = rows
        .iter()
        .filter(|(_, refusal)| refusal.is_none())
        .map(|(topic, _)| {
            let manual = topic.assignments.as_ref().map(|assignments| {
                assignments
                    .iter()
                    .map(|a| a.broker_ids.iter().map(|b| b.0).collect())
                    .collect()
            });
            PartitionGrowth {
                topic: topic.name.as_str().to_string(),
                count: topic.count,
                assignments: manual,
            }
        })
        .collect();
    let mut outcomes = if changes.is_empty() {
        Vec::new().into_iter()
    } else {
        match frontend::control::call(
            shard,
            ControlRequest::CreatePartitions {
                changes,
                validate_only: request.validate_only,
            },
        )
        .await
        {
            Ok(ControlResponse::PartitionsCreated(outcomes)) => outcomes.into_iter(),
            Ok(_) => {
                tracing::error!("unexpected control answer to CreatePartitions");
                Vec::new().into_iter()
            }
            Err(error) => {
                tracing::error!(%error, "CreatePartitions: control shard unreachable");
                Vec::new().into_iter()
            }
        }
    };

    let mut results = Vec::with_capacity(rows.len());
    for (topic, refusal) in rows {
        let error = match refusal {
            Some(refusal) => Some(refusal),
            None => match outcomes.next() {
                Some(outcome) => outcome.error,
                None => Some((
                    ResponseError::UnknownServerError,
                    "the control shard did not answer".to_string(),
                )),
            },
        };
        let mut result = CreatePartitionsTopicResult::default().with_name(topic.name.clone());
        if let Some((error, message)) = error {
            tracing::debug!(topic = %topic.name.as_str(), %message, "partitions not created");
            result = result
                .with_error_code(error.code())
                .with_error_message(Some(StrBytes::from_string(message)));
        }
        results.push(result);
    }
    let response = CreatePartitionsResponse::default().with_results(results);
    encode(
        ApiKey::CreatePartitions,
        version,
        header.correlation_id,
        &response,
    )
}

/// Checks a request to grow a topic that has `current` partitions, with
/// Kafka's messages. Single node: every replica list must be exactly this
/// broker.
fn check(topic: &CreatePartitionsTopic, current: i32, brokers: &[i32]) -> Result<(), Refusal> {
    let count = topic.count;
    if count == current {
        return Err((
            ResponseError::InvalidPartitions,
            format!("Topic already has {current} partition(s)."),
        ));
    }
    if count < current {
        return Err((
            ResponseError::InvalidPartitions,
            format!(
                "The topic {} currently has {current} partition(s); {count} would not be an increase.",
                topic.name.as_str()
            ),
        ));
    }
    let Some(assignments) = &topic.assignments else {
        return Ok(());
    };
    let invalid = |message: String| Err((ResponseError::InvalidReplicaAssignment, message));
    let added = i64::from(count) - i64::from(current);
    if assignments.len() as i64 != added {
        return invalid(format!(
            "Attempted to add {added} additional partition(s), but only {} assignment(s) were specified.",
            assignments.len()
        ));
    }
    for assignment in assignments {
        let replicas: Vec<i32> = assignment.broker_ids.iter().map(|b| b.0).collect();
        if replicas.is_empty() {
            return invalid(
                "The manual partition assignment includes an empty replica list.".to_string(),
            );
        }
        for (index, replica) in replicas.iter().enumerate() {
            if replicas[..index].contains(replica) {
                return invalid(format!(
                    "The manual partition assignment includes the broker {replica} more than once."
                ));
            }
        }
        // The embedded node: with no duplicates and only this broker, the
        // list is `[broker_id]`, the replication factor (1) of the existing
        // partitions. A cluster checks the factor when it places them.
        if let Some(unknown) = replicas.iter().find(|b| !brokers.contains(b)) {
            return invalid(format!(
                "The manual partition assignment includes broker {unknown}, but no such broker is registered."
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::create_partitions_request::CreatePartitionsAssignment;
    use kafka_protocol::messages::{BrokerId, TopicName};

    fn topic(count: i32, assignments: Option<Vec<Vec<i32>>>) -> CreatePartitionsTopic {
        CreatePartitionsTopic::default()
            .with_name(TopicName(StrBytes::from_static_str("t")))
            .with_count(count)
            .with_assignments(assignments.map(|lists| {
                lists
                    .into_iter()
                    .map(|ids| {
                        CreatePartitionsAssignment::default()
                            .with_broker_ids(ids.into_iter().map(BrokerId).collect())
                    })
                    .collect()
            }))
    }

    fn refusal(topic: &CreatePartitionsTopic) -> (i16, String) {
        let (error, message) = check(topic, 2, &[0]).unwrap_err();
        (error.code(), message)
    }

    #[test]
    fn growth_without_assignments_is_accepted() {
        assert_eq!(check(&topic(5, None), 2, &[0]), Ok(()));
        assert_eq!(
            check(&topic(4, Some(vec![vec![0], vec![0]])), 2, &[0]),
            Ok(())
        );
    }

    #[test]
    fn counts_that_do_not_grow_are_refused() {
        let partitions = ResponseError::InvalidPartitions.code();
        assert_eq!(
            refusal(&topic(2, None)),
            (partitions, "Topic already has 2 partition(s).".into())
        );
        assert_eq!(
            refusal(&topic(1, Some(vec![vec![7]]))),
            (
                partitions,
                "The topic t currently has 2 partition(s); 1 would not be an increase.".into()
            )
        );
    }

    #[test]
    fn assignments_must_match_and_name_only_this_broker() {
        let assignment = ResponseError::InvalidReplicaAssignment.code();
        assert_eq!(
            refusal(&topic(4, Some(vec![vec![0]]))),
            (
                assignment,
                "Attempted to add 2 additional partition(s), but only 1 assignment(s) were specified."
                    .into()
            )
        );
        assert_eq!(
            refusal(&topic(3, Some(vec![vec![1]]))),
            (
                assignment,
                "The manual partition assignment includes broker 1, but no such broker is registered."
                    .into()
            )
        );
        assert_eq!(
            refusal(&topic(3, Some(vec![vec![]]))),
            (
                assignment,
                "The manual partition assignment includes an empty replica list.".into()
            )
        );
        assert_eq!(
            refusal(&topic(3, Some(vec![vec![0, 0]]))),
            (
                assignment,
                "The manual partition assignment includes the broker 0 more than once.".into()
            )
        );
        assert_eq!(refusal(&topic(3, Some(vec![vec![0, 1]]))).0, assignment);
    }
}
