//! FindCoordinator (key 10), v0-6: a group's coordinator is the broker
//! that leads its `__consumer_offsets` partition (this one, on the embedded
//! node); the shard within it is found per request by the handlers, not by
//! the client.
//!
//! - v0-3 ask for one key, v4+ for several (`coordinator_keys`).
//! - Key type 0 (group): the leader of the group's partition; in a cluster
//!   where `__consumer_offsets` does not exist yet it is created (Kafka does
//!   so on the first FindCoordinator) and the answer is
//!   COORDINATOR_NOT_AVAILABLE, which clients retry; so is a partition
//!   without a live leader. Type 1 (transaction):
//!   COORDINATOR_NOT_AVAILABLE, since there is no transaction coordinator
//!   (InitProducerId refuses transactional ids). Other types (2, share
//!   groups): INVALID_REQUEST.

use std::rc::Rc;

use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{
    ApiKey, BrokerId, FindCoordinatorRequest, FindCoordinatorResponse, RequestHeader,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use super::group_support::str_bytes;
use super::{encode, HandlerError, Reply};
use crate::broker::frontend;
use crate::broker::messages::{ControlRequest, ControlResponse};
use crate::broker::shard::ShardState;
use crate::cluster::TopicPartition;
use crate::coordinator::{partition_for, OFFSETS_TOPIC};

const KEY_TYPE_GROUP: i8 = 0;
const KEY_TYPE_TRANSACTION: i8 = 1;

fn lookup(shard: &ShardState, key: &StrBytes, key_type: i8) -> Coordinator {
    let coordinator = Coordinator::default().with_key(key.clone());
    let refuse = |c: Coordinator, error: ResponseError, message: &str| {
        c.with_error_code(error.code())
            .with_error_message(Some(str_bytes(message)))
            .with_node_id(BrokerId(-1))
            .with_host(StrBytes::default())
            .with_port(-1)
    };
    match key_type {
        KEY_TYPE_GROUP => {
            let routing = shard.routing();
            let Some(view) = routing.cluster() else {
                return coordinator
                    .with_node_id(BrokerId(shard.config().broker_id))
                    .with_host(str_bytes(shard.advertised().host.clone()))
                    .with_port(i32::from(shard.advertised().port));
            };
            let partition = partition_for(key.as_str(), shard.groups().settings.partitions);
            let leader = view
                .leader_of(&TopicPartition::new(OFFSETS_TOPIC.into(), partition))
                .and_then(|id| view.brokers.get(&id));
            match leader {
                Some(broker) => coordinator
                    .with_node_id(BrokerId(broker.id))
                    .with_host(str_bytes(broker.host.clone()))
                    .with_port(i32::from(broker.port)),
                None => refuse(
                    coordinator,
                    ResponseError::CoordinatorNotAvailable,
                    "The coordinator is not available.",
                ),
            }
        }
        KEY_TYPE_TRANSACTION => refuse(
            coordinator,
            ResponseError::CoordinatorNotAvailable,
            "transactions are not supported by this broker",
        ),
        _ => refuse(
            coordinator,
            ResponseError::InvalidRequest,
            "unsupported coordinator key type",
        ),
    }
}

/// Whether a minute has passed since this shard last warned that the
/// offsets topic could not be created.
fn creation_warning_due() -> bool {
    thread_local! {
        static LAST_WARNING_MS: std::cell::Cell<i64> = const { std::cell::Cell::new(i64::MIN) };
    }
    let now = crate::clock::now_ms();
    LAST_WARNING_MS.with(|last| {
        let due = now.saturating_sub(last.get()) >= 60_000;
        if due {
            last.set(now);
        }
        due
    })
}

pub async fn handle(
    shard: &Rc<ShardState>,
    header: &RequestHeader,
    version: i16,
    request: FindCoordinatorRequest,
) -> Result<Reply, HandlerError> {
    if request.key_type == KEY_TYPE_GROUP
        && shard.is_clustered()
        && shard.topics().get(OFFSETS_TOPIC).is_none()
    {
        match frontend::control::call(shard, ControlRequest::EnsureOffsetsTopic).await {
            Ok(ControlResponse::TopicsCreated(outcomes)) => {
                // Kafka refuses the topic while fewer brokers are alive than
                // offsets.topic.replication.factor; the client keeps getting
                // COORDINATOR_NOT_AVAILABLE and retries, so say why (once
                // a minute: every client retries every second).
                for outcome in outcomes {
                    if let Some((error, message)) = &outcome.error {
                        // Another broker's FindCoordinator created it first.
                        if *error != ResponseError::TopicAlreadyExists && creation_warning_due() {
                            tracing::warn!(%message, "cannot create {OFFSETS_TOPIC} yet: groups have no coordinator");
                        }
                    }
                }
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "creating {OFFSETS_TOPIC}"),
        }
    }
    let mut response = FindCoordinatorResponse::default();
    if version >= 4 {
        response.coordinators = request
            .coordinator_keys
            .iter()
            .map(|key| lookup(shard, key, request.key_type))
            .collect();
    } else {
        let found = lookup(shard, &request.key, request.key_type);
        response.error_code = found.error_code;
        response.error_message = if version >= 1 {
            found.error_message
        } else {
            None
        };
        response.node_id = found.node_id;
        response.host = found.host;
        response.port = found.port;
    }
    encode(
        ApiKey::FindCoordinator,
        version,
        header.correlation_id,
        &response,
    )
}
