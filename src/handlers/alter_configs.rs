//! AlterConfigs (key 33), v0-2: replace every config override of a topic
//! (resource type 2) with the given set, or only check it with
//! `validate_only`. Also the part IncrementalAlterConfigs shares: how a
//! resource is routed and answered ([`alter`]).
//!
//! Topics are changed by the control shard, which validates each value
//! (INVALID_CONFIG naming the key), persists the overrides and sends the new
//! topic table to every shard before the answer; the shards apply the change
//! to their open partitions at once (see `PartitionManager::apply`).
//!
//! A broker (type 4, this broker's id or the empty cluster-default name) has
//! no dynamic configs in Sluice: a request that names none succeeds, any
//! named key is refused with INVALID_REQUEST, as Kafka refuses keys that
//! cannot be updated dynamically. Other resource types, an unknown broker
//! id and a resource named twice are INVALID_REQUEST.

use std::collections::HashMap;
use std::rc::Rc;

use kafka_protocol::messages::alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{AlterConfigsRequest, AlterConfigsResponse, ApiKey, RequestHeader};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use super::describe_configs::broker_target;
use super::{encode, HandlerError, Reply};
use crate::broker::config_edit::{ConfigEdit, ConfigOp, Refusal};
use crate::broker::frontend;
use crate::broker::messages::{ControlRequest, ControlResponse};
use crate::broker::shard::ShardState;
use crate::cluster::topics::validate_topic_name;

/// Kafka's `ConfigResource.Type` codes.
const RESOURCE_TOPIC: i8 = 2;
const RESOURCE_BROKER: i8 = 4;

pub async fn handle(
    shard: &Rc<ShardState>,
    header: &RequestHeader,
    version: i16,
    request: AlterConfigsRequest,
) -> Result<Reply, HandlerError> {
    let alterations = request
        .resources
        .iter()
        .map(|resource| Alteration {
            resource_type: resource.resource_type,
            resource_name: resource.resource_name.clone(),
            edit: Ok(ConfigEdit::Replace(
                resource
                    .configs
                    .iter()
                    .map(|c| {
                        (
                            c.name.as_str().to_string(),
                            c.value.as_ref().map(|v| v.as_str().to_string()),
                        )
                    })
                    .collect(),
            )),
        })
        .collect::<Vec<_>>();
    let answers = alter(shard, &alterations, request.validate_only).await;
    let responses = alterations
        .iter()
        .zip(answers)
        .map(|(alteration, refusal)| {
            let mut response = AlterConfigsResourceResponse::default()
                .with_resource_type(alteration.resource_type)
                .with_resource_name(alteration.resource_name.clone());
            if let Some((error, message)) = refusal {
                response = response
                    .with_error_code(error.code())
                    .with_error_message(Some(StrBytes::from_string(message)));
            }
            response
        })
        .collect();
    let response = AlterConfigsResponse::default().with_responses(responses);
    encode(
        ApiKey::AlterConfigs,
        version,
        header.correlation_id,
        &response,
    )
}

/// One resource of an AlterConfigs or IncrementalAlterConfigs request.
pub(super) struct Alteration {
    pub resource_type: i8,
    pub resource_name: StrBytes,
    /// The change, or why the request's own content is refused.
    pub edit: Result<ConfigEdit, Refusal>,
}

/// Alters every resource; one answer each, in order (`None`: done).
pub(super) async fn alter(
    shard: &Rc<ShardState>,
    alterations: &[Alteration],
    validate_only: bool,
) -> Vec<Option<Refusal>> {
    let mut times_named: HashMap<(i8, &str), usize> = HashMap::new();
    for alteration in alterations {
        *times_named
            .entry((alteration.resource_type, alteration.resource_name.as_str()))
            .or_default() += 1;
    }
    let mut answers: Vec<Option<Refusal>> = Vec::with_capacity(alterations.len());
    // Topic changes go to the control shard together; their answers fill
    // these slots.
    let mut topic_slots = Vec::new();
    let mut topic_changes = Vec::new();
    for (slot, alteration) in alterations.iter().enumerate() {
        let name = alteration.resource_name.as_str();
        let edit = match &alteration.edit {
            Err(refusal) => {
                answers.push(Some(refusal.clone()));
                continue;
            }
            Ok(edit) => edit,
        };
        if times_named[&(alteration.resource_type, name)] > 1 {
            answers.push(Some((
                ResponseError::InvalidRequest,
                format!("Error due to duplicate resource name: {name}"),
            )));
            continue;
        }
        let answer = match alteration.resource_type {
            RESOURCE_TOPIC => match validate_topic_name(name) {
                Err(message) => Some((ResponseError::InvalidTopicException, message)),
                Ok(()) => {
                    topic_slots.push(slot);
                    topic_changes.push((name.to_string(), edit.clone()));
                    None
                }
            },
            RESOURCE_BROKER => broker_alteration(shard, name, edit).err(),
            other => Some((
                ResponseError::InvalidRequest,
                format!("Altering configs of resource type {other} is not supported; only topics (2) and brokers (4)"),
            )),
        };
        answers.push(answer);
    }
    if topic_changes.is_empty() {
        return answers;
    }
    let outcomes = match frontend::control::call(
        shard,
        ControlRequest::AlterTopicConfigs {
            changes: topic_changes,
            validate_only,
        },
    )
    .await
    {
        Ok(ControlResponse::TopicConfigsAltered(outcomes)) => outcomes,
        Ok(_) => vec![Err(unanswered("an unexpected answer"))],
        Err(error) => vec![Err(unanswered(&error.to_string()))],
    };
    let mut outcomes = outcomes.into_iter();
    for slot in topic_slots {
        answers[slot] = match outcomes.next() {
            Some(outcome) => outcome.err(),
            None => Some(unanswered("no answer")),
        };
    }
    answers
}

fn unanswered(detail: &str) -> Refusal {
    tracing::error!(%detail, "alter configs: the control shard did not answer");
    (
        ResponseError::UnknownServerError,
        format!("the control shard did not answer: {detail}"),
    )
}

/// Sluice's broker configuration is static: an alteration naming no key is
/// answered as done, any key is refused.
fn broker_alteration(shard: &ShardState, name: &str, edit: &ConfigEdit) -> Result<(), Refusal> {
    broker_target(name, shard.config().broker_id)?;
    let keys: Vec<&str> = match edit {
        ConfigEdit::Replace(configs) => configs.iter().map(|(k, _)| k.as_str()).collect(),
        ConfigEdit::Incremental(ops) => ops
            .iter()
            .map(|op| match op {
                ConfigOp::Set(k, _)
                | ConfigOp::Delete(k)
                | ConfigOp::Append(k, _)
                | ConfigOp::Subtract(k, _) => k.as_str(),
            })
            .collect(),
    };
    if keys.is_empty() {
        return Ok(());
    }
    Err((
        ResponseError::InvalidRequest,
        format!(
            "Cannot update these configs dynamically: Set({}); Sluice's broker configuration is static (server.properties and --override)",
            keys.join(", ")
        ),
    ))
}
